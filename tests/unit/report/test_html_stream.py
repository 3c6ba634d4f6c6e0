"""The printed form's spool gives back exactly the rows it was given (the signature's hash
depends on it), and the restore chart stays printable with many policies."""

from __future__ import annotations

import hashlib
import io
from typing import Any, cast

from bangka_ops.report import checklist, html, outputs, signoff

KPIS: dict[str, Any] = {
    "period": "2026-12-01..2026-12-01",
    "generated": "2026-12-01T12:00:00+07:00",
    "total": {},
    "categories": {},
    "hosts": [],
    "policies": [],
    "problems": [],
    "admin": {"hosts": []},
    "arsip": [],
}


class Fixed:
    def kpis(self) -> dict[str, Any]:
        return KPIS


def row(**extra: Any) -> dict[str, Any]:
    base = {
        "date": "2026-12-01", "host": "fs01", "policy": "dokumen", "category": "critical",
        "cycle": "daily", "backup_type": "incremental", "trigger": "schedule",
        "status": "success", "start": "2026-12-01T02:00:00+07:00", "duration_seconds": 1.5,
        "original_bytes": 10, "compressed_bytes": 5, "deduplicated_bytes": 1, "files": 1,
        "log_check": "clean", "borg_check": "not-scheduled", "restore_test": "none",
        "admin_check": None, "repository": "/srv/borg", "offsite_repository": None,
        "offsite_status": None, "archive": "a", "reason": None, "record": "r.json",
    }  # fmt: skip
    return {**base, **extra}


def test_rows_orjson_cannot_write_come_back_unchanged_and_sign_the_same() -> None:
    rows = [row(), row(files=2**70, reason="Borg: \udcff bytes"), row(host="fs02")]
    seen: list[list[dict[str, Any]]] = []

    def check(spooled: Any, kpis: dict[str, Any]) -> None:
        listed = list(spooled)
        seen.append(listed)
        signed = {k: v for k, v in kpis.items() if k not in signoff.UNSIGNED_KPI_KEYS}
        whole = signoff.serialised({"rows": rows, "kpis": signed})  # the document at once
        assert signoff.canonical_sha256(listed, kpis) == hashlib.sha256(whole).hexdigest()

    out = io.StringIO()
    writer = outputs.HtmlWriter(out, signoff=check)
    for item in rows:
        writer.row(item)
    writer.finish(cast(checklist.Report, Fixed()))

    assert seen == [rows]
    assert out.getvalue().count("<tr><td>") == 3
    assert writer.spool.closed


def test_the_restore_chart_shows_the_policies_nearest_their_rto_and_says_how_many() -> None:
    policies = [
        {
            "host": f"host-{i:02d}",
            "policy": "data",
            "restore_test": {"judged_seconds": 10.0 + i, "rto_hours": 1},
        }
        for i in range(40)
    ]
    picture = html.draw_restore({"policies": policies}, html.TEXT["en"])
    assert "(28/40)" in picture
    assert "host-39/data" in picture  # the slowest against its RTO
    assert "host-00/data" not in picture
