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


NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def test_the_capacity_forecast_of_each_collected_repository(tmp_path: Path) -> None:
    """Sizes from the collection's records (named by their directory, never by the record's
    host), growth and days until the quota the inventory gives is full."""
    inv = inventory.load(REPO_ROOT / "inventories" / "production")
    host = next(h for h in inv.hosts if h.name == "fs01.bangka.go.id")
    host.variables["borg_agent_storage_quota"] = "40G"
    folder = tmp_path / host.name / "records" / "dokumen"
    folder.mkdir(parents=True)
    for day in range(10):
        start = (NOW - dt.timedelta(days=9 - day, hours=2)).isoformat()
        record = run_record(host.name, start, 10 * 10**9 + day * 10**9)
        (folder / f"r{day}.json").write_text(json.dumps(record))
    failed = run_record(host.name, NOW.isoformat(), 1, status="failed")
    failed.pop("borg")
    (folder / "failed.json").write_text(json.dumps(failed))
    (folder / "broken.json").write_text("{not json")
    # A record in another host's directory that claims to be fs01 is not fs01's size.
    liar = tmp_path / "db01.bangka.go.id" / "records" / "basisdata"
    liar.mkdir(parents=True)
    (liar / "x.json").write_text(json.dumps(run_record(host.name, NOW.isoformat(), 999)))
    found = sizes.forecasts(tmp_path, inv.hosts, NOW)
    fs01 = found[host.name]
    assert fs01.size_bytes == 19 * 10**9 and fs01.growth_bytes_per_day == pytest.approx(10**9)
    assert fs01.quota_bytes == 40 * 10**9
    assert fs01.days_until_quota_full == pytest.approx(21 - 2 / 24, abs=0.01)
    assert found["db01.bangka.go.id"].size_bytes is None  # no size of its own
    assert sizes.human(4 * 2**30) == "4.0 GiB" and sizes.human(512) == "512 B"
    assert sizes.forecasts(None, inv.hosts) == {}
    page = pages.inventory_page("en", inv, found, records_given=True)
    assert (
        f"| `{host.name}` | 17.7 GiB | 2026-11-30T10:00+00:00 | 953.7 MiB | 40G | 21 |  |  | "
        "warning: quota full in 21 day(s) (threshold 30) |" in page
    )


@pytest.mark.parametrize("lang", pages.LANGS)
def test_an_inventory_page_says_no_data_without_records(lang: str) -> None:
    inv = inventory.load(REPO_ROOT / "inventories" / "production")
    without = pages.inventory_page(lang, inv, {}, records_given=False)
    assert without.count("belum ada data" if lang == "id" else "no data yet") == len(
        [h for h in inv.hosts if h.is_agent]
    )
    for policy in inv.policies():
        assert f"| `{policy.host}` | `{policy.name}` |" in without
    assert "`group_vars/all/vault.yml`" in without  # named as skipped


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
