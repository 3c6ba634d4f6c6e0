"""The staff's search page (Flask; served by gunicorn behind nginx with TLS, see role ``arsip``).

Search with the filters of ``cekat arsip cari``, results with their snippet, each record, the PDF
to open or download, the Daftar Arsip per unit and year; Bahasa Indonesia first, English beside.

**Security class, server-side**: every query carries the person's classes (``keamanan IN …``)
and every document is looked up with them, so an item above a person's clearance is never listed,
counted, shown or served: a guessed URL gets the same 404 as an ID that does not exist (its
existence is not confirmed either); the attempt is an audit line. The catalogue is opened read
only (``mode=ro``, ``query_only``); the page never writes to the archive.

Sessions: a signed cookie (``Secure``, ``HttpOnly``, ``SameSite=Strict``) holding the account and
its login time; the person is looked up again at every request (a removed person or a lowered
clearance counts at once), 8 hours at most and 1 hour idle. Forms that change state (log in, log
out) carry a per-session token. Failed logins: 5 per account or 20 per address in 15 minutes
lock that account or address for 15 minutes (kept in a small SQLite file in the state
directory, shared by every worker). Every login, failure and document opened is an audit line.

Configuration (environment, set by the role's systemd unit): ``BANGKA_ARSIP_ROOT``,
``BANGKA_ARSIP_CONFIG``, ``BANGKA_ARSIP_WEB_USERS`` (``pengguna.json``),
``BANGKA_ARSIP_WEB_SECRET`` (a file with the cookie-signing key), ``BANGKA_ARSIP_WEB_STATE`` (a
writable directory), ``BANGKA_ARSIP_WEB_PROXIES`` (how many reverse proxies set
``X-Forwarded-*``: 1 behind nginx, 0 when reached directly).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import re
import secrets
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from werkzeug.middleware.proxy_fix import ProxyFix

from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip import config as configs
from bangka_ops.arsip import instruments
from bangka_ops.arsip.awan import DOCUMENTS
from bangka_ops.arsip.web.users import User, Users
from bangka_ops.backup.audit import audit

MAX_AGE = dt.timedelta(hours=8)
IDLE = dt.timedelta(hours=1)
WINDOW = 15 * 60
MAX_ACCOUNT_FAILURES, MAX_ADDRESS_FAILURES = 5, 20
PAGE = 20
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class Failures:
    """Failed logins in the last :data:`WINDOW` seconds, per account and per address, and each
    account's session generation, in a SQLite file every worker shares (deleting it lifts every
    lock at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self.db():
            pass

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS gagal (akun TEXT NOT NULL, alamat TEXT NOT NULL, "
                "waktu REAL NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS sesi (akun TEXT PRIMARY KEY, generasi INTEGER NOT NULL)"
            )
            yield db
        finally:
            db.close()

    def locked(self, account: str, address: str) -> bool:
        since = time.time() - WINDOW
        with self.db() as db:
            db.execute("DELETE FROM gagal WHERE waktu < ?", (since,))
            by_account = db.execute(
                "SELECT count(*) FROM gagal WHERE akun = ? AND waktu >= ?", (account, since)
            ).fetchone()[0]
            by_address = db.execute(
                "SELECT count(*) FROM gagal WHERE alamat = ? AND waktu >= ?", (address, since)
            ).fetchone()[0]
        return bool(by_account >= MAX_ACCOUNT_FAILURES or by_address >= MAX_ADDRESS_FAILURES)

    def generation(self, account: str) -> int:
        """The account's session generation: a logout raises it, ending every session made
        before (a copied cookie included)."""
        with self.db() as db:
            row = db.execute("SELECT generasi FROM sesi WHERE akun = ?", (account,)).fetchone()
        return int(row[0]) if row else 0

    def end_sessions(self, account: str) -> None:
        with self.db() as db:
            db.execute(
                "INSERT INTO sesi (akun, generasi) VALUES (?, 1) "
                "ON CONFLICT (akun) DO UPDATE SET generasi = generasi + 1",
                (account,),
            )

    def add(self, account: str, address: str) -> None:
        with self.db() as db:
            db.execute("INSERT INTO gagal VALUES (?, ?, ?)", (account, address, time.time()))

    def clear(self, account: str) -> None:
        with self.db() as db:
            db.execute("DELETE FROM gagal WHERE akun = ?", (account,))


def env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name, default))


@dataclass
class Site:
    """What every request needs: the archive, its configuration, the people, the failures."""

    root: Path
    settings: configs.Config
    people: Users
    failures: Failures


pages = Blueprint("arsip", __name__)


def site() -> Site:
    return current_app.extensions["arsip"]  # type: ignore[no-any-return]


