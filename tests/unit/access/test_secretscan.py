"""The repository's secret check: what it rejects, what it lets through, and this repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bangka_ops.access import secretscan
from tests.conftest import REPO_ROOT

PRIVATE = (
    "-----BEGIN OPENSSH "
    + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----\n"
)


def test_plain_vault_values_unencrypted_vault_files_and_private_keys_are_named(
    tmp_path: Path,
) -> None:
    vault = tmp_path / "inventories" / "production" / "group_vars" / "all" / "vault.yml"
    vault.parent.mkdir(parents=True)
    vault.write_text("---\nvault_borg_passphrases:\n  fs01: rahasia\n")
    plain = tmp_path / "vars.yml"
    plain.write_text("---\nok: 1\nvault_token: abc\nvault_inline: !vault |\n  $ANSIBLE_VAULT;1.1\n")
    key = tmp_path / "notes.txt"
    key.write_text("kunci lama:\n" + PRIVATE)
    found = [f for p in (vault, plain, key) for f in secretscan.findings(p)]
    assert found == [
        f"{vault}:1: a vault file that is not encrypted (ansible-vault encrypt it)",
        f"{vault}:2: vault_borg_passphrases has a plain value (keep it in an encrypted vault file)",
        f"{plain}:3: vault_token has a plain value (keep it in an encrypted vault file)",
        f"{key}:2: a private key",
    ]
    encrypted = tmp_path / "inventories" / "staging" / "vault.yml"
    encrypted.parent.mkdir(parents=True)
    encrypted.write_bytes(b"$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    assert secretscan.findings(encrypted) == []
    assert secretscan.main([str(plain)]) == 1 and secretscan.main([str(encrypted)]) == 0


def test_this_repository_is_clean() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    ).stdout.split()
    files = [str(REPO_ROOT / name) for name in tracked]
    assert secretscan.main(files) == 0
    hook = Path(sys.executable).parent / "detect-secrets-hook"
    proc = subprocess.run(
        [str(hook), "--baseline", ".secrets.baseline", *tracked],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
