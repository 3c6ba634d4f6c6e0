"""A pull request's workflow changes, judged against the base revision.

Within one file the history's order is checked by :mod:`repository` (legal transitions, times
ascending, the status is the last stage). Against the base revision (``validate --base REF``):

* history is append-only: the base version's entries must still be there, unchanged, first;
* every new entry's person must hold the stage's role in the **base** version of
  ``people.yaml`` (a pull request that grants a role cannot use it in the same pull request);
* an item keeps its id; deleting an event file is reported (cancel it instead, so calendars
  are told).

Only files the pull request changed are read at the base revision, so the cost follows the size
of the change, not of the agenda.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bangka_ops.agenda import gitrepo, schema, yamlload
from bangka_ops.agenda.model import Config
from bangka_ops.agenda.repository import (
    EVENTS_DIR,
    Agenda,
    file_reader,
    load_config,
    role_problems,
)
from bangka_ops.agenda.yamlload import Diagnostic, Document, excerpt


def entry_key(item: Any) -> tuple[Any, ...]:
    if not isinstance(item, dict):
        return (repr(item),)
    return (item.get("status"), item.get("by"), item.get("at"), item.get("note"))


def against_base(agenda: Agenda, root: Path, ref: str) -> list[Diagnostic]:
    try:
        read_base = gitrepo.reader(root, ref)
        changed = gitrepo.changed_since(root, ref, EVENTS_DIR)
    except gitrepo.GitError as exc:
        return [Diagnostic(str(root), None, None, f"base revision {ref!r}: {exc}", code="git")]
    base_config, problems, _ = load_config(read_base)
    source = f"people.yaml at {ref}"
    if base_config is None:
        return [
            Diagnostic(
                "people.yaml",
                None,
                None,
                f"the configuration at {ref} is not valid, so roles cannot be checked: "
                + "; ".join(str(p) for p in problems[:3]),
                code="git",
            )
        ]
    found: list[Diagnostic] = []
    base_docs: dict[str, Document] = {}
    base_by_id: dict[str, Document] = {}
    for name in changed:
        try:
            text = read_base(name)
        except yamlload.Refused:
            continue  # nothing usable to compare with
        if text is None:
            continue
        doc = yamlload.parse(text, name)
        if doc.problems or schema.check(doc):
            continue  # the base version was broken already: nothing to compare with
        base_docs[name] = doc
        base_by_id[doc.data["id"]] = doc
    read_current = file_reader(root)
    for name in changed:
        try:
            text = read_current(name)
        except yamlload.Refused:
            continue  # reported by validation
        current = yamlload.parse(text, name) if text is not None else None
        if current is None:
            if name in base_docs:
                found.append(
                    Diagnostic(
                        name,
                        None,
                        None,
                        "event file deleted: set status dibatalkan instead, so that calendars "
                        "are told",
                        "warning",
                        "deleted",
                    )
                )
            continue
        if current.problems or not isinstance(current.data, dict):
            continue  # already reported by validation
        problems = compare(current, base_docs.get(name), base_by_id, base_config, source)
        found += yamlload.cap(problems)  # at most 25 per file, as in validation
    return found


def compare(
    current: Document,
    base: Document | None,
    base_by_id: dict[str, Document],
    base_config: Config,
    source: str,
) -> list[Diagnostic]:
    data = current.data
    history = data.get("history")
    if not isinstance(history, list):
        return []
    found: list[Diagnostic] = []
    if base is not None and base.data["id"] != data.get("id"):
        found.append(
            current.error(
                "id",
                f"the id was {excerpt(base.data['id'])}: an item's id never changes",
                "workflow",
            )
        )
    if base is None:
        base = base_by_id.get(data.get("id", ""))  # moved to another file
    before = base.data["history"] if base is not None else []
    for index, old in enumerate(before):
        if index >= len(history) or entry_key(history[index]) != entry_key(old):
            found.append(
                current.error(
                    f"history[{index}]",
                    "the history may only grow: this entry was changed or removed "
                    f"(at the base it is {old.get('status')} by {old.get('by')} at "
                    f"{old.get('at')})",
                    "workflow",
                )
            )
            return found
    for index in range(len(before), len(history)):
        item = history[index]
        if not isinstance(item, dict):
            continue
        found += role_problems(
            current,
            base_config,
            f"history[{index}]",
            status=str(item.get("status")),
            by=str(item.get("by")),
            people=base_config.people,
            source=source,
        )
    return found
