"""Every role's variables, read from its ``meta/argument_specs.yml`` (the role's typed manual).

Nested options (a list of dicts such as ``borg_agent_policies``) become dotted rows
(``borg_agent_policies[].window.start``), so the table holds every field the role checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class SpecError(ValueError):
    """An argument_specs file of an unexpected shape; the message names the file."""


@dataclass(frozen=True)
class Option:
    name: str
    type: str
    default: str  # as YAML would write it, "" when the spec gives none
    has_default: bool
    required: bool
    secret: bool  # no_log: the value comes from the vault
    choices: str
    description: str


@dataclass(frozen=True)
class RoleSpec:
    role: str
    short_description: str
    description: str
    options: list[Option]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v).strip() for v in value)
    return str(value or "").strip()


def _show(value: Any) -> str:
    """A default as one line (JSON's spelling is YAML's flow style)."""
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value, ensure_ascii=False)


def _flatten(options: dict[str, Any], prefix: str, path: Path) -> list[Option]:
    rows: list[Option] = []
    for name, spec in options.items():
        if not isinstance(spec, dict):
            raise SpecError(f"{path}: option {prefix}{name}: a mapping expected")
        kind = str(spec.get("type", "str"))
        if kind == "list" and spec.get("elements"):
            kind = f"list of {spec['elements']}"
        rows.append(
            Option(
                name=f"{prefix}{name}",
                type=kind,
                default=_show(spec["default"]) if "default" in spec else "",
                has_default="default" in spec,
                required=bool(spec.get("required", False)),
                secret=bool(spec.get("no_log", False)),
                choices=", ".join(str(c) for c in spec.get("choices") or []),
                description=_text(spec.get("description")),
            )
        )
        if isinstance(spec.get("options"), dict):
            inner = f"{prefix}{name}[]." if spec.get("type") == "list" else f"{prefix}{name}."
            rows.extend(_flatten(spec["options"], inner, path))
    return rows


def load(role_dir: Path) -> RoleSpec:
    path = role_dir / "meta" / "argument_specs.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        main = data["argument_specs"]["main"]
        options = main.get("options") or {}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise SpecError(f"{path}: not an argument_specs file with a main entry: {exc}") from exc
    return RoleSpec(
        role=role_dir.name,
        short_description=_text(main.get("short_description")),
        description=_text(main.get("description")),
        options=_flatten(options, "", path),
    )


def load_all(roles_dir: Path) -> list[RoleSpec]:
    return [load(p.parent.parent) for p in sorted(roles_dir.glob("*/meta/argument_specs.yml"))]
