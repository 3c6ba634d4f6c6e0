"""What an Ansible inventory directory says about servers, services and backup policies.

Read with PyYAML from ``hosts.yml``, ``group_vars/`` and ``host_vars/`` in Ansible's precedence
(``all``, then parent groups before child groups, same depth by name, then the host's own
variables), without Ansible and without a vault password: a vault-encrypted file is skipped and
named, an inline ``!vault`` value reads as :data:`VAULTED`. Nothing is templated: a ``{{ … }}``
value is shown as written. Hosts in ``borg_agents`` without ``borg_agent_policies`` get the role's
default (no policy), which the page says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

VAULTED = "(vault)"
VAULT_HEADER = "$ANSIBLE_VAULT"
YAML_SUFFIXES = ("", ".yml", ".yaml")

# What each group of the layout is for (the service the host gives), Indonesian / English.
SERVICES: dict[str, tuple[str, str]] = {
    "borg_servers": ("server repositori cadangan (Borg)", "backup repository server (Borg)"),
    "borg_admin": (
        "host admin: pemeriksaan manipulasi, prune, daftar periksa",
        "admin host: tamper check, prune, checklist",
    ),
    "borg_restore_hosts": ("host uji pemulihan", "restore-test host"),
    "borg_agents": ("agen cadangan (datanya dicadangkan)", "backup agent (its data is backed up)"),
    "file_servers": ("server berkas", "file server"),
    "database_servers": ("server basis data", "database server"),
    "web_servers": ("server web", "web server"),
    "agenda_sync_hosts": (
        "host operasi agenda pimpinan (PROTOCLOUD)",
        "leaders' agenda operations host (PROTOCLOUD)",
    ),
    "arsip_hosts": ("host arsip digital", "digital archive host"),
}


class InventoryError(ValueError):
    """An inventory file that cannot be read; the message names the file."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's ``!vault`` and ``!unsafe`` tags without decrypting."""