def create_app(
    root: Path | None = None,
    config: Path | None = None,
    users: Path | None = None,
    secret: Path | None = None,
    state: Path | None = None,
) -> Flask:
    """The application; every argument defaults to its environment variable (module doc)."""
    config = config or env_path("BANGKA_ARSIP_CONFIG", "/etc/bangka-arsip/arsip.yml")
    users = users or env_path("BANGKA_ARSIP_WEB_USERS", "/etc/bangka-arsip/pengguna.json")
    secret = secret or env_path("BANGKA_ARSIP_WEB_SECRET", "/etc/bangka-arsip/web-secret")
    state = state or env_path("BANGKA_ARSIP_WEB_STATE", "/var/lib/bangka-arsip-web")
    people = Users(users)
    people.current()  # a broken users file stops the start, named
    key = secret.read_bytes().strip()
    if len(key) < 32:
        raise ValueError(f"{secret}: the cookie-signing key must have at least 32 bytes")
    settings = configs.read(config)
    app = Flask(__name__)
    app.extensions["arsip"] = Site(
        root or env_path("BANGKA_ARSIP_ROOT", "/var/lib/bangka-arsip"),
        settings,
        people,
        Failures(state / "web.sqlite"),
    )
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME="arsip_sesi",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=MAX_AGE,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    proxies = int(os.environ.get("BANGKA_ARSIP_WEB_PROXIES", "1"))
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    app.jinja_env.globals.update(config=settings, csrf_token=token)
    app.register_blueprint(pages)
    app.teardown_appcontext(close)
    app.after_request(headers)
    app.register_error_handler(404, lambda _: (render_template("galat.html.j2", code=404), 404))
    app.register_error_handler(400, lambda _: (render_template("galat.html.j2", code=400), 400))
    return app


def catalogue() -> cat.Catalogue:
    if "catalogue" not in g:
        g.catalogue = cat.Catalogue(site().root, readonly=True)
    return g.catalogue  # type: ignore[no-any-return]


def close(_: BaseException | None) -> None:
    opened = g.pop("catalogue", None)
    if opened is not None:
        opened.close()


def headers(response: Response) -> Response:
    response.headers.update(HEADERS)
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CSP
    return response


def current_user() -> User | None:
    uid, started, seen = session.get("uid"), session.get("t"), session.get("s")
    if not (isinstance(uid, str) and isinstance(started, float) and isinstance(seen, float)):
        return None
    now = time.time()
    if now - started > MAX_AGE.total_seconds() or now - seen > IDLE.total_seconds():
        session.clear()
        return None
    user = site().people.get(uid)
    if user is None or session.get("g") != site().failures.generation(uid):
        session.clear()  # removed from the roles model since, or logged out: out at once
        return None
    session["s"] = now
    return user


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            return redirect(url_for("arsip.login", lanjut=request.full_path.rstrip("?")))
        g.user = user
        return view(*args, **kwargs)

    return wrapped


def token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def check_token() -> None:
    sent = request.form.get("csrf", "")
    if not sent or not secrets.compare_digest(sent, str(session.get("csrf", ""))):
        abort(400)


@pages.get("/sehat")
def health() -> tuple[str, int]:
    catalogue().db.execute("SELECT 1 FROM item LIMIT 1").fetchall()
    return "ok\n", 200


@pages.route("/masuk", methods=["GET", "POST"])
def login() -> Any:
    target = safe_target(request.values.get("lanjut", ""))
    error = ""
    if request.method == "POST":
        check_token()
        error = attempt(target)
        if not error:
            return redirect(target)
    return render_template("masuk.html.j2", error=error, target=target), (401 if error else 200)


SAFE_TARGET = re.compile(r"^/(?![/\\])[A-Za-z0-9/_.~%?&=+,:;@!$'()*-]*$")


def safe_target(target: str) -> str:
    """Where to go after logging in: a path of this site only (no scheme, no host, no control
    or white-space character a browser would drop to make ``//elsewhere``), else the search."""
    parts = urllib.parse.urlsplit(target)
    if SAFE_TARGET.match(target) and not parts.scheme and not parts.netloc:
        return target
    return url_for("arsip.search")


def attempt(target: str) -> str:
    """One login: '' when it succeeded (the session is new), else why not."""
    account = request.form.get("akun", "").strip().lower()[:64]
    password = request.form.get("sandi", "")[:1024]
    address = request.remote_addr or "-"
    failures = site().failures
    if failures.locked(account, address):
        audit(
            "arsip", "web_masuk", "refused", actor=account or "-", alamat=address, alasan="locked"
        )
        return "locked"
    user = site().people.authenticate(account, password)
    if user is None:
        failures.add(account, address)
        audit("arsip", "web_masuk", "failed", actor=account or "-", alamat=address)
        return "wrong"
    failures.clear(account)
    session.clear()
    session.permanent = True
    now = time.time()
    generation = failures.generation(user.id)
    session.update(uid=user.id, t=now, s=now, g=generation, csrf=secrets.token_urlsafe(32))
    audit("arsip", "web_masuk", "ok", actor=user.id, alamat=address, ke=target[:200])
    return ""


