"""The roles model: every problem named with person and field; accounts, signers, writers."""

from __future__ import annotations

from typing import Any

from bangka_ops.access import model, totp

# Well-formed public keys (fixed bytes, no private half anywhere).
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC andi@laptop"
SK = (
    "sk-ssh-ed25519@openssh.com "
    "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIENDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDAAAABHNzaDo="
    " budi@yubikey"
)


def person(**fields: Any) -> dict[str, Any]:
    return {
        "id": "andi.pratama",
        "name": "Andi Pratama",
        "email": "andi.pratama@bangka.go.id",
        "roles": ["admin"],
        "ssh_keys": [KEY],
    } | fields


def test_a_good_model_has_no_problems() -> None:
    people = [
        person(),
        person(id="budi", email="budi@bangka.go.id", second_factor="fido2", ssh_keys=[SK]),
        person(id="sari", email="sari@bangka.go.id", roles=["protocol_operator"], ssh_keys=[]),
    ]
    assert model.errors(people) == []


def test_every_problem_names_the_person_and_the_field() -> None:
    people = [
        person(roles=["admin", "superuser"], colour="blue"),
        person(id="root", email="root@bangka.go.id"),
        person(id="andi.pratama"),
        person(id="Bad Name"),
        person(
            id="cici", email="not-an-email", ssh_keys=["-----BEGIN OPENSSH " + "PRIVATE KEY-----"]
        ),
        person(id="dodi", email="dodi@bangka.go.id", roles=["backup_operator"], ssh_keys=[]),
        person(id="euis", email="euis@bangka.go.id", second_factor="fido2"),
        person(id="fajar", email="fajar@bangka.go.id", second_factor="sms"),
    ]
    problems = model.errors(people)
    expected = [
        "access_people[0] (andi.pratama).roles: unknown role 'superuser'",
        "access_people[0] (andi.pratama).colour: unknown field",
        "access_people[1] (root).id: 'root' is a system account",
        "access_people[2] (andi.pratama).id: also used by access_people[0]",
        "access_people[3].id: 'Bad Name' is not an account name",
        "access_people[4] (cici).email: an e-mail address is required",
        "access_people[4] (cici).ssh_keys[0]: a private key, never put it here",
        "access_people[5] (dodi).ssh_keys: an account (admin/backup_operator) needs a key",
        "access_people[6] (euis).ssh_keys: second_factor fido2 accepts only sk- (FIDO2) keys",
        "access_people[7] (fajar).second_factor: totp or fido2, not 'sms'",
    ]
    for message in expected:
        assert any(p.startswith(message) for p in problems), (message, problems)
    assert len(problems) == len(expected)


def test_accounts_signers_and_calendar_writers() -> None:
    people = [
        person(),
        person(
            id="dodi", email="dodi@bangka.go.id", roles=["backup_operator"], hosts=["file_servers"]
        ),
        person(id="sari", email="sari@bangka.go.id", roles=["protocol_coordinator"], ssh_keys=[]),
        person(id="vina", email="vina@bangka.go.id", roles=["viewer"], ssh_keys=[]),
    ]
    on_db = model.accounts(people, "db01", ["database_servers"])
    assert [a["id"] for a in on_db] == ["andi.pratama"]
    on_fs = model.accounts(people, "fs01", ["file_servers"])
    assert [(a["id"], a["admin"], a["operator"]) for a in on_fs] == [
        ("andi.pratama", True, False),
        ("dodi", False, True),
    ]
    assert on_fs[0]["second_factor"] == "totp" and on_fs[1]["second_factor"] == "none"
    assert model.allowed_signers(people) == [
        {"principal": "andi.pratama@bangka.go.id", "key": KEY},
        {"principal": "dodi@bangka.go.id", "key": KEY},
    ]
    writers = model.emails_with(people, model.CALENDAR_WRITER_ROLES)
    assert writers == ["andi.pratama@bangka.go.id", "sari@bangka.go.id"]


def test_totp_matches_rfc_6238() -> None:
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # noqa: S105 (RFC 6238 appendix B's key)
    assert totp.code(secret, at=59) == "287082"
    assert totp.code(secret, at=1111111109) == "081804"
    assert len(totp.new_secret()) == 32 and totp.new_secret() != totp.new_secret()
    text = totp.pam_file(secret)
    assert text.splitlines()[0] == secret and '" TOTP_AUTH' in text
    assert totp.uri(secret, "andi@bangka.go.id", "Kabupaten Bangka").startswith(
        "otpauth://totp/Kabupaten%20Bangka%3Aandi%40bangka.go.id?secret=" + secret
    )


def test_a_key_smuggling_a_second_line_is_refused_for_accounts_and_signers() -> None:
    """model.errors guards the accounts and the checklist's allowed signers: the same check as
    authorized_keys (bangka_ops.access.sshkeys), not only a known first word."""
    smuggled = KEY + '\nrestrict,command="sh" ' + KEY
    problems = model.errors([person(ssh_keys=[smuggled, "no-pty " + KEY])])
    assert [p.split(":")[0] for p in problems] == [
        "access_people[0] (andi.pratama).ssh_keys[0]",
        "access_people[0] (andi.pratama).ssh_keys[1]",
    ]
