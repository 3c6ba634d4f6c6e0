"""Reading the run records that ``bangka-backup`` writes (schema in ``schemas/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from bangka_ops.backup import agent

SCHEMA_FILE = "backup-run-record.v1.schema.json"
RESTORE_TEST_SCHEMA_FILE = "restore-test-record.v1.schema.json"
# Beside the run records: restore tests and emergency restores have their own records.
OTHER_RECORD_DIRS = {"restore-tests", "restores"}
# A run's start marker (bangka-backup writes it first and removes it with the record).
STARTED_SUFFIX = agent.STARTED_SUFFIX


@dataclass(frozen=True)
class RecordProblem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@cache
def schema(name: str = SCHEMA_FILE) -> dict[str, Any]:
    text = resources.files("bangka_ops.schemas").joinpath(name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate(record: Any, schema_file: str = SCHEMA_FILE) -> list[str]:
    """Schema problems of one record, as ``field: message`` strings (empty when valid)."""
    validator = jsonschema.Draft202012Validator(schema(schema_file))
    try:
        return [
            f"{'.'.join(str(p) for p in error.absolute_path) or '(record)'}: {error.message}"
            for error in sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
        ]
    except RecursionError:  # a value nested deeper than the checker (or its messages) can go
        return ["(record): nested too deeply"]


def iter_records(root: Path) -> Iterator[dict[str, Any] | RecordProblem]:
    """Every run record under ``root`` in name order (archive names sort by time within a
    policy); unreadable or invalid files are yielded as problems, never raised."""
    for path in sorted(root.rglob("*.json")):
        if path.name.startswith(".tmp-") or OTHER_RECORD_DIRS & set(path.parts):
            continue
        if path.name.endswith(STARTED_SUFFIX):
            # A run going now (status "running"), or one cut off that the next run or
            # `bangka-backup reap` turns into an "interrupted" record; not a record itself.
            running = running_marker(path)
            if running is not None:
                yield running
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            yield RecordProblem(path, f"line {exc.lineno}: invalid JSON ({exc.msg})")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            yield RecordProblem(path, f"cannot read: {exc}")
            continue
        except RecursionError:
            yield RecordProblem(path, "invalid JSON (nested too deeply)")
            continue
        problems = validate(record)
        if problems:
            yield RecordProblem(path, "; ".join(problems[:5]))
            continue
        yield record


def running_marker(path: Path) -> dict[str, Any] | None:
    """The start marker of a run whose record is not written yet, or None (its record is
    there, or it is not a readable marker)."""
    if path.with_name(path.name[: -len(STARTED_SUFFIX)] + ".json").exists():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: nested too deeply
        return None
    needed = ("start", "host", "policy", "cycle", "status", "record_path")
    if not isinstance(marker, dict) or marker.get("kind") != "backup_started":
        return None
    if not all(isinstance(marker.get(key), str) for key in needed):
        return None
    return marker
