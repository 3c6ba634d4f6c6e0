"""Role borg_server: every key that reaches authorized_keys is one plain public key line, and the
restore key reads only the repositories of the clients it tests.

Runs the role's real asserts (include_role tasks_from assert.yml, which the role runs first) and
renders its real authorized_keys template into a temporary directory with ansible-playbook; then
runs the rendered restore key's forced command the way sshd does (``sh -c`` with
SSH_ORIGINAL_COMMAND set) under a real Borg client, against local repositories. Keys are made with
ssh-keygen at test time."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.unit.access.test_sshkeys import keygen

ROLE = REPO_ROOT / "roles" / "borg_server"
TEMPLATE = ROLE / "templates" / "etc" / "ssh" / "authorized_keys" / "borg.j2"
SERVER = "backup01.uji"
GATE = REPO_ROOT / "src" / "bangka_ops" / "backup" / "gate.py"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    where = tmp_path_factory.mktemp("keys")
    return {name: keygen(where, "ed25519", comment=name) for name in ("fs", "db", "adm", "rst")}


def good_vars(tmp_path: Path, keys: dict[str, str]) -> dict[str, Any]:
    return {
        "borg_server_repos_dir": str(tmp_path / "repos"),
        # The real wrapper from this checkout, as the role installs it on a server.
        "borg_server_serve_tool": f"{sys.executable} -Es {GATE}",
        "borg_server_gates_dir": str(tmp_path / "gates"),
        "borg_server_clients": [
            {"name": "fs01.uji", "ssh_public_key": keys["fs"], "storage_quota": "200G"},
            {"name": "db01.uji", "ssh_public_key": keys["db"]},
        ],
        "borg_server_admin_keys": [
            {"name": "admin01.uji", "ssh_public_key": keys["adm"], "from": ["10.10.1.5"]}
        ],
        "borg_server_restore_keys": [
            {
                "name": "restore01.uji",
                "ssh_public_key": keys["rst"],
                "from": ["10.10.1.6"],
                "clients": ["fs01.uji", "db01.uji"],
            }
        ],
    }


def render(tmp_path: Path, variables: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """The role's asserts, then its authorized_keys template into tmp_path/authorized_keys."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Check and write the repository server's keys",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "The role's asserts",
                            "ansible.builtin.include_role": {
                                "name": "borg_server",
                                "tasks_from": "assert.yml",
                                "public": True,
                            },
                        },
                        {
                            "name": "The role's authorized_keys template",
                            "ansible.builtin.template": {
                                "src": str(TEMPLATE),
                                "dest": str(tmp_path / "authorized_keys"),
                                "mode": "0644",
                            },
                        },
                    ],
                }
            ]
        )
    )
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            f"{SERVER},",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"@{tmp_path / 'vars.yml'}",
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
        cwd=REPO_ROOT,
    )


def key_lines(tmp_path: Path) -> list[str]:
    text = (tmp_path / "authorized_keys").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def forced_command(line: str) -> str:
    match = re.search(r'command="([^"]*)"', line)
    assert match, line
    return match[1]


def serve_args(command: str) -> tuple[list[str], list[str]]:
    """The gate wrapper's own arguments, and the borg serve arguments after its ``--``."""
    argv = shlex.split(command)
    assert str(GATE) in argv and "--" in argv, command
    split = argv.index("--")
    return argv[:split], argv[split + 1 :]


def bad_keys(good: str) -> dict[str, str]:
    kind, body = good.split()[:2]
    return {
        "second_line": f'{good}\nrestrict,command="borg serve --restrict-to-path /" {good}',
        "options": f'restrict,command="borg serve --restrict-to-path /" {good}',
        "wrong_type": f"ecdsa-sha2-nistp256 {body} uji",
        "bad_base64": f"{kind} {body[:-2]}!! uji",
    }