def _vault(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return VAULTED


def _unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    return None


_Loader.add_constructor("!vault", _vault)
_Loader.add_constructor("!unsafe", _unsafe)


@dataclass
class Policy:
    """One ``borg_agent_policies`` entry of a host, as the inventory writes it."""

    host: str
    name: str
    category: str
    sources: list[str]
    rpo_hours: Any
    rto_hours: Any
    window: dict[str, Any]
    cycles: dict[str, Any]
    retention: dict[str, Any]
    offsite: bool  # the policy's own flag; a copy is made only where the host has a repository
    databases: list[dict[str, Any]]
    defined_in: str


@dataclass
class Host:
    name: str
    address: str
    groups: list[str]
    variables: dict[str, Any]
    policies: list[Policy] = field(default_factory=list)

    @property
    def is_agent(self) -> bool:
        return "borg_agents" in self.groups

    @property
    def offsite_repository(self) -> str:
        return str(self.variables.get("borg_agent_offsite_repository") or "")

    @property
    def storage_quota(self) -> str:
        """The repository's ``--storage-quota`` on the server (backup_server.yml), or ''."""
        return str(self.variables.get("borg_agent_storage_quota") or "")


@dataclass
class Inventory:
    name: str
    path: Path
    hosts: list[Host]
    skipped_vault_files: list[str]

    def policies(self) -> list[Policy]:
        return [p for h in self.hosts for p in h.policies]


def _load_yaml(path: Path, skipped: list[str], root: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{path}: cannot be read: {exc}") from exc
    if text.lstrip().startswith(VAULT_HEADER):
        skipped.append(str(path.relative_to(root)))
        return {}
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path}: not YAML: {exc}") from exc
    except RecursionError as exc:
        raise InventoryError(f"{path}: not YAML: nested too deeply") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: a mapping of variables expected")
    return data


def _vars_of(directory: Path, name: str, skipped: list[str], root: Path) -> dict[str, Any]:
    """``group_vars/NAME{,.yml,.yaml}`` or every YAML file of ``group_vars/NAME/`` by name."""
    merged: dict[str, Any] = {}
    for suffix in YAML_SUFFIXES:
        path = directory / f"{name}{suffix}"
        if path.is_file():
            merged.update(_load_yaml(path, skipped, root))
    folder = directory / name
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix in (".yml", ".yaml"):
                merged.update(_load_yaml(path, skipped, root))
    return merged


@dataclass
class _Tree:
    parents: dict[str, set[str]] = field(default_factory=dict)  # group -> its parent groups
    host_groups: dict[str, set[str]] = field(default_factory=dict)  # host -> direct groups
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # hosts in file order


def _walk(group: str, body: Any, parent: str | None, tree: _Tree, path: Path) -> None:
    tree.parents.setdefault(group, set())
    if parent is not None:
        tree.parents[group].add(parent)
    if body is None:
        return
    if not isinstance(body, dict):
        raise InventoryError(f"{path}: group {group}: a mapping expected")
    for host, hvars in (body.get("hosts") or {}).items():
        if host not in tree.host_groups:
            tree.order.append(host)
        tree.host_groups.setdefault(host, set()).add(group)
        tree.host_vars.setdefault(host, {}).update(hvars or {})
    tree.group_vars.setdefault(group, {}).update(body.get("vars") or {})
    for child, child_body in (body.get("children") or {}).items():
        _walk(child, child_body, group, tree, path)


def _ancestors(group: str, parents: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [group]
    while todo:
        for parent in parents.get(todo.pop(), set()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _depth(group: str, parents: dict[str, set[str]]) -> int:
    if group == "all" or not parents.get(group):
        return 0
    return 1 + max(_depth(p, parents) for p in parents[group])


def load(directory: Path) -> Inventory:
    """Read ``directory`` (an inventory of this repository's layout)."""
    candidates = [directory / "hosts.yml", directory / "hosts.yaml"]
    hosts_file = next((path for path in candidates if path.is_file()), None)
    if hosts_file is None:
        raise InventoryError(f"{directory}: no hosts.yml")
    skipped: list[str] = []
    data = _load_yaml(hosts_file, skipped, directory)
    tree = _Tree()
    _walk("all", data.get("all", data), None, tree, hosts_file)
    for group in tree.parents:
        if group != "all":
            tree.parents[group].add("all")
    group_dir, host_dir = directory / "group_vars", directory / "host_vars"
    hosts = []
    for name in tree.order:
        groups = set(tree.host_groups[name])
        for group in list(groups):
            groups |= _ancestors(group, tree.parents)
        groups.add("all")
        ordered = sorted(groups, key=lambda g: (_depth(g, tree.parents), g))
        variables: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for group in ordered:
            for layer, where in (
                (tree.group_vars.get(group, {}), f"hosts.yml ({group})"),
                (_vars_of(group_dir, group, skipped, directory), f"group_vars/{group}"),
            ):
                variables.update(layer)
                sources.update(dict.fromkeys(layer, where))
        for layer, where in (
            (tree.host_vars.get(name, {}), "hosts.yml"),
            (_vars_of(host_dir, name, skipped, directory), f"host_vars/{name}"),
        ):
            variables.update(layer)
            sources.update(dict.fromkeys(layer, where))
        host = Host(
            name=name,
            address=str(variables.get("ansible_host", "")),
            groups=[g for g in ordered if g != "all"],
            variables=variables,
        )
        if host.is_agent:
            host.policies = [
                _policy(name, p, sources.get("borg_agent_policies", "roles/borg_agent/defaults"))
                for p in variables.get("borg_agent_policies") or []
                if isinstance(p, dict)
            ]
        hosts.append(host)
    return Inventory(directory.name, directory, hosts, sorted(set(skipped)))


def _policy(host: str, raw: dict[str, Any], defined_in: str) -> Policy:
    def mapping(key: str) -> dict[str, Any]:
        value = raw.get(key)
        return value if isinstance(value, dict) else {}

    return Policy(
        host=host,
        name=str(raw.get("name", "?")),
        category=str(raw.get("category", "")),
        sources=[str(s) for s in raw.get("sources") or []],
        rpo_hours=raw.get("rpo_hours"),
        rto_hours=raw.get("rto_hours"),
        window=mapping("window"),
        cycles=mapping("cycles"),
        retention=mapping("retention"),
        offsite=bool(raw.get("offsite", True)),
        databases=[d for d in raw.get("databases") or [] if isinstance(d, dict)],
        defined_in=defined_in,
    )


def services(host: Host) -> list[tuple[str, str]]:
    """The services a host gives, from its groups (Indonesian, English)."""
    return [SERVICES[g] for g in host.groups if g in SERVICES]
