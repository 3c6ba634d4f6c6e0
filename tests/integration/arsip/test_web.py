"""The staff's search page for real: an archive made by the real intake (OCR'd scans), served by
gunicorn over TLS on loopback, driven in Debian's headless chromium (Playwright). A viewer finds
a word that exists only in a scan's text and opens the PDF; a ``rahasia`` item is out of a
viewer's reach by search, by the records list and by guessing its URL."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.arsip import samples
from bangka_ops.arsip.web.users import hash_password
from tests.integration.arsip.helpers import cekat

pytestmark = pytest.mark.skipif(
    shutil.which("ocrmypdf") is None or shutil.which("chromium") is None,
    reason="needs ocrmypdf and chromium (scripts/setup.sh --test)",
)
PLAIN, SECRET = "mercusuar", "kepiting"  # pragma: allowlist secret (test accounts)
PASSWORDS = {"budi": "sandi-budi-panjang", "sari": "sandi-sari-panjang"}


@dataclass
class Site:
    url: str
    root: Path
    users: Path
    audit: Path
    ids: dict[str, int]  # keamanan -> item id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_users(path: Path, people: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"versi": 1, "pengguna": people}))
    tmp.replace(path)


PEOPLE = [
    {"id": "budi", "nama": "Budi Santoso", "peran": ["archive_viewer"], "izin": "biasa",
     "sandi": hash_password(PASSWORDS["budi"])},
    {"id": "sari", "nama": "Sari Dewi", "peran": ["archive_officer"], "izin": "rahasia",
     "sandi": hash_password(PASSWORDS["sari"])},
]  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("web")
    inbox, root = base / "masuk", base / "arsip"
    inbox.mkdir()
    lines = ["berkas,kode,jenis,nomor,tanggal,perihal,unit,halaman,keamanan"]
    for n, (keamanan, word) in enumerate(
        (("biasa", PLAIN), ("terbatas", None), ("rahasia", SECRET)), 1
    ):
        letter = samples.Letter(
            f"W/{n}/2025",
            "Laporan kegiatan",
            "2 Mei 2025",
            body_words=40,
            seed=90 + n,
            keyword=word,
        )
        samples.pdf([samples.page(letter)], inbox / f"web-{n}.pdf")
        lines.append(
            f"web-{n}.pdf,UM.01.01,surat-masuk,W/{n}/2025,2025-05-02,Laporan kegiatan "
            f"{keamanan},sekretariat,1,{keamanan}"
        )
    (inbox / "lembar.csv").write_text("\n".join(lines) + "\n")
    done = cekat(root, "masuk", str(inbox), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    ids = {row["baris"] - 1: row["id"] for row in json.loads(done.stdout)["baris"]}
    users, secret, state = base / "pengguna.json", base / "web-secret", base / "state"
    write_users(users, PEOPLE)
    secret.write_text(os.urandom(32).hex())
    state.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(base / "tls.key"), "-out", str(base / "tls.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    audit = base / "audit.jsonl"
    env = {
        **os.environ,
        "BANGKA_ARSIP_ROOT": str(root),
        "BANGKA_ARSIP_CONFIG": str(Path(__file__).parents[3] / "examples/arsip/arsip.yml"),
        "BANGKA_ARSIP_WEB_USERS": str(users),
        "BANGKA_ARSIP_WEB_SECRET": str(secret),
        "BANGKA_ARSIP_WEB_STATE": str(state),
        "BANGKA_ARSIP_WEB_PROXIES": "0",
        "BANGKA_AUDIT_LOG": str(audit),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "4", "--graceful-timeout", "5", "--certfile", str(base / "tls.crt"),
         "--keyfile",
         str(base / "tls.key"), "bangka_ops.arsip.web.app:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120  # a loaded CI machine starts workers slowly
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.1)
        yield Site(f"https://127.0.0.1:{port}", root, users, audit, {
            "biasa": ids[1], "terbatas": ids[2], "rahasia": ids[3]})  # fmt: skip
    finally:
        server.terminate()  # gunicorn waits up to --graceful-timeout for open connections
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox"]
        )
        yield launched
        launched.close()


def log_in(browser: Any, site: Site, who: str, password: str | None = None) -> Any:
    context = browser.new_context(ignore_https_errors=True, locale="id-ID")
    page = context.new_page()
    page.goto(site.url + "/")
    assert page.url.startswith(site.url + "/masuk")
    page.fill("#akun", who)
    page.fill("#sandi", password or PASSWORDS[who])
    page.click("form.login button[type=submit]")
    return page


def test_a_viewer_finds_a_word_only_in_the_scan_and_opens_the_pdf(browser: Any, site: Site) -> None:
    page = log_in(browser, site, "budi")
    assert page.url == site.url + "/"
    assert "Budi Santoso" in page.inner_text("header")
    page.fill("#q", PLAIN)
    page.click("form.search button[type=submit]")
    results = page.locator("ol.results > li")
    assert results.count() == 1
    assert page.inner_text("ol.results mark").lower() == PLAIN
    page.click("ol.results a:has-text('Buka PDF')")
    # chromium's PDF viewer: the response is the stored file, whole, inline.
    response = page.request.get(site.url + f"/dokumen/{site.ids['biasa']}/berkas")
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline")
    stored = next((site.root / "dokumen").rglob("*laporan-kegiatan-biasa.pdf"))
    assert response.body() == stored.read_bytes()
    download = page.request.get(site.url + f"/dokumen/{site.ids['biasa']}/berkas?unduh=1")
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["cache-control"] == "no-store"
    lines = [json.loads(line) for line in site.audit.read_text().splitlines()]
    assert any(a["action"] == "web_buka" and a["result"] == "ok" and a["actor"] == "budi"
               for a in lines)  # fmt: skip


def test_a_viewer_cannot_reach_a_secret_item_by_search_list_or_url(
    browser: Any, site: Site
) -> None:
    page = log_in(browser, site, "budi")
    page.goto(site.url + f"/?q={SECRET}")
    assert page.locator("ol.results > li").count() == 0
    page.goto(site.url + "/?q=laporan")
    listed = page.inner_text("ol.results")
    assert "rahasia" not in listed and "terbatas" not in listed and "biasa" in listed
    secret = site.ids["rahasia"]
    for path in (f"/dokumen/{secret}", f"/dokumen/{secret}/berkas",
                 f"/dokumen/{secret}/berkas?unduh=1"):  # fmt: skip
        response = page.request.get(site.url + path)
        missing = page.request.get(site.url + path.replace(str(secret), "99999"))
        assert response.status == 404 == missing.status
        assert response.body() == missing.body()  # not even its existence
        assert b"%PDF" not in response.body()
    page.goto(site.url + "/daftar/sekretariat/2025")
    assert "biasa" in page.inner_text("table.list") and "rahasia" not in page.inner_text(
        "table.list"
    )
    lines = [json.loads(line) for line in site.audit.read_text().splitlines()]
    assert any(a["action"] == "web_buka" and a["result"] == "refused" and a["actor"] == "budi"
               for a in lines)  # fmt: skip


def test_an_officer_with_clearance_finds_and_opens_it(browser: Any, site: Site) -> None:
    page = log_in(browser, site, "sari")
    page.goto(site.url + f"/?q={SECRET}")
    assert page.locator("ol.results > li").count() == 1
    response = page.request.get(site.url + f"/dokumen/{site.ids['rahasia']}/berkas")
    assert response.status == 200 and response.body().startswith(b"%PDF")


def test_without_a_session_everything_asks_to_log_in(browser: Any, site: Site) -> None:
    context = browser.new_context(ignore_https_errors=True)
    response = context.request.get(
        site.url + f"/dokumen/{site.ids['biasa']}/berkas", max_redirects=0
    )
    assert response.status == 302 and "/masuk" in response.headers["location"]
    page = context.new_page()
    page.goto(site.url + "/masuk")
    assert "Masuk" in page.inner_text("h1") and "Log in" in page.inner_text("h1")
    assert "default-src 'none'" in (page.request.get(site.url + "/masuk").headers[
        "content-security-policy"])  # fmt: skip


def test_a_form_without_its_token_is_refused(browser: Any, site: Site) -> None:
    context = browser.new_context(ignore_https_errors=True)
    response = context.request.post(
        site.url + "/masuk", form={"akun": "budi", "sandi": PASSWORDS["budi"]}
    )
    assert response.status == 400


def test_wrong_passwords_lock_the_account_for_a_while(browser: Any, site: Site) -> None:
    for _ in range(5):
        page = log_in(browser, site, "sari", "salah-salah-salah")
        assert "Akun atau sandi salah" in page.inner_text("main")
    page = log_in(browser, site, "sari")
    assert "Terlalu banyak percobaan gagal" in page.inner_text("main")
    assert page.url.startswith(site.url + "/masuk")
    # Other accounts are not locked out by it.
    assert log_in(browser, site, "budi").url == site.url + "/"
    (Path(site.users).parent / "state" / "web.sqlite").unlink()  # the next tests log sari in


def test_a_person_removed_from_the_model_is_out_at_the_next_request(
    browser: Any, site: Site
) -> None:
    page = log_in(browser, site, "budi")
    assert page.url == site.url + "/"
    write_users(site.users, [p for p in PEOPLE if p["id"] != "budi"])
    try:
        page.goto(site.url + f"/?q={PLAIN}")
        assert page.url.startswith(site.url + "/masuk")
    finally:
        write_users(site.users, PEOPLE)


def test_after_logging_in_only_a_page_of_this_site_is_next(browser: Any, site: Site) -> None:
    for target in ("/%09/evil.example", "//evil.example", "https://evil.example/",
                   "/\\evil.example"):  # fmt: skip
        context = browser.new_context(ignore_https_errors=True)
        page = context.new_page()
        page.goto(site.url + f"/masuk?lanjut={target}")
        page.fill("#akun", "budi")
        page.fill("#sandi", PASSWORDS["budi"])
        page.click("form.login button[type=submit]")
        assert page.url == site.url + "/", target
        context.close()


def test_logging_out_ends_a_copied_session_too(browser: Any, site: Site) -> None:
    page = log_in(browser, site, "budi")
    copy = browser.new_context(ignore_https_errors=True)
    copy.add_cookies(page.context.cookies())
    assert copy.request.get(site.url + "/", max_redirects=0).status == 200
    page.click("header form button[type=submit]")
    assert page.url.startswith(site.url + "/masuk")
    assert copy.request.get(site.url + "/", max_redirects=0).status == 302


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ("&tahun=20255", "tahun: '20255' bukan tahun"),
        ("&tahun=2025a", "tahun: '2025a' bukan tahun"),
        ("&kode=ZZ.99", "kode: 'ZZ.99' tidak ada dalam klasifikasi"),
        ("&jenis=surat-cinta", "jenis: 'surat-cinta' bukan jenis"),
        ("&unit=bulan", "unit: 'bulan' bukan unit"),
    ],
)
def test_a_filter_that_cannot_match_is_named_not_dropped(
    browser: Any, site: Site, filters: str, named: str
) -> None:
    page = log_in(browser, site, "budi")
    page.goto(site.url + f"/?q={PLAIN}" + filters)
    assert named in page.inner_text("p.error")
    assert page.locator("ol.results > li").count() == 0
    # The same search with good filters finds the letter.
    page.goto(site.url + f"/?q={PLAIN}&tahun=2025&kode=UM.01.01&jenis=surat-masuk&unit=sekretariat")
    assert page.locator("p.error").count() == 0
    assert page.locator("ol.results > li").count() == 1
