"""``protocloud``: the leaders' agenda (PROTOCLOUD). Its commands arrive with the agenda issues;
until then it only reports its version, and says so rather than pretending."""

from __future__ import annotations

import argparse

from bangka_ops import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="protocloud",
        description="PROTOCLOUD - agenda pimpinan / leaders' agenda. "
        "Perintah agenda belum tersedia di versi ini "
        "(agenda commands are not in this version yet).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0
