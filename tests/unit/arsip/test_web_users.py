"""The search page's people: password hashes, the users file's checks, clearances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bangka_ops.access import model
from bangka_ops.arsip.web import users

HASH = users.hash_password("sandi-yang-panjang")


def person(**extra: object) -> dict[str, object]:
    return {"id": "budi", "nama": "Budi", "peran": ["archive_viewer"], "izin": "biasa",
            "sandi": HASH, **extra}  # fmt: skip


def test_a_password_checks_against_its_hash_only() -> None:
    assert users.check_password("sandi-yang-panjang", HASH)
    assert not users.check_password("sandi-yang-panjanG", HASH)
    assert not users.check_password("sandi-yang-panjang", "plain-text")
    assert users.hash_password("sandi-yang-panjang") != HASH  # salted
    with pytest.raises(users.UsersError, match="minimal 10"):
        users.hash_password("pendek")


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (person(izin="semua"), "izin"),
        (person(sandi="sandi-yang-panjang"), "sandi"),
        (person(id="Budi Santoso"), "id"),
        (person(peran="archive_viewer"), "peran"),
        (person(admin=True), "unknown field admin"),
        (person(peran=["viewer"]), "no archive access"),
        (person(sandi="scrypt$20$99$9$" + "A" * 24 + "$" + "B" * 44), "sandi"),
        (person(sandi="scrypt$15$8$1$" + "A" * 23 + "$" + "B" * 44), "sandi"),
    ],
)
def test_a_broken_users_file_names_the_field(
    tmp_path: Path, entry: dict[str, object], field: str
) -> None:
    path = tmp_path / "pengguna.json"
    path.write_text(json.dumps({"versi": 1, "pengguna": [entry]}))
    with pytest.raises(users.UsersError, match=field):
        users.Users(path).current()


def test_the_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "pengguna.json"
    path.write_text(json.dumps({"versi": 1, "pengguna": [person()]}))
    people = users.Users(path)
    assert people.authenticate("budi", "sandi-yang-panjang") is not None
    assert people.authenticate("budi", "salah-salah-salah") is None
    assert people.authenticate("tidak-ada", "sandi-yang-panjang") is None
    path.write_text(json.dumps({"versi": 1, "pengguna": [person(izin="rahasia")]}))
    user = people.get("budi")
    assert user is not None and user.classes == ("biasa", "terbatas", "rahasia")


def test_clearance_by_role_and_by_person() -> None:
    viewer = {"id": "a", "email": "a@b.go.id", "roles": ["archive_viewer"]}
    officer = {"id": "b", "email": "b@b.go.id", "roles": ["archive_officer"]}
    assert model.clearance(viewer) == "biasa"
    assert model.clearance(officer) == "terbatas"
    assert model.clearance({**officer, "clearance": "rahasia"}) == "rahasia"
    assert model.clearance({"id": "c", "email": "c@b.go.id", "roles": ["viewer"]}) is None
    problems = model.errors([{**viewer, "clearance": "semua"}])
    assert problems == ["access_people[0] (a).clearance: one of biasa, terbatas, rahasia"]
    problems = model.errors([{"id": "c", "email": "c@b.go.id", "roles": ["viewer"],
                              "clearance": "rahasia"}])  # fmt: skip
    assert problems == [
        "access_people[0] (c).clearance: only for archive_viewer/archive_officer/admin"
    ]


def test_a_users_file_broken_while_running_keeps_the_last_good_list(tmp_path: Path) -> None:
    path = tmp_path / "pengguna.json"
    path.write_text(json.dumps({"versi": 1, "pengguna": [person()]}))
    people = users.Users(path)
    assert people.get("budi") is not None
    path.write_text('{"versi": 1, "pengguna": [')
    assert people.get("budi") is not None


ACCESS = [
    {"id": "budi", "name": "Budi", "roles": ["archive_viewer"]},
    {"id": "sari", "name": "Sari", "roles": ["archive_officer", "viewer"], "clearance": "rahasia"},
    {"id": "ani", "name": "Ani", "roles": ["archive_officer"]},
    {"id": "joko", "name": "Joko", "roles": ["protocol_operator"]},
]


def test_the_users_file_comes_from_the_roles_model_and_the_vault_hashes(tmp_path: Path) -> None:
    data, missing, problems = users.from_access(ACCESS, {"budi": HASH, "sari": HASH + "\n"})
    assert problems == []
    by_id = {p["id"]: p for p in data["pengguna"]}
    assert sorted(by_id) == ["budi", "sari"]  # joko has no archive role; ani has no hash yet
    assert missing == ["ani"]
    assert by_id["budi"]["izin"] == "biasa" and by_id["budi"]["peran"] == ["archive_viewer"]
    assert by_id["sari"]["izin"] == "rahasia" and by_id["sari"]["peran"] == ["archive_officer"]
    assert by_id["sari"]["sandi"] == HASH
    path = tmp_path / "pengguna.json"
    path.write_text(json.dumps(data))
    assert users.Users(path).authenticate("sari", "sandi-yang-panjang") is not None


@pytest.mark.parametrize(
    ("passwords", "named"),
    [
        ({"budi": "sandi-yang-panjang"}, "arsip_web_passwords.budi: not a password hash"),
        ({"joko": HASH}, "arsip_web_passwords.joko: nobody with an archive role"),
        ({"siapa": HASH}, "arsip_web_passwords.siapa"),
    ],
)
def test_a_bad_or_stray_hash_is_named_and_left_out(passwords: dict[str, str], named: str) -> None:
    data, _, problems = users.from_access(ACCESS, {"sari": HASH, **passwords})
    assert len(problems) == 1 and problems[0].startswith(named), problems
    assert [p["id"] for p in data["pengguna"]] == ["sari"]  # the file is still written


def test_a_person_removed_from_the_model_loses_the_login_though_the_vault_keeps_the_hash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pengguna.json"
    data, _, _ = users.from_access(ACCESS, {"budi": HASH, "sari": HASH})
    path.write_text(json.dumps(data))
    page = users.Users(path)
    assert page.authenticate("budi", "sandi-yang-panjang") is not None
    without_budi = [p for p in ACCESS if p["id"] != "budi"]
    data, _, problems = users.from_access(without_budi, {"budi": HASH, "sari": HASH})
    assert problems and "arsip_web_passwords.budi" in problems[0]
    path.write_text(json.dumps(data) + "\n")
    assert page.get("budi") is None
    assert page.authenticate("budi", "sandi-yang-panjang") is None
    assert page.authenticate("sari", "sandi-yang-panjang") is not None


@pytest.mark.parametrize(
    ("person", "named"),
    [
        ({"id": "x y", "roles": ["archive_viewer"]}, "access_people[4].id: 'x y'"),
        ({"id": 7, "roles": ["archive_viewer"]}, "access_people[4].id: 7"),
        ({"id": "budi", "roles": ["archive_officer"]}, "access_people[4].id: budi appears"),
        ({"id": "tono", "name": ["T"], "roles": ["archive_viewer"]}, "access_people[4].name"),
    ],
)
def test_a_bad_person_in_the_roles_model_is_named_by_its_place(
    person: dict[str, object], named: str
) -> None:
    data, _, problems = users.from_access([*ACCESS, person], {"budi": HASH})
    assert len(problems) == 1 and problems[0].startswith(named), problems
    # A doubled id: neither entry logs in (which clearance was meant is unknown).
    expected = [] if person["id"] == "budi" else ["budi"]
    assert [p["id"] for p in data["pengguna"]] == expected
