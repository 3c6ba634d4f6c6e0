"""The folder and file-naming rule: a template such as
``{kode}/{tahun}/{jenis}/{tanggal}_{nomor}_{perihal}.pdf`` and the slug rules that make any
Indonesian text a name that works on Linux, Windows (the staff's share) and cloud drives:

* diacritics folded (``é`` → ``e``), everything else outside ``A-Za-z0-9`` and ``.-`` becomes
  ``-`` (so ``005/123/DISKOMINFO`` → ``005-123-DISKOMINFO``), runs of ``-`` squeezed;
* free text (*perihal*, *asal/tujuan*) in lower case; codes and numbers keep their case;
* no leading or trailing dot, dash or space; Windows' reserved names (``CON``, ``NUL``,
  ``COM1``…) get a trailing ``_``;
* each field cut at a word to ``panjang_isian`` characters, each folder or file name to
  ``panjang_nama``;
* a name already taken gets ``-2``, ``-3`` … before ``.pdf``, in the order items are stored.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

FIELDS = {
    "kode": "the classification code (KP.01.01)",
    "kode_induk": "its main code (KP)",
    "tahun": "the document's year",
    "bulan": "its month (01-12)",
    "tanggal": "its date (YYYY-MM-DD)",
    "jenis": "the document type's key",
    "nomor": "the document's number",
    "perihal": "its subject",
    "unit": "the unit's key",
    "asal_tujuan": "where it came from or went to",
    "keamanan": "its security class",
}
FREE_TEXT = {"perihal", "asal_tujuan"}
WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
SUFFIX = ".pdf"
EVIDENCE_SUFFIX = ".asli.pdf"


class RuleError(ValueError):
    """The naming rule itself is wrong (said at load, with the rule's line)."""


def fold(text: str) -> str:
    """Diacritics removed (NFKD, combining marks dropped): ``Pémda`` → ``Pemda``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def slug(text: str, limit: int, lower: bool) -> str:
    folded = fold(text)
    if lower:
        folded = folded.lower()
    cleaned = re.sub(r"[^A-Za-z0-9.]+", "-", folded)
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-.")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    if len(cleaned) > limit:
        cut = cleaned[:limit]
        at = cut.rfind("-")
        cleaned = (cut[:at] if at >= limit // 2 else cut).strip("-.")
    if cleaned.split(".")[0].upper() in WINDOWS_RESERVED:
        cleaned += "_"
    return cleaned or "tanpa-isi"


@dataclass(frozen=True)
class Rule:
    pattern: str
    field_limit: int = 60
    name_limit: int = 120

    @classmethod
    def parse(cls, pattern: str, field_limit: int = 60, name_limit: int = 120) -> Rule:
        """The rule, or :class:`RuleError` saying what is wrong with the pattern."""
        if not pattern.endswith(SUFFIX):
            raise RuleError(f"the pattern must end in {SUFFIX}: {pattern!r}")
        if pattern.startswith("/") or "\\" in pattern:
            raise RuleError("the pattern is a relative path with '/' between folders")
        parts = pattern.split("/")
        for part in parts:
            if part in ("", ".", ".."):
                raise RuleError(f"empty, '.' or '..' folder in the pattern {pattern!r}")
        try:
            fields = [f for _, f, spec, conv in string.Formatter().parse(pattern) if f is not None]
            specs = [(spec, conv) for _, f, spec, conv in string.Formatter().parse(pattern) if f]
        except ValueError as exc:
            raise RuleError(f"the pattern's braces do not match: {exc}") from None
        unknown = sorted({f for f in fields if f not in FIELDS})
        if unknown:
            known = ", ".join(FIELDS)
            raise RuleError(f"unknown field {{{unknown[0]}}} in the pattern (known: {known})")
        if any(spec or conv for spec, conv in specs):
            raise RuleError(
                "fields in the pattern take no format spec ({tanggal}, not {tanggal:%Y})"
            )
        if not fields:
            raise RuleError("the pattern has no field: every document would get the same name")
        for part in parts:
            literal = re.sub(r"\{[a-z_]+\}", "", part)
            if re.search(r'[<>:"|?*\x00-\x1f]', literal):
                raise RuleError(f"the pattern has characters Windows does not allow: {part!r}")
        return cls(pattern, field_limit, name_limit)

    def render(self, values: dict[str, str]) -> str:
        """The relative path of a document with these metadata (before collisions)."""
        safe = {
            name: slug(values.get(name, ""), self.field_limit, name in FREE_TEXT) for name in FIELDS
        }
        path = self.pattern.format(**safe)
        parts = path.split("/")
        out = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            stem = part[: -len(SUFFIX)] if last else part
            room = self.name_limit - (len(EVIDENCE_SUFFIX) + 4 if last else 0)
            if len(stem) > room:
                stem = stem[:room].rstrip("-._")
            stem = stem.strip(" .") or "tanpa-isi"
            out.append(stem + SUFFIX if last else stem)
        return "/".join(out)


def unique(path: str, taken: Callable[[str], bool]) -> str:
    """``path``, or ``…-2.pdf``, ``…-3.pdf`` … : the first one ``taken`` says is free."""
    if not taken(path):
        return path
    stem = path[: -len(SUFFIX)]
    n = 2
    while taken(f"{stem}-{n}{SUFFIX}"):
        n += 1
    return f"{stem}-{n}{SUFFIX}"


def evidence_path(path: str) -> str:
    """Where the original scan (the evidence copy) lies beside the PDF/A."""
    return path[: -len(SUFFIX)] + EVIDENCE_SUFFIX


def values_of(meta: dict[str, object]) -> dict[str, str]:
    """The naming fields of an item's metadata."""
    when = meta["tanggal"]
    if not isinstance(when, dt.date):
        raise TypeError(f"tanggal must be a date, not {when!r}")
    kode = str(meta["kode"])
    return {
        "kode": kode,
        "kode_induk": kode.split(".", maxsplit=1)[0],
        "tahun": f"{when.year:04d}",
        "bulan": f"{when.month:02d}",
        "tanggal": when.isoformat(),
        "jenis": str(meta["jenis"]),
        "nomor": str(meta.get("nomor") or ""),
        "perihal": str(meta.get("perihal") or ""),
        "unit": str(meta.get("unit") or ""),
        "asal_tujuan": str(meta.get("asal_tujuan") or ""),
        "keamanan": str(meta.get("keamanan") or ""),
    }