@pages.post("/keluar")
@login_required
def logout() -> Any:
    check_token()
    audit("arsip", "web_keluar", "ok", actor=g.user.id)
    site().failures.end_sessions(g.user.id)
    session.clear()
    return redirect(url_for("arsip.login"))


def text_arg(name: str, limit: int = 60) -> str | None:
    return request.args.get(name, "").strip()[:limit] or None


def filter_problem(
    year: str, tahun: int | None, kode: str | None, jenis: str | None, unit: str | None
) -> str:
    """A filter that cannot match, named (a bad one is never dropped silently, which would
    show results from every year or code as if filtered)."""
    settings = site().settings
    if year and tahun is None:
        return f"tahun: {year!r} bukan tahun (4 angka) / not a year (4 digits)"
    if kode is not None and kode not in settings.codes:
        return f"kode: {kode!r} tidak ada dalam klasifikasi / not a classification code"
    if jenis is not None and jenis not in settings.types:
        return f"jenis: {jenis!r} bukan jenis arsip yang dikenal / not a known record type"
    if unit is not None and unit not in settings.units:
        return f"unit: {unit!r} bukan unit yang dikenal / not a known unit"
    return ""


@pages.get("/")
@login_required
def search() -> Any:
    query = request.args.get("q", "").strip()[:300]
    year = request.args.get("tahun", "").strip()[:20]
    tahun = int(year) if year.isdigit() and len(year) == 4 else None
    kode, jenis, unit = text_arg("kode", 40), text_arg("jenis"), text_arg("unit")
    hits: list[cat.Hit] = []
    problem = filter_problem(year, tahun, kode, jenis, unit)
    if query and not problem:
        try:
            hits = catalogue().search(
                query, kode=kode, tahun=tahun, jenis=jenis, unit=unit, limit=PAGE,
                keamanan=g.user.classes,
            )  # fmt: skip
        except cat.SearchError as exc:
            problem = str(exc)
    results = [{"item": h.item, "parts": h.parts} for h in hits]
    return render_template(
        "cari.html.j2",
        query=query,
        chosen={"kode": kode, "tahun": tahun, "jenis": jenis, "unit": unit},
        results=results,
        newest_first=any(h.newest_first for h in hits),
        problem=problem,
    )


def visible(item_id: int) -> dict[str, Any]:
    """The stored item, if this person may see it; else 404, the same as for no item."""
    item = catalogue().get(item_id)
    if item is None or item["status"] != cat.STORED:
        abort(404)
    if item["keamanan"] not in g.user.classes:
        audit(
            "arsip", "web_buka", "refused", actor=g.user.id, item=item_id,
            alasan=f"keamanan {item['keamanan']}",
        )  # fmt: skip
        abort(404)
    return item


@pages.get("/dokumen/<int:item_id>")
@login_required
def record(item_id: int) -> Any:
    item = visible(item_id)
    return render_template("dokumen.html.j2", item=item, history=catalogue().history(item_id))


@pages.get("/dokumen/<int:item_id>/berkas")
@login_required
def pdf(item_id: int) -> Any:
    item = visible(item_id)
    folder = (site().root / DOCUMENTS).resolve()
    path = (folder / item["path"]).resolve()
    if folder not in path.parents:
        abort(404)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        abort(404)
    download = request.args.get("unduh") == "1"
    audit(
        "arsip", "web_buka", "ok", actor=g.user.id, item=item_id, path=item["path"],
        unduh=download,
    )  # fmt: skip
    return send_file(
        os.fdopen(fd, "rb"),
        mimetype="application/pdf",
        as_attachment=download,
        download_name=Path(item["path"]).name,
        conditional=False,
        etag=False,
        max_age=0,
    )


@pages.get("/daftar")
@login_required
def lists() -> Any:
    marks = ", ".join("?" * len(g.user.classes))
    counts = (
        catalogue()
        .db.execute(
            "SELECT unit, tahun, count(*) FROM item WHERE status = ? "  # noqa: S608 (only ?s)
            f"AND keamanan IN ({marks}) GROUP BY unit, tahun ORDER BY unit, tahun DESC",
            (cat.STORED, *g.user.classes),
        )
        .fetchall()
    )
    return render_template("daftar.html.j2", counts=counts)


@pages.get("/daftar/<unit>/<int:tahun>")
@login_required
def records_list(unit: str, tahun: int) -> Any:
    settings = site().settings
    if unit not in settings.units:
        abort(404)
    items = catalogue().items(unit=unit, tahun=tahun, keamanan=g.user.classes)
    rows = [instruments.row_of(n, item, settings) for n, item in enumerate(items, 1)]
    return render_template("daftar_unit.html.j2", unit=unit, tahun=tahun, rows=rows)
