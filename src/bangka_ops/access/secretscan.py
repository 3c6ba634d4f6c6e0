"""The repository's own secret check (pre-commit hook and CI step, beside detect-secrets):

* an inventory vault file (``vault*.yml``, ``*.vault``) that is not ansible-vault encrypted;
* a ``vault_`` variable given a plain value anywhere in YAML (it belongs in an encrypted vault
  file, or as an inline ``!vault`` value);
* a private key (``-----BEGIN ... PRIVATE KEY-----``) in any file.

Each finding names the file and the line. ``python -m bangka_ops.access.secretscan FILE...``
exits 1 when anything is found."""

from __future__ import annotations

import re
import sys
from pathlib import Path

VAULT_HEADER = b"$ANSIBLE_VAULT;"
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
VAULT_KEY = re.compile(r"^\s*-?\s*(vault_[A-Za-z0-9_]+)\s*:\s*(.*)$")
YAML = (".yml", ".yaml")


def is_vault_file(path: Path) -> bool:
    return path.suffix == ".vault" or (
        path.suffix in YAML and path.name.startswith("vault") and "inventories" in path.parts
    )


def findings(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [f"{path}: cannot read: {exc.strerror}"]
    found = []
    if is_vault_file(path) and not data.startswith(VAULT_HEADER):
        found.append(f"{path}:1: a vault file that is not encrypted (ansible-vault encrypt it)")
    for key in PRIVATE_KEY.finditer(data):
        line = data.count(b"\n", 0, key.start()) + 1
        found.append(f"{path}:{line}: a private key")
    if path.suffix in YAML and not data.startswith(VAULT_HEADER):
        for number, text in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            match = VAULT_KEY.match(text)
            if match and not match.group(2).startswith("!vault"):
                found.append(
                    f"{path}:{number}: {match.group(1)} has a plain value "
                    "(keep it in an encrypted vault file)"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    problems = [f for path in paths if path.is_file() for f in findings(path)]
    for problem in problems:
        print(f"secretscan: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
