"""Any file a person or a broken editor can produce gets a clear diagnostic, never a crash."""

from __future__ import annotations

import random

import pytest

from bangka_ops.agenda import yamlload


def problems(text: bytes) -> list[str]:
    return [str(p) for p in yamlload.parse(text, "events/x.yaml").problems]


def test_a_syntax_error_names_its_line() -> None:
    (problem,) = problems(b"id: a\ntitle: Rapat\nstart: [2026-12-10\nend: x\n")
    assert problem.startswith("events/x.yaml:4: galat/error: YAML syntax:")


def test_a_tab_indent_is_a_syntax_error_with_its_line() -> None:
    (problem,) = problems(b"id: a\nhistory:\n\t- status: diajukan\n")
    assert problem.startswith("events/x.yaml:3:")


def test_a_key_given_twice_is_refused_naming_both_lines() -> None:
    (problem,) = problems(b"id: a\ntitle: Rapat\nid: b\n")
    assert problem == "events/x.yaml:3: galat/error: id: given twice (first on line 1)"


def test_anchors_and_aliases_are_refused() -> None:
    bomb = b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n'
    found = problems(bomb)
    assert found and all("anchors and aliases" in p for p in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", "events/x.yaml:1: galat/error: the file is empty"),
        (b"id: a\n\xff\xfe\n", "events/x.yaml:2: galat/error: not UTF-8 text (byte 6)"),
        (b"id: a\x00\n", "events/x.yaml:1: galat/error: contains a NUL byte"),
        (b"id: a\n---\nid: b\n", "events/x.yaml:2: galat/error: YAML syntax:"),
        (b"? [a, b]\n: c\n", "events/x.yaml:1: galat/error: keys must be plain text"),
        (b"1: a\n", "events/x.yaml:1: galat/error: keys must be plain text"),
    ],
)
def test_unusable_files_are_named(text: bytes, expected: str) -> None:
    (problem,) = problems(text)
    assert problem.startswith(expected)


def test_a_file_too_large_is_refused() -> None:
    (problem,) = problems(b"a: " + b"x" * (yamlload.MAX_BYTES + 1))
    assert "larger than 256 KiB" in problem


def test_times_stay_text_and_lines_are_known() -> None:
    doc = yamlload.parse(b"id: a\nstart: 2026-12-10T09:00:00\nhistory:\n  - at: 2026-01-01\n", "f")
    assert doc.data == {
        "id": "a",
        "start": "2026-12-10T09:00:00",
        "history": [{"at": "2026-01-01"}],
    }
    assert doc.line("start") == 2
    assert doc.line("history[0].at") == 4
    assert doc.line("history[0].nothing") == 4  # the nearest known parent


def test_random_bytes_and_mangled_events_never_raise() -> None:
    rng = random.Random(5)  # noqa: S311 (test data)
    good = (
        b"id: 2026-12-10-rapat\ntitle: Rapat Koordinasi\nhistory:\n"
        b"  - {status: diajukan, by: rina, at: '2026-11-20T08:00:00+07:00'}\n"
    )
    for _ in range(3000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(len(data))
            data[position] = rng.randrange(256)
        doc = yamlload.parse(bytes(data), "f")
        assert doc.problems or doc.data is not None
    for _ in range(300):
        doc = yamlload.parse(bytes(rng.randrange(256) for _ in range(rng.randint(1, 400))), "f")
        assert doc.problems or doc.data is not None
