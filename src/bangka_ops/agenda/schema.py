"""The agenda's JSON Schemas (files in this package) and checking documents against them.

A valid document costs one call of the compiled validator (``fastjsonschema``); only an invalid
one is walked again with ``jsonschema`` to list every error with its field and line.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema

if TYPE_CHECKING:
    import jsonschema

from bangka_ops.agenda.yamlload import Diagnostic, Document, excerpt, join

EVENT = "event.schema.json"
CONFIG = "config.schema.json"
CONFIG_FILES = ("calendars", "venues", "categories", "people", "rules")
SCHEMAS = Path(__file__).resolve().parent / "schemas"
PACKAGE = SCHEMAS.parent.parent


@functools.cache
def load(name: str) -> dict[str, Any]:
    """A schema of the agenda by file name, or another part's by its path in the package
    (``arsip/schemas/arsip.schema.json``)."""
    text = (PACKAGE / name if "/" in name else SCHEMAS / name).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def definition(name: str, part: str | None) -> dict[str, Any]:
    """The schema of an event (``part`` None) or of one configuration file."""
    schema = load(name)
    if part is None:
        return schema
    return {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{part}"}


@functools.cache
def compiled(name: str, part: str | None) -> Callable[[Any], Any]:
    # use_default=False: validation must never change the data (it would fill in defaults).
    validate: Callable[[Any], Any] = fastjsonschema.compile(
        definition(name, part), use_default=False
    )
    return validate


@functools.cache
def full(name: str, part: str | None) -> jsonschema.protocols.Validator:
    import jsonschema  # noqa: PLC0415 (only an invalid document needs it: it costs 0.1 s)

    schema = definition(name, part)
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def check(doc: Document, name: str = EVENT, part: str | None = None) -> list[Diagnostic]:
    """Schema errors of a parsed document, each with its field and line."""
    try:
        compiled(name, part)(doc.data)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    problems = []
    for error in sorted(full(name, part).iter_errors(doc.data), key=order):
        path = ""
        for key in error.path:
            path = join(path, key)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # One diagnostic per unknown key, on the key's own line.
            allowed = sorted(schema_of(error).get("properties", {}))
            known = f" (known fields: {', '.join(allowed)})" if allowed else ""
            for extra in sorted(set(error.instance) - set(allowed)):
                problems.append(
                    doc.error(join(path, extra), f"unknown field {excerpt(extra)}{known}", "schema")
                )
            continue
        problems.append(doc.error(path, explain(error), code="schema"))
    return problems


def order(error: jsonschema.ValidationError) -> tuple[tuple[int, int, str], ...]:
    """Errors in document order (indexes and keys never compared with each other)."""
    return tuple((0, k, "") if isinstance(k, int) else (1, 0, str(k)) for k in error.path)


def schema_of(error: jsonschema.ValidationError) -> dict[str, Any]:
    return dict(error.schema) if isinstance(error.schema, dict) else {}


def explain(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, shortened where it would quote a whole object."""
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    if error.validator == "pattern":
        expected = str(schema_of(error).get("description", error.validator_value)).split(". ")[0]
        return f"{excerpt(error.instance)} does not have the expected form ({expected})"
    message = str(error.message)
    # jsonschema quotes the whole value: only an excerpt of it is shown.
    whole = repr(error.instance)
    if len(whole) > len(excerpt(error.instance)):
        message = message.replace(whole, excerpt(error.instance))
    return message if len(message) < 200 else message[:197] + "..."
