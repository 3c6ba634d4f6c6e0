"""The generated pages: repository sizes from run records, every role option in its table, and
the guides' forms that map to the SOP journal's commands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from bangka_ops.backup import sop
from bangka_ops.handbook import argspecs, inventory, pages, sizes
from tests.conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def run_record(host: str, start: str, stored: int, status: str = "success") -> dict[str, Any]:
    return {
        "kind": "backup_run", "host": host, "policy": "dokumen", "status": status,
        "start": start, "repository": f"ssh://borg@backup01:22/srv/borg/repos/{host}",
        "borg": {"cache": {"stats": {"unique_csize": stored, "unique_size": stored * 2}}},
    }  # fmt: skip


def test_the_newest_successful_run_gives_the_repository_size(tmp_path: Path) -> None:
    folder = tmp_path / "fs01" / "records" / "dokumen"
    folder.mkdir(parents=True)
    records = [
        run_record("fs01", "2026-11-01T22:05:00+07:00", 3 * 2**30),
        run_record("fs01", "2026-11-02T22:05:00+07:00", 4 * 2**30),
        run_record("fs01", "2026-11-03T22:05:00+07:00", 9 * 2**30, status="failed"),
    ]
    for n, record in enumerate(records):
        (folder / f"r{n}.json").write_text(json.dumps(record))
    (folder / "broken.json").write_text("{not json")
    ledger = tmp_path / "db01" / "ledger" / "basisdata"
    ledger.mkdir(parents=True)
    line = {"source": "x.json", "record": run_record("db01", "2026-11-02T01:05:00+07:00", 512)}
    (ledger / "2026-11.jsonl").write_text(json.dumps(line) + "\n")
    measured = sizes.repository_sizes(tmp_path)
    assert measured["fs01"].stored_bytes == 4 * 2**30
    assert measured["fs01"].as_of == dt.datetime.fromisoformat("2026-11-02T22:05:00+07:00")
    assert measured["db01"].stored_bytes == 512
    assert sizes.human(4 * 2**30) == "4.0 GiB" and sizes.human(512) == "512 B"
    assert sizes.repository_sizes(None) == {}


@pytest.mark.parametrize("lang", pages.LANGS)
def test_an_inventory_page_says_no_data_without_records_and_the_size_with_them(
    lang: str, tmp_path: Path
) -> None:
    inv = inventory.load(REPO_ROOT / "inventories" / "production")
    without = pages.inventory_page(lang, inv, {}, records_given=False)
    assert without.count("belum ada data" if lang == "id" else "no data yet") == len(
        [h for h in inv.hosts if h.is_agent]
    )
    start = dt.datetime(2026, 11, 2, 22, 5, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    measured = {
        "fs01.bangka.go.id": sizes.RepositorySize("fs01.bangka.go.id", "repo", 5 * 2**30, start)
    }
    with_sizes = pages.inventory_page(lang, inv, measured, records_given=True)
    assert "| 5.0 GiB | 2026-11-02T22:05+07:00 |" in with_sizes
    for policy in inv.policies():
        assert f"| `{policy.host}` | `{policy.name}` |" in with_sizes
    assert "`group_vars/all/vault.yml`" in with_sizes  # named as skipped


def test_a_table_cell_cannot_break_the_table() -> None:
    assert pages.cell("a | b\nc") == "a \\| b c"
    assert pages.code("x`y") == "``x`y``"


def option_names(options: dict[str, Any], prefix: str) -> list[str]:
    """Every option of an argument spec, sub-options as the tables write them."""
    names = []
    for name, spec in options.items():
        names.append(prefix + name)
        if isinstance(spec.get("options"), dict):
            inner = "[]." if spec.get("type") == "list" else "."
            names += option_names(spec["options"], prefix + name + inner)
    return names


@pytest.mark.parametrize("lang", pages.LANGS)
def test_every_role_option_and_sub_option_is_a_row_of_its_table(lang: str) -> None:
    for spec_file in sorted((REPO_ROOT / "roles").glob("*/meta/argument_specs.yml")):
        options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]["options"]
        page = pages.role_page(lang, argspecs.load(spec_file.parent.parent))
        names = option_names(options, "")
        rows = re.findall(r"^\| `([^`]+)` \|", page, flags=re.MULTILINE)
        assert rows == names, spec_file
    agent = pages.role_page(lang, argspecs.load(REPO_ROOT / "roles" / "borg_agent"))
    assert "| `borg_agent_policies[].window.start` |" in agent
    assert "| `borg_agent_server_port` | int | `22` |" in agent


def command_in(page: Path, name: str) -> list[str]:
    """The shell command of the page's code block that runs ``cekat NAME``, as argv."""
    for block in re.findall(r"```sh\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL):
        text = block.replace("\\\n", " ")
        if text.lstrip().startswith(f"cekat {name}"):
            return shlex.split(text)[1:]
    raise AssertionError(f"{page}: no cekat {name} command")


@pytest.mark.parametrize("lang", pages.LANGS)
def test_the_filled_forms_examples_are_commands_the_journal_accepts(
    lang: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANGKA_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    incident = command_in(DOCS / lang / "laporan-insiden.md", "insiden catat")
    review = command_in(DOCS / lang / "tinjauan-sop.md", "sop tinjau")
    parser = argparse.ArgumentParser()
    sop.add_commands(parser.add_subparsers(dest="command", required=True))
    for argv in (incident, review):
        args = parser.parse_args([*argv, "--dir", str(tmp_path)])
        assert args.func(args) == 0, argv
    entries = sop.read(tmp_path)
    assert [e["id"] for e in entries] == ["INS-2026-001", "SOP-001"]
    assert entries[0]["tingkat"] in sop.SEVERITIES
    assert entries[0]["sistem"] == ["fs01.bangka.go.id", "SI CEKAT"]
    assert entries[1]["insiden_dicakup"] == ["INS-2026-001"]
    # Every field of the form names an option of the command it maps to.
    for page, argv in (("laporan-insiden.md", incident), ("tinjauan-sop.md", review)):
        text = (DOCS / lang / page).read_text(encoding="utf-8")
        for option in (a for a in argv if a.startswith("--")):
            assert f"`{option}`" in text, (page, option)


def test_every_guide_exists_in_both_languages() -> None:
    indonesian = sorted(p.name for p in (DOCS / "id").glob("*.md"))
    english = sorted(p.name for p in (DOCS / "en").glob("*.md"))
    assert indonesian == english
    assert len(indonesian) >= 9


def test_a_removed_role_leaves_no_stale_page_and_the_nav_lists_production_first(
    tmp_path: Path,
) -> None:
    from bangka_ops.handbook import hook  # noqa: PLC0415 (needs MkDocs, the docs extra)

    stale = tmp_path / "id" / "peran" / "peran_lama.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("# old\n")
    pages.generate(tmp_path, REPO_ROOT, None)
    assert not stale.exists()
    nav = [{"Rujukan": [{"Inventaris": "inventaris/index.md"}, {"Peran": "peran/index.md"}]}]
    ((_, sections),) = hook._expand(nav, tmp_path)[0].items()
    environments = ["index", "production", "staging", "local"]
    assert sections[0] == {"Inventaris": [f"inventaris/{e}.md" for e in environments]}
    roles = sorted(
        p.parent.parent.name for p in (REPO_ROOT / "roles").glob("*/meta/argument_specs.yml")
    )
    assert sections[1] == {"Peran": ["peran/index.md", *(f"peran/{r}.md" for r in roles)]}
