"""manifests.py reads the manifests the gate found with Borg's own code (Debian's Python), real
repository, real key: every archive each transaction's manifest listed; a wrong passphrase or
bad input is an error naming why, never an empty answer."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from bangka_ops.backup import manifests, segments
from tests.conftest import BorgSetup
from tests.integration.backup.admin_helpers import backups

pytestmark = pytest.mark.borg


def decode(setup: BorgSetup, request: Any, passphrase: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/usr/bin/python3", "-Es", manifests.__file__],
        input=request if isinstance(request, str) else json.dumps(request),
        env={
            "BORG_PASSPHRASE": passphrase,
            "BORG_BASE_DIR": str(setup.root / "admin-base"),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_each_transaction_s_manifest_lists_the_archives_of_its_time(borg_setup: BorgSetup) -> None:
    start = segments.current_mark(borg_setup.repo)
    names = backups(borg_setup, 2)
    scan = segments.scan(borg_setup.repo, start).as_dict()
    request = {
        "key": scan["key_blob"],
        "repository_id": scan["repository_id"],
        "manifests": [m["data"] for m in scan["manifests"]],
    }
    proc = decode(borg_setup, request, borg_setup.passphrase)
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)["manifests"]
    assert [sorted(m) for m in listed] == [[names[0]], sorted(names)]
    ids = {
        a["name"]: a["id"]
        for a in json.loads(borg_setup.borg("list", "--json", str(borg_setup.repo)).stdout)[
            "archives"
        ]
    }
    assert listed[-1] == ids

    wrong = decode(borg_setup, request, "not-the-passphrase")
    assert wrong.returncode == 2 and "PassphraseWrong" in wrong.stderr
    assert wrong.stdout == ""
    for bad in ("[]", "not json", {"manifests": ["x"]}):
        refused = decode(borg_setup, bad, borg_setup.passphrase)
        assert refused.returncode == 64, refused.stderr


def test_a_manifest_that_is_not_base64_is_an_error(borg_setup: BorgSetup) -> None:
    scan = segments.scan(borg_setup.repo, None).as_dict()
    request = {"key": scan["key_blob"], "repository_id": scan["repository_id"], "manifests": ["%%"]}
    proc = decode(borg_setup, request, borg_setup.passphrase)
    assert proc.returncode == 2 and proc.stderr.startswith("bangka-backup-manifests:")
