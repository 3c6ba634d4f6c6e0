"""A condition such as `x is search('a: b')` left unquoted is parsed by YAML as a mapping, and
Ansible fails only when it reaches the task: catch it in every playbook and scenario up front."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

FILES = sorted(
    p
    for pattern in (
        "playbooks/*.yml",
        "molecule/*/*.yml",
        "molecule/*/tasks/*.yml",
        "roles/*/tasks/*.yml",
    )
    for p in REPO_ROOT.glob(pattern)
)
CONDITION_KEYS = ("when", "failed_when", "changed_when", "until")


def conditions(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CONDITION_KEYS:
                yield from value if isinstance(value, list) else [value]
            elif key in ("ansible.builtin.assert", "assert") and isinstance(value, dict):
                that = value.get("that", [])
                yield from that if isinstance(that, list) else [that]
            else:
                yield from conditions(value)
    elif isinstance(node, list):
        for item in node:
            yield from conditions(item)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_condition_is_a_string(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for condition in conditions(document):
        assert isinstance(condition, str | bool), f"{path}: not a string condition: {condition!r}"
