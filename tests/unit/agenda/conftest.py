"""A copy of the example agenda to change, and a way to add events to it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "agenda"
HISTORY = [
    {"status": "diajukan", "by": "rina.marlina", "at": "2026-11-20T08:00:00+07:00"},
    {"status": "diverifikasi", "by": "deni.saputra", "at": "2026-11-20T09:00:00+07:00"},
    {"status": "diinput", "by": "rina.marlina", "at": "2026-11-20T10:00:00+07:00"},
    {"status": "dikonfirmasi", "by": "yusuf.hidayat", "at": "2026-11-20T11:00:00+07:00"},
]

AddEvent = Callable[..., Path]


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    """A valid confirmed event of the Regent, changed by ``fields`` (None removes a field)."""
    data: dict[str, Any] = {
        "id": event_id,
        "title": "Rapat Koordinasi Penanganan Banjir",
        "start": "2026-12-10T09:00",
        "end": "2026-12-10T11:00",
        "venue": "kantor-bupati",
        "leaders": ["bupati"],
        "category": "rapat",
        "person_in_charge": "rina.marlina",
        "contact": "+62 812-7000-1234",
        "status": "dikonfirmasi",
        "history": HISTORY,
    }
    for key, value in fields.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.fixture
def agenda_dir(tmp_path: Path) -> Path:
    target = tmp_path / "agenda"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.fixture
def add_event(agenda_dir: Path) -> AddEvent:
    def add(event_id: str, *, path: str | None = None, **fields: Any) -> Path:
        data = event(event_id, **fields)
        day = str(data.get("start", "2026-12-10"))[:10]
        name = path or f"events/{day[:4]}/{day[5:7]}/{day}-{event_id.split('-', 3)[-1]}.yaml"
        file = agenda_dir / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return file

    return add