EXPECTED = {
    "second_line": "more than one line",
    "options": "options in front of the key",
    "wrong_type": "the line says ecdsa-sha2-nistp256 but the key body is 'ssh-ed25519'",
    "bad_base64": "the key body is not base64",
}
SOURCES = {
    "client": ("borg_server_clients", 1, "the SSH key of client db01.uji"),
    "admin": ("borg_server_admin_keys", 0, "the admin key of admin01.uji"),
    "restore": ("borg_server_restore_keys", 0, "the restore key of restore01.uji"),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_a_bad_key_fails_the_play_naming_host_and_source_and_nothing_is_written(
    tmp_path: Path, keys: dict[str, str], source: str, case: str
) -> None:
    variables = good_vars(tmp_path, keys)
    field, index, named = SOURCES[source]
    entry = variables[field][index]
    entry["ssh_public_key"] = bad_keys(entry["ssh_public_key"])[case]

    proc = render(tmp_path, variables)

    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    message = next(line for line in output.splitlines() if EXPECTED[case] in line)
    assert f"{SERVER}: " in message and named in " ".join(output.split()), output
    assert not (tmp_path / "authorized_keys").exists()


def test_good_keys_are_written_one_line_each_with_the_role_s_options(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    proc = render(tmp_path, good_vars(tmp_path, keys))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = key_lines(tmp_path)
    assert [line.rsplit(" ", 3)[1:] for line in lines] == [
        keys[name].split() for name in ("fs", "db", "adm", "rst")
    ]
    assert all(line.startswith("restrict,") for line in lines)


def test_the_restore_key_reaches_only_its_clients_repositories_append_only_with_a_quota(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    proc = render(tmp_path, good_vars(tmp_path, keys))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    repos = tmp_path / "repos"
    restore = next(line for line in key_lines(tmp_path) if line.endswith(" rst"))
    assert restore.startswith('restrict,from="10.10.1.6",command="')
    wrapper, argv = serve_args(forced_command(restore))
    assert wrapper[-3:] == ["restore", "db01.uji", "fs01.uji"]
    assert argv[0] == "--append-only"
    assert "--restrict-to-path" not in argv
    restricted = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--restrict-to-repository"]
    assert restricted == [f"{repos}/db01.uji", f"{repos}/fs01.uji"]
    assert argv[argv.index("--storage-quota") + 1] == "10M"


def test_a_restore_key_without_clients_here_is_not_written(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    variables = good_vars(tmp_path, keys)
    variables["borg_server_restore_keys"][0]["clients"] = []
    proc = render(tmp_path, variables)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not any(line.endswith(" rst") for line in key_lines(tmp_path))


def test_a_restore_key_for_a_client_of_another_server_is_refused(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    variables = good_vars(tmp_path, keys)
    variables["borg_server_restore_keys"][0]["clients"] = ["fs01.uji", "../lain"]
    proc = render(tmp_path, variables)
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0
    assert "the restore key of restore01.uji" in output and "not ../lain" in output, output
    assert not (tmp_path / "authorized_keys").exists()


@pytest.mark.parametrize("quota", ["5M", "1.5G", "", "1000K"])
def test_a_restore_quota_borg_would_refuse_is_refused(
    tmp_path: Path, keys: dict[str, str], quota: str
) -> None:
    proc = render(
        tmp_path, {**good_vars(tmp_path, keys), "borg_server_restore_storage_quota": quota}
    )
    assert proc.returncode != 0
    assert "borg_server_restore_storage_quota must be like 10M" in proc.stdout + proc.stderr
    assert not (tmp_path / "authorized_keys").exists()


class ForcedBorg:
    """A Borg client whose "ssh" runs the forced command as sshd does: ``sh -c <command>`` with
    SSH_ORIGINAL_COMMAND set to what the client asked for."""

    def __init__(self, tmp_path: Path, command: str) -> None:
        self.tmp_path = tmp_path
        rsh = tmp_path / "forced-ssh"
        rsh.write_text(
            "#!/bin/sh\n"
            '# borg runs: forced-ssh [-p PORT] HOST borg serve ...\nwhile [ "$1" = -p ]; do '
            'shift 2; done\nshift\nSSH_ORIGINAL_COMMAND="$*" exec sh -c "$FORCED_COMMAND"\n'
        )
        rsh.chmod(0o755)
        self.env = {
            "PATH": "/usr/bin:/bin",
            "BORG_PASSPHRASE": secrets.token_urlsafe(24),
            "BORG_BASE_DIR": str(tmp_path / "borg-base"),
            "BORG_RSH": str(rsh),
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
            "FORCED_COMMAND": command,
        }

    def borg(
        self, *args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Borg on a local path (the clients' own backups) or through the restore key."""
        return subprocess.run(
            ["borg", *args],
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            cwd=cwd or self.tmp_path,
        )

    def remote(self, repo: Path) -> str:
        return f"ssh://borg@{SERVER}{repo}"


def test_the_restore_key_reads_its_clients_and_cannot_reach_or_fill_another_repository(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    if shutil.which("borg") is None:
        pytest.fail("borg is not installed: run scripts/setup.sh --test")
    variables = good_vars(tmp_path, keys)
    variables["borg_server_clients"].append({"name": "web01.uji", "ssh_public_key": keys["adm"]})
    proc = render(tmp_path, variables)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    restore = next(line for line in key_lines(tmp_path) if line.endswith(" rst"))
    borg = ForcedBorg(tmp_path, forced_command(restore))
    repos, data = tmp_path / "repos", tmp_path / "data"
    data.mkdir()
    repos.mkdir()
    (tmp_path / "gates").mkdir()
    (data / "nota-dinas.txt").write_text("Nota dinas\n")
    for name in ("fs01.uji", "db01.uji", "web01.uji"):
        assert borg.borg("init", "-e", "repokey", str(repos / name)).returncode == 0
        assert borg.borg("create", f"{repos / name}::pertama", str(data)).returncode == 0

    # Both listed repositories read through one key: borg serve takes several restrictions.
    for name in ("fs01.uji", "db01.uji"):
        listed = borg.borg("list", "--short", borg.remote(repos / name))
        assert (listed.returncode, listed.stdout) == (0, "pertama\n"), listed.stderr
    restored = tmp_path / "pulih"
    restored.mkdir()
    extract = borg.borg("extract", f"{borg.remote(repos / 'fs01.uji')}::pertama", cwd=restored)
    assert extract.returncode == 0, extract.stderr
    assert (restored / str(data).lstrip("/") / "nota-dinas.txt").read_text() == "Nota dinas\n"

    # Another client's repository, and a new one, are out of reach.
    other = borg.borg("list", borg.remote(repos / "web01.uji"))
    assert other.returncode == 2 and "not allowed" in other.stderr
    new = borg.borg("init", "-e", "repokey", borg.remote(repos / "baru"))
    assert new.returncode == 2 and "not allowed" in new.stderr
    assert not (repos / "baru").exists()

    # The quota counts the whole repository: past it, not even a delete is written.
    (data / "besar.bin").write_bytes(os.urandom(11 * 1000 * 1000))
    assert borg.borg("create", f"{repos / 'db01.uji'}::besar", str(data)).returncode == 0
    delete = borg.borg("delete", f"{borg.remote(repos / 'db01.uji')}::pertama")
    assert delete.returncode == 2 and "storage quota" in delete.stderr
    add = borg.borg("create", f"{borg.remote(repos / 'db01.uji')}::tambahan", str(data))
    assert add.returncode == 2 and "storage quota" in add.stderr
    listed = borg.borg("list", "--short", borg.remote(repos / "db01.uji"))
    assert listed.stdout.split() == ["pertama", "besar"]

    # What remains (documented in the role's README): the repository's key is outside the quota,
    # so the restore key can still re-encrypt it; the archives stay, with the escrowed key.
    changed = borg.borg(
        "key",
        "change-passphrase",
        borg.remote(repos / "db01.uji"),
        extra_env={"BORG_NEW_PASSPHRASE": "lain"},
    )
    assert changed.returncode == 0, changed.stderr
    assert borg.borg("list", str(repos / "db01.uji")).returncode == 2  # the old passphrase


class AdminGate:
    """The admin key's forced command asked for ``bangka-gate NAME [SEGMENT MTIME_NS]``, the way
    sshd runs it (``sh -c`` with SSH_ORIGINAL_COMMAND), with pipes as the SSH channel."""

    def __init__(self, command: str, request: str) -> None:
        self.process = subprocess.Popen(
            ["sh", "-c", command],
            env={"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": request},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def say(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n")
        self.process.stdin.flush()
        return self.line()

    def release(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("release\n")
        self.process.stdin.flush()
        answer = self.line()
        assert self.process.wait(timeout=60) == 0
        return answer


def test_the_admin_gate_holds_client_sessions_back_and_shows_a_client_s_delete(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    if shutil.which("borg") is None:
        pytest.fail("borg is not installed: run scripts/setup.sh --test")
    variables = {**good_vars(tmp_path, keys), "borg_server_gate_client_wait_seconds": 2}
    proc = render(tmp_path, variables)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = key_lines(tmp_path)
    client = ForcedBorg(tmp_path, forced_command(lines[0]))  # fs01.uji
    admin_command = forced_command(next(line for line in lines if line.endswith(" adm")))
    repos, data = tmp_path / "repos", tmp_path / "data"
    for path in (repos, data, tmp_path / "gates"):
        path.mkdir()
    (data / "surat.txt").write_text("Surat keputusan\n")
    repo = client.remote(repos / "fs01.uji")
    assert client.borg("init", "-e", "repokey", repo).returncode == 0
    made = client.borg("create", "--checkpoint-interval", "0", f"{repo}::pertama", str(data))
    assert made.returncode == 0, made.stderr

    # The first look sets the baseline; nothing is judged.
    gate = AdminGate(admin_command, "bangka-gate fs01.uji")
    first = gate.line()
    assert first["gate"] == "closed" and first["scan"]["since"] is None, first
    # While the admin holds the gate a client session waits, then is refused.
    held = client.borg("list", repo)
    assert held.returncode == 2 and "under the admin's maintenance" in held.stderr, held.stderr
    assert gate.say("clean") == {"gate": "clean"}  # the admin's check passed
    mark = gate.release()["mark"]
    assert json.loads((tmp_path / "gates" / "fs01.uji.mark").read_text()) == mark
    assert client.borg("list", "--short", repo).stdout == "pertama\n"

    # A backup and then a client's delete of it, both between two looks of the admin.
    assert (
        client.borg("create", "--checkpoint-interval", "0", f"{repo}::kedua", str(data)).returncode
        == 0
    )
    info = client.borg("info", "--json", f"{repo}::kedua")
    archive_id = json.loads(info.stdout)["archives"][0]["id"]
    assert client.borg("delete", f"{repo}::kedua").returncode == 0
    # The admin's own mark is only a fallback: the server's wins (here a stale one is given).
    gate = AdminGate(admin_command, "bangka-gate fs01.uji 0 0")
    opened = gate.line()
    scan = opened["scan"]
    assert opened["mark_from"] == "server"
    assert gate.release()["mark"] == mark  # not clean: the mark stays before the delete
    assert scan["transactions"] == 2, scan
    (suspicious,) = scan["suspicious"]
    assert archive_id in suspicious["deleted_ids"]
    assert scan["rollback_to"] is not None and scan["rollback_to"] < suspicious["committed_at"]
    # So the next look shows the same delete again; a connection that ends after "clean" (the
    # admin accepted it) still moves the mark, while the gate is held.
    gate = AdminGate(admin_command, "bangka-gate fs01.uji")
    assert gate.line()["scan"]["suspicious"][0]["deleted_ids"] == suspicious["deleted_ids"]
    assert gate.say("clean") == {"gate": "clean"}
    assert gate.process.stdin is not None
    gate.process.stdin.close()
    assert gate.process.wait(timeout=60) == 0
    moved = json.loads((tmp_path / "gates" / "fs01.uji.mark").read_text())
    assert moved["segment"] > mark["segment"]
    gate = AdminGate(admin_command, "bangka-gate fs01.uji")
    assert gate.line()["scan"]["suspicious"] == []
    gate.release()

    # The admin key's ordinary borg serve is unchanged; a name that is not a repository is not.
    assert (
        client.borg("list", "--short", repo, extra_env={"FORCED_COMMAND": admin_command}).returncode
        == 0
    )
    bad = AdminGate(admin_command, "bangka-gate ../fs01.uji")
    assert bad.line() == {"gate": "error", "error": "not a repository name: '../fs01.uji'"}
    assert bad.process.wait(timeout=60) == 64
