#!/usr/bin/python3 -Es
"""bangka-backup-manifests: read the repository manifests the gate found, with the admin's key.

Run by ``bangka-backup-maintenance`` with the Python that has Debian's ``borgbackup`` (default
``/usr/bin/python3``; the admin host's tools are standard library only, and this is the one
place that uses Borg's own code, to decrypt exactly as Borg does). Input on stdin, JSON:
``{"key": <the repository's encrypted key from its config>, "repository_id": <hex>,
"manifests": [<base64>, ...]}``;
the passphrase comes the usual way (``BORG_PASSCOMMAND``). Output on stdout, JSON:
``{"manifests": [{<archive name>: <archive id hex>, ...}, ...]}``, one per input, in order.

Why: a client with its key can write a manifest that simply no longer lists an archive (nothing
deleted, so the segment history shows no delete). Every manifest committed since the admin's
mark lists the archives that existed then; an archive listed by one of them and missing now was
hidden. Exit codes: 0 read, 2 not readable (wrong key or passphrase, damaged data), 64 usage.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 2, 64


class KeyOnly:
    """What Borg's repokey loader needs from a repository: the stored key, and a name."""

    class _Location:
        @staticmethod
        def canonical_path() -> str:
            return "repository"

    def __init__(self, blob: str, repository_id: str) -> None:
        self.blob = blob.encode()
        self.id = bytes.fromhex(repository_id)
        self.id_str = repository_id
        self._location = self._Location()

    def load_key(self) -> bytes:
        return self.blob


def text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def read(request: dict[str, Any]) -> list[dict[str, str]]:
    # Only in Debian's Python (this file's interpreter on the hosts), hence here.
    from borg.crypto.key import key_factory  # type: ignore[import-not-found]  # noqa: PLC0415
    from borg.logger import setup_logging  # type: ignore[import-not-found]  # noqa: PLC0415

    setup_logging(level="error")
    key = None
    found = []
    for encoded in request["manifests"]:
        cdata = base64.b64decode(encoded, validate=True)
        if key is None:
            key = key_factory(KeyOnly(str(request["key"]), str(request["repository_id"])), cdata)
        data = key.decrypt(None, cdata)
        manifest, _ = key.unpack_and_verify_manifest(data, force_tam_not_required=True)
        archives = manifest.get(b"archives", manifest.get("archives", {}))
        listed = {}
        for name, entry in archives.items():
            archive_id = entry.get(b"id", entry.get("id"))
            listed[text(name)] = bytes(archive_id).hex()
        found.append(listed)
    return found


def main() -> int:
    try:
        request = json.load(sys.stdin)
        if not isinstance(request, dict) or not isinstance(request.get("manifests"), list):
            raise ValueError("expected {'key': ..., 'manifests': [...]}")
        if request["manifests"] and not isinstance(request.get("key"), str):
            raise ValueError("no repository key given")
    except ValueError as exc:
        print(f"bangka-backup-manifests: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        found = read(request)
    except (ImportError, binascii.Error) as exc:
        print(f"bangka-backup-manifests: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # Borg's own errors: wrong key or passphrase, damaged data
        print(f"bangka-backup-manifests: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    json.dump({"manifests": found}, sys.stdout)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
