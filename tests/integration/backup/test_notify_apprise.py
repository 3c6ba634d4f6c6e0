"""Failure notices through Apprise (chat groups), with Debian's real ``apprise`` command sending to
a real HTTP receiver on loopback (Apprise's ``json://`` service); the stdlib webhook and e-mail
paths keep working beside it, and the services' tokens never leave the configuration file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.backup import notify
from tests.receivers import closed_port, smtp_receiver, webhook_receiver

TOKEN = "tg-token-123456:rahasia"  # noqa: S105 - a made-up token to look for


def record(status: str = "failed") -> dict[str, Any]:
    return {
        "host": "simpeg01", "policy": "aplikasi", "category": "kepegawaian", "cycle": "daily",
        "backup_type": "incremental", "status": status, "reason": "borg create exited with 2",
        "archive": "simpeg01-aplikasi-daily-2026-12-04T02-00-00", "start": "2026-12-04T02:00:00",
        "end": "2026-12-04T02:03:00", "repository": "ssh://borg@repo/./simpeg01",
        "exit_code": 2, "record_path": "/var/lib/bangka-backup/records/x.json",
    }  # fmt: skip


def apprise_file(tmp_path: Path, *urls: str, mode: int = 0o600) -> Path:
    config = tmp_path / "apprise.txt"
    config.write_text("".join(f"{u}\n" for u in urls))
    config.chmod(mode)
    return config


def test_a_failed_run_reaches_the_chat_group_and_the_other_channels_too(tmp_path: Path) -> None:
    with webhook_receiver() as chat, webhook_receiver() as hook, smtp_receiver() as mail:
        # The chat service's URL carries its token, as a Telegram bot's does.
        url = chat.url.replace("http://", "json://").replace("secret-token", TOKEN)
        config = {
            "notify": {
                "webhook_url": hook.url,
                "email": {
                    "to": ["tim-backup@bangka.go.id"],
                    "smtp_host": "127.0.0.1",
                    "smtp_port": mail.port,
                },
                "apprise": {"config_file": str(apprise_file(tmp_path, url))},
            }
        }
        results = notify.notify(config, record())
    assert [(r["channel"], r["delivered"]) for r in results] == [
        ("webhook", True), ("email", True), ("apprise", True)
    ]  # fmt: skip
    (sent,) = chat.received
    assert sent["title"].startswith("[SI CEKAT] FAILED: simpeg01 aplikasi daily")
    assert "Alasan / Reason   : borg create exited with 2" in sent["message"]
    assert sent["type"] == "failure"
    assert len(hook.received) == 1 and len(mail.messages) == 1
    assert TOKEN not in json.dumps(results)


def test_a_warning_is_sent_as_a_warning(tmp_path: Path) -> None:
    with webhook_receiver() as chat:
        config = {"notify": {"apprise": {"config_file": str(
            apprise_file(tmp_path, chat.url.replace("http://", "json://")))}}}  # fmt: skip
        (result,) = notify.notify(config, record("warning"))
    assert result["delivered"] is True
    assert chat.received[0]["type"] == "warning"


@pytest.mark.parametrize("broken", ["unreachable", "not a URL"])
def test_a_failed_delivery_is_reported_without_its_token(tmp_path: Path, broken: str) -> None:
    """Apprise quotes a line of the file it cannot read, token and all: none of its output is
    kept."""
    if broken == "unreachable":
        line = f"json://127.0.0.1:{closed_port()}/hook/{TOKEN}"
    else:
        line = f"{TOKEN}/-100987"  # a Telegram token pasted without its tgram://
    config = {"notify": {"apprise": {"config_file": str(apprise_file(tmp_path, line))}}}
    (result,) = notify.notify(config, record())
    assert result["channel"] == "apprise" and result["delivered"] is False
    assert result["detail"].startswith("apprise exited with 1")
    assert TOKEN not in json.dumps(result) and "rahasia" not in json.dumps(result)


@pytest.mark.parametrize(
    ("status", "kind"),
    [("tampered", "failure"), ("missed", "failure"), ("error", "failure"), ("skipped", "warning")],
)
def test_what_went_wrong_shows_as_a_failure_in_the_chat(
    tmp_path: Path, status: str, kind: str
) -> None:
    with webhook_receiver() as chat:
        settings = {"apprise": {"config_file": str(
            apprise_file(tmp_path, chat.url.replace("http://", "json://")))}}  # fmt: skip
        (result,) = notify.send_notifications(settings, "s", "b", {"status": status})
    assert result["delivered"] is True
    assert chat.received[0]["type"] == kind


def test_a_link_or_another_accounts_file_is_refused(tmp_path: Path) -> None:
    real = apprise_file(tmp_path, "json://127.0.0.1/x")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    (linked,) = notify.notify({"notify": {"apprise": {"config_file": str(link)}}}, record())
    assert linked["delivered"] is False and "readable by its owner alone" in linked["detail"]
    os.chown(real, 65534, 65534)  # nobody's
    (foreign,) = notify.notify({"notify": {"apprise": {"config_file": str(real)}}}, record())
    assert foreign["delivered"] is False
    assert "must belong to the account sending the notice" in foreign["detail"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_file_others_may_read_is_refused_before_anything_is_sent(
    tmp_path: Path, mode: int
) -> None:
    with webhook_receiver() as chat:
        loose = apprise_file(tmp_path, chat.url.replace("http://", "json://"), mode=mode)
        (result,) = notify.notify({"notify": {"apprise": {"config_file": str(loose)}}}, record())
    assert result["delivered"] is False
    assert "readable by its owner alone" in result["detail"]
    assert chat.received == []


def test_without_the_apprise_command_the_notice_says_so_and_the_webhook_still_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with webhook_receiver() as hook:
        config = {"notify": {"webhook_url": hook.url, "apprise": {
            "config_file": str(apprise_file(tmp_path, "json://127.0.0.1/x"))}}}  # fmt: skip
        webhook, apprise = notify.notify(config, record())
    assert webhook["delivered"] is True
    assert apprise == {
        "channel": "apprise",
        "target": f"config {tmp_path / 'apprise.txt'}",
        "delivered": False,
        "detail": "the apprise command is not installed (Debian package apprise)",
    }


def test_a_missing_file_is_a_failed_delivery_not_a_crash(tmp_path: Path) -> None:
    config = {"notify": {"apprise": {"config_file": str(tmp_path / "tidak-ada.txt")}}}
    (result,) = notify.notify(config, record())
    assert result["delivered"] is False and "FileNotFoundError" in result["detail"]


@pytest.mark.parametrize(
    ("apprise", "named"),
    [
        ({"config_file": "apprise.txt"}, "notify.apprise.config_file: an absolute path"),
        ({"config_file": "/etc/a.txt", "url": "tgram://x"}, "unknown field(s) url"),
        ({"config_file": "/etc/a.txt", "tags": "grup"}, "notify.apprise.tags: a list"),
        ({"config_file": "/etc/a.txt", "timeout_seconds": 0}, "apprise.timeout_seconds"),
        ("tgram://x", "notify.apprise: an object with config_file"),
    ],
)
def test_the_wrapper_refuses_a_wrong_apprise_setting_by_name(
    tmp_path: Path, apprise: Any, named: str
) -> None:
    from bangka_ops.backup import agent  # noqa: PLC0415

    config = {"host": "h", "records_dir": str(tmp_path), "repository": {},
              "policies": {"p": {"sources": ["/srv"]}}, "notify": {"apprise": apprise}}  # fmt: skip
    with pytest.raises(agent.ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        agent.check_config(config, tmp_path / "config.json")
