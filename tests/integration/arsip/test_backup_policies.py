"""The archive's two Borg policies as the production inventory ships them
(``inventories/production/group_vars/arsip_hosts.yml``), run by the real backup wrapper against
real Borg repositories: the pre-hook ``cekat arsip cadangan`` runs first; ``arsip`` holds the
whole archive and the catalogue's consistent copy and stays on the repository server;
``arsip_vital`` holds exactly the vital records and goes to the off-site repository; the restore
test passes on both, and what comes back from off-site opens and matches the catalogue."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import yaml

from bangka_ops.arsip import catalogue as cat
from bangka_ops.backup import agent_config, restore_test
from tests.conftest import BorgSetup

from .helpers import CONFIG, REPO, archive

pytestmark = pytest.mark.borg

GROUP_VARS = REPO / "inventories" / "production" / "group_vars" / "arsip_hosts.yml"
HOST_ROOT = "/srv/arsip"
HOST_SPOOL = "/var/lib/bangka-arsip/audit/spool.jsonl"
HOST_CEKAT = (
    f"runuser -u bangka-arsip -- env BANGKA_AUDIT_LOG={HOST_SPOOL} /opt/bangka-arsip/venv/bin/cekat"
)


def shipped_policies(root: Path, spool: Path) -> list[dict[str, Any]]:
    """The inventory's policies with the host's paths moved under ``root``, the account's audit
    spool to ``spool``, and the hook run by this Python (no account ``bangka-arsip`` here);
    everything else exactly as shipped."""
    group_vars = yaml.safe_load(GROUP_VARS.read_text())
    hook = group_vars["arsip_backup_hook"]
    assert hook.startswith(HOST_CEKAT) and HOST_ROOT in hook, hook
    hook = hook.replace(
        HOST_CEKAT, f"env BANGKA_AUDIT_LOG={spool} {sys.executable} -m bangka_ops.cli"
    ).replace("/etc/bangka-arsip/arsip.yml", str(CONFIG))
    policies: list[dict[str, Any]] = group_vars["borg_agent_policies"]
    for policy in policies:
        assert policy["pre_hooks"] == ["{{ arsip_backup_hook }}"], policy["name"]
        policy["pre_hooks"] = [hook.replace(HOST_ROOT, str(root))]
        for key in ("sources", "exclude_patterns"):
            policy[key] = [p.replace(HOST_ROOT, str(root)) for p in policy.get(key, [])]
    return policies


def extract(setup: BorgSetup, repo: Path, passphrase: str, archive_name: str, to: Path) -> Path:
    to.mkdir()
    done = subprocess.run(
        ["borg", "extract", f"{repo}::{archive_name}"],
        cwd=to, capture_output=True, text=True, check=False,
        env={"BORG_PASSPHRASE": passphrase, "BORG_BASE_DIR": str(setup.root / "borg-base")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return to


def test_the_archive_policies_back_up_restore_test_and_go_off_site(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    root = tmp_path / "srv-arsip"
    ids = archive(root)
    (root / ".staging").mkdir()
    (root / ".staging" / "setengah.pdf").write_bytes(b"%PDF-1.7 half written")
    offsite_pass = tmp_path / "secrets" / "offsite.pass"
    offsite_pass.write_text("another-independent-passphrase-456\n")
    offsite = tmp_path / "offsite"
    settings = {
        "records_dir": borg_setup.config["records_dir"],
        "state_dir": borg_setup.config["state_dir"],
        "lock_wait_seconds": 2,
        "repository": borg_setup.config["repository"],
        "offsite_repository": {
            "location": str(offsite),
            "passphrase_file": str(offsite_pass),
            "make_parent_dirs": True,
            "base_dir": str(tmp_path / "borg-base"),
        },
    }
    spool = tmp_path / "spool.jsonl"
    borg_setup.config = agent_config.build("arsip01", shipped_policies(root, spool), settings)
    assert sorted(borg_setup.config["policies"]) == ["arsip", "arsip_vital"]
    assert borg_setup.wrapper("init").returncode == 0

    # The whole archive, monthly: stays on the repository server (offsite: false).
    code, whole = borg_setup.run("arsip", "monthly")
    assert code == 0, whole.get("reason")
    assert [h["exit_code"] for h in whole["pre_hooks"]] == [0]
    assert (root / "cadangan" / "katalog.sqlite").is_file()  # the hook ran before Borg
    # Its audit line went to the account's spool (root forwards it after the next job).
    lines = [json.loads(x) for x in spool.read_text().splitlines()]
    assert [(x["action"], x["result"]) for x in lines] == [("cadangan", "ok")]
    assert "offsite" not in whole or whole["offsite"].get("status") != "success"
    listing = set(borg_setup.borg("list", "--short", f"{borg_setup.repo}::{whole['archive']}")
                  .stdout.splitlines())  # fmt: skip
    rel = str(root).lstrip("/")
    assert f"{rel}/{cat.FILE}" in listing and f"{rel}/cadangan/katalog.sqlite" in listing
    with cat.Catalogue(root, readonly=True) as catalogue:
        items = {i["kode"]: i for i in catalogue.items()}
    for item in items.values():
        assert f"{rel}/dokumen/{item['path']}" in listing
    assert not any(".staging" in p or "cadangan/vital" in p for p in listing)

    # The vital records, monthly: also to the off-site repository, under its own key.
    code, vital = borg_setup.run("arsip_vital", "monthly")
    assert code == 0, vital.get("reason")
    assert vital["offsite"]["status"] == "success"
    off_archives = subprocess.run(
        ["borg", "list", "--short", str(offsite)], capture_output=True, text=True, check=True,
        env={"BORG_PASSPHRASE": "another-independent-passphrase-456",
             "BORG_BASE_DIR": str(tmp_path / "borg-base")},
    ).stdout.split()  # fmt: skip
    assert off_archives == [vital["archive"]]  # only the vital policy went off-site

    # Restore tests pass on both policies (every file restored and checked).
    for policy in ("arsip", "arsip_vital"):
        code, tested = restore_test.RestoreTest(borg_setup.config, policy).run(full=True)
        assert code == restore_test.EXIT_PASSED, (policy, tested)
        assert tested["result"]["passed"] is True

    # From off-site: exactly the vital documents, the same bytes the catalogue recorded, each a
    # PDF that opens, and the catalogue copy opens and names them.
    back = extract(
        borg_setup, offsite, "another-independent-passphrase-456", vital["archive"],
        tmp_path / "dari-offsite",
    ) / rel / "cadangan"  # fmt: skip
    docs = back / "vital" / "dokumen"
    restored = {p.relative_to(docs).as_posix() for p in docs.rglob("*.pdf")}
    vital_items = [items["KU.02"], items["KP.03"]]
    assert restored == {p for i in vital_items for p in (i["path"], i["asli"])}
    for item in vital_items:
        data = (docs / item["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"]
        assert data.startswith(b"%PDF-")
        with pikepdf.open(docs / item["path"]) as opened:
            assert len(opened.pages) == item["halaman"]
    copy = sqlite3.connect(back / "katalog.sqlite")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids_in_copy = {row[0] for row in copy.execute("SELECT id FROM item")}
    finally:
        copy.close()
    assert ids_in_copy == set(ids.values())
