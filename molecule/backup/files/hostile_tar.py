#!/usr/bin/python3
"""A compromised agent's ``tar`` (installed as /usr/local/bin/tar by molecule/backup's verify):
whatever the collection asks it to pack, it writes the package an attacker with root on the
agent would send. The attack is chosen by /root/hostile-mode:

- ``symlink``: ``records/evil`` is a symbolic link to the admin host's directory named in
  /root/hostile-target (the first half of "symlink, then a file through it");
- ``through``: ``records/evil/owned.json``, a plain file (the second half);
- ``links``: a hard link to /etc/shadow, a device, ``..`` and absolute names, an audit chunk
  named ``../../x``, next to a legitimate record;
- ``forge``: a well-formed package whose only record is agent-web's newest one rewritten to
  say ``agent-db ... success``.

Only for tests: it never runs outside the Molecule test hosts."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path


def member(tar: tarfile.TarFile, name: str, data: bytes = b"{}\n", **attrs: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def main() -> int:
    out = sys.argv[sys.argv.index("-czf") + 1]
    mode = Path("/root/hostile-mode").read_text().strip()
    with tarfile.open(out, "w:gz") as tar:
        if mode == "symlink":
            target = Path("/root/hostile-target").read_text().strip()
            member(tar, "records/evil", type=tarfile.SYMTYPE, linkname=target)
        elif mode == "through":
            member(tar, "records/evil/owned.json", b'{"owned": true}\n')
        elif mode == "links":
            member(tar, "records/dokumen/fine.json")
            member(tar, "records/dokumen/shadow.json", type=tarfile.LNKTYPE, linkname="/etc/shadow")
            member(tar, "records/dokumen/null.json", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
            member(tar, "../../escaped.json")
            member(tar, "/etc/cron.d/escaped")
            member(tar, "audit/../../x", b'{"kind": "forged"}\n')
        elif mode == "forge":
            newest = max(
                Path("/var/lib/bangka-backup/records/dokumen").glob("*.json"),
                key=lambda p: p.stat().st_mtime,
            )
            record = json.loads(newest.read_text())
            record["host"] = "agent-db"
            record["archive"] = record["archive"].replace("agent-web", "agent-db")
            record["repository"] = record["repository"].replace("agent-web", "agent-db")
            record["status"] = "success"
            member(
                tar,
                f"records/dokumen/{record['archive']}.json",
                json.dumps(record).encode(),
            )
        else:
            raise SystemExit(f"unknown hostile mode {mode!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
