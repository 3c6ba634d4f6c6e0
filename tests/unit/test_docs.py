"""Documentation stays in step with the code: role options, commands, playbooks."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from bangka_ops.agenda import schema
from bangka_ops.cli import cekat, protocloud
from tests.conftest import REPO_ROOT

ROLES = sorted(p.parent.parent for p in (REPO_ROOT / "roles").glob("*/meta/argument_specs.yml"))
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_option_is_typed_described_defaulted_and_in_the_readme(role: Path) -> None:
    options = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"][
        "main"
    ]["options"]
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text()) or {}
    readme = (role / "README.md").read_text()
    for name, option in options.items():
        assert name.startswith(role.name + "_"), f"{role.name}: {name} lacks the role prefix"
        assert option.get("type") and option.get("description"), (
            f"{role.name}: {name} untyped or undocumented"
        )
        assert name in defaults, f"{role.name}: {name} missing from defaults/main.yml"
        assert f"`{name}`" in readme, f"{role.name}: {name} missing from README.md"
    assert set(defaults) <= set(options), (
        f"{role.name}: defaults not in argument_specs: {set(defaults) - set(options)}"
    )
    assert "## Example playbook" in readme


def test_every_playbook_is_named_in_the_readme() -> None:
    for playbook in (REPO_ROOT / "playbooks").glob("*.yml"):
        assert playbook.name in README, f"{playbook.name} is not described in README.md"


@pytest.mark.parametrize("command", [cekat, protocloud], ids=["cekat", "protocloud"])
def test_every_command_has_help_and_is_in_the_readme(command: ModuleType) -> None:
    parser = command.build_parser()
    prog = command.__name__.rsplit(".", 1)[-1]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in subparsers._choices_actions}
    for name in subparsers.choices:
        assert helps.get(name), f"{prog} {name} has no help text"
        assert f"{prog} {name}" in README, f"{prog} {name} is not in README.md"


def test_every_agenda_field_is_documented_for_the_protocol_office() -> None:
    guide = (REPO_ROOT / "examples" / "agenda" / "README.md").read_text(encoding="utf-8")
    event = schema.load(schema.EVENT)
    for name in event["properties"]:
        assert f"`{name}`" in guide, f"event field {name} is not in examples/agenda/README.md"
    for part in schema.CONFIG_FILES:
        assert f"`{part}.yaml`" in guide, f"{part}.yaml is not in examples/agenda/README.md"
