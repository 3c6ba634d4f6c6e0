"""Benchmark: the digital archive's intake, search and memory.

Three parts, each printing figures and a ratio against a baseline measured in the same run:

  intake   --docs documents of --pages generated 300-DPI pages each (typed Indonesian letters,
           noise, slight rotation, JPEG in PDF). Baseline: ``ocrmypdf`` alone on the same PDFs with
           the intake's options (``-l ind+eng --output-type pdfa-2 --jobs 1 --skip-text``), one
           document per core at a time (both cores busy). Then the whole intake (sheet, hashes,
           scan check, OCR, PDF/A check, naming, fsync'd placing, catalogue and index) on the
           same documents. Prints pages per minute of both and the ratio (target <= 1.15).
  search   --index-docs synthetic catalogue entries (default 100,000) of about two pages of text
           each (a Zipf-distributed vocabulary of Indonesian words plus generated words, numbers
           and names), then --queries mixed queries (single words common and rare, two words,
           a word inside longer words, with and without filters): p50/p95 in ms (target p95 < 50)
           and the catalogue's size on disk. Baseline: the same queries with ``LIKE`` on the
           catalogue's plain metadata (what a search without an index costs).
  web      the staff's search page (gunicorn over TLS on loopback, one worker per core, 4
           threads each) over the search part's catalogue: --web-users concurrent logged-in
           users each running their share of the queries twice: p50/p95 per page (target p95 <
           200 ms). Baseline: the same searches one at a time in-process.
  upload   --upload-docs stored documents (PDF + evidence copy, --upload-kib KiB each, random
           content) to a real SFTP server on loopback (``rclone serve sftp``, as the tests use).
           Baseline: plain ``rclone copy --checksum`` of the same files to the same server in the
           same run. Then ``cekat arsip unggah`` (local SHA-256/MD5/SHA-1 check, copy, listing
           with hashes, marking) to a fresh folder: MB/s of both and the ratio (target <= 1.1);
           and one ``cekat arsip verifikasi`` (listing all, 10 downloaded and opened) for scale.
  memory   an intake of --memory-pages pages (default 1,000) in a child process: its peak
           resident memory (VmHWM) and the largest OCR child's (target: the intake's < 500 MB).

    .venv/bin/python bench/arsip.py [--parts intake,search,web,upload,memory] [--docs 8]
        [--pages 2] [--index-docs 100000] [--queries 200] [--upload-docs 200] [--upload-kib 1024]
        [--web-users 20] [--memory-pages 1000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from bangka_ops.arsip import catalogue as cat  # noqa: E402
from bangka_ops.arsip import config as configs  # noqa: E402
from bangka_ops.arsip import intake, ocr, samples  # noqa: E402

CONFIG = REPO / "examples" / "arsip" / "arsip.yml"
HEADER = "berkas,kode,jenis,nomor,tanggal,perihal,unit,halaman"


def make_inbox(inbox: Path, docs: int, pages: int, seed: int = 0) -> None:
    """``docs`` PDFs of ``pages`` pages and their sheet, generated two at a time."""
    inbox.mkdir(parents=True)

    def one(n: int) -> str:
        letter = samples.Letter(f"B/{n}/2025", f"Surat bench {n}", "5 Mei 2025", seed=seed + n)
        images = [samples.page(letter, angle=0.5 - (p % 3) * 0.5) for p in range(pages)]
        samples.pdf(images, inbox / f"dok-{n:05d}.pdf")
        return (
            f"dok-{n:05d}.pdf,UM.01.01,surat-masuk,B/{n}/2025,2025-05-05,Surat bench {n},"
            f"aptika,{pages}"
        )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(one, range(docs)))
    (inbox / "lembar.csv").write_text("\n".join([HEADER, *rows]) + "\n")


def ocrmypdf_alone(inbox: Path, out: Path, workers: int) -> float:
    out.mkdir()
    sources = sorted(inbox.glob("*.pdf"))

    def one(path: Path) -> None:
        subprocess.run(
            ocr.ocrmypdf_command(path, out / path.name, out / (path.stem + ".txt"), "ind+eng"),
            check=True,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, sources))
    return time.perf_counter() - start


def part_intake(args: argparse.Namespace, work: Path) -> None:
    config = configs.read(CONFIG)
    pages = args.docs * args.pages
    print(
        f"intake: {args.docs} documents x {args.pages} pages = {pages} pages, "
        f"{config.workers} workers"
    )
    inbox = work / "masuk"
    make_inbox(inbox, args.docs, args.pages)
    plain = ocrmypdf_alone(inbox, work / "plain", config.workers)
    start = time.perf_counter()
    report = intake.Intake(config, work / "arsip").run(inbox)
    full = time.perf_counter() - start
    stored = report.count("tersimpan")
    if stored != args.docs:
        raise SystemExit(f"intake stored {stored} of {args.docs}: {report.as_dict()}")
    print(f"  ocrmypdf alone : {plain:8.1f} s  {pages / plain * 60:7.1f} pages/min")
    print(f"  whole intake   : {full:8.1f} s  {pages / full * 60:7.1f} pages/min")
    print(f"  ratio intake/ocrmypdf = {full / plain:.3f}  (target <= 1.15)")


# The letters' own words (what a real office's text repeats), then generated rare ones.
VOCABULARY = list(samples.WORDS)


def synthetic_words(rng: random.Random, count: int) -> list[str]:
    syllables = ["ba", "ka", "ng", "pe", "ra", "si", "tu", "la", "me", "di", "ber", "an", "kan"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(count)]


SearchSet = tuple[Path, list[tuple[str, dict[str, object]]]]


def search_set(args: argparse.Namespace, work: Path, built: list[SearchSet] = []) -> SearchSet:  # noqa: B006 (made once per run)
    """The synthetic catalogue and the queries (made once, shared by the search and web parts)."""
    if not built:
        built.append(make_search_set(args, work))
    return built[0]


def make_search_set(args: argparse.Namespace, work: Path) -> SearchSet:
    rng = random.Random(15)  # noqa: S311 (test data)
    vocabulary = VOCABULARY + synthetic_words(rng, 5000)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf
    root = work / "cari"
    root.mkdir()
    catalogue = cat.Catalogue(root)
    catalogue.db.execute("PRAGMA synchronous=OFF")
    codes = ["UM.01.01", "PR.02.01", "KU.01.01", "KP.01.01", "HM.01.01", "PW.01"]
    units = ["sekretariat", "aptika", "ikp", "persandian"]
    start = time.perf_counter()
    for n in range(args.index_docs):
        words = rng.choices(vocabulary, weights, k=560)  # ~4,000 characters: two typed pages
        words[rng.randrange(560)] = (
            f"{rng.randint(100, 999)}/{rng.randint(1, 99)}/BKD/20{rng.randint(10, 25)}"
        )
        text = " ".join(words)
        kode = rng.choice(codes)
        meta = {
            "kode": kode,
            "jenis": "surat-masuk",
            "nomor": f"{n}/{kode}",
            "tanggal": dt.date(2010 + n % 16, 1 + n % 12, 1 + n % 28),
            "perihal": " ".join(rng.choices(vocabulary[:60], k=6)),
            "unit": rng.choice(units),
            "halaman": 2,
            "keamanan": "biasa",
        }
        catalogue.add(
            meta,
            cat.STORED,
            text=text,
            path=f"x/{n}.pdf",
            asli=f"x/{n}.asli.pdf",
            sumber_sha256=str(n),
            sumber="{}",
            batch="bench",
        )
    catalogue.db.execute("INSERT INTO teks(teks) VALUES ('optimize')")
    built = time.perf_counter() - start
    size = (root / cat.FILE).stat().st_size
    print(
        f"search: {args.index_docs} documents indexed in {built:.0f} s; catalogue "
        f"{size / 2**20:.0f} MiB ({size / max(1, args.index_docs) / 1024:.1f} KiB/document)"
    )
    queries: list[tuple[str, dict[str, object]]] = []
    for q in range(args.queries):
        kind = q % 5
        if kind == 0:
            queries.append((rng.choice(VOCABULARY), {}))  # a common word
        elif kind == 1:
            queries.append((rng.choice(vocabulary[1000:]), {}))  # a rare word
        elif kind == 2:
            queries.append((f"{rng.choice(VOCABULARY)} {rng.choice(vocabulary[200:])}", {}))
        elif kind == 3:
            queries.append(("anggaran", {"kode": "KU", "tahun": 2010 + q % 16}))
        else:
            queries.append((rng.choice(vocabulary[60:400]), {"unit": rng.choice(units)}))
    catalogue.close()
    return root, queries


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def part_search(args: argparse.Namespace, work: Path) -> None:
    root, queries = search_set(args, work)
    catalogue = cat.Catalogue(root)
    timings, baseline = [], []
    for text, filters in queries:
        t = time.perf_counter()
        catalogue.search(text, **filters)  # type: ignore[arg-type]
        timings.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        like = f"%{text.split()[0]}%"
        catalogue.db.execute(
            "SELECT id FROM item WHERE perihal LIKE ? OR nomor LIKE ? LIMIT 20", (like, like)
        ).fetchall()
        baseline.append((time.perf_counter() - t) * 1000)
    catalogue.close()
    p = pct
    print(
        f"  archive search      : p50 {p(timings, 50):6.1f} ms  p95 {p(timings, 95):6.1f} ms  "
        f"max {max(timings):6.1f} ms  (target p95 < 50 ms)"
    )
    print(f"  LIKE on metadata    : p50 {p(baseline, 50):6.1f} ms  p95 {p(baseline, 95):6.1f} ms")
    print(f"  ratio p95 search/LIKE = {p(timings, 95) / max(p(baseline, 95), 0.001):.2f}")


CHILD = """
import resource, sys
from pathlib import Path
sys.path.insert(0, {src!r})
from bangka_ops.arsip import config, intake
report = intake.Intake(config.read(Path({config!r})), Path({root!r})).run(Path({inbox!r}))
for line in Path("/proc/self/status").read_text().splitlines():
    if line.startswith("VmHWM"):
        print(line.split(":")[1].strip())
print(report.count("tersimpan"))
"""


def part_memory(args: argparse.Namespace, work: Path) -> None:
    docs = max(1, args.memory_pages // 2)
    inbox = work / "memori"
    make_inbox(inbox, docs, 2, seed=5000)
    code = CHILD.format(
        src=str(REPO / "src"), config=str(CONFIG), root=str(work / "arsip-m"), inbox=str(inbox)
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    hwm, stored = out.stdout.split()[0:2], out.stdout.split()[-1]
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"memory: a batch of {docs * 2} pages ({stored} documents stored) in {wall:.0f} s")
    print(f"  intake process peak (VmHWM): {int(hwm[0]) / 1024:.0f} MiB  (target < 500 MB)")
    print(f"  largest child process (OCR) : {children:.0f} MiB")


def serve(
    site: Path, root: Path, users: list[dict[str, object]]
) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn with the search page over TLS (a certificate of its own) on a free port."""
    (site / "pengguna.json").write_text(json.dumps({"versi": 1, "pengguna": users}))
    (site / "secret").write_text(os.urandom(32).hex())
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(site / "k"), "-out", str(site / "c")],
        check=True, capture_output=True,
    )  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BANGKA_ARSIP_ROOT": str(root), "BANGKA_ARSIP_CONFIG": str(CONFIG),
           "BANGKA_ARSIP_WEB_USERS": str(site / "pengguna.json"),
           "BANGKA_ARSIP_WEB_SECRET": str(site / "secret"), "BANGKA_ARSIP_WEB_STATE": str(site),
           "BANGKA_ARSIP_WEB_PROXIES": "0", "PYTHONPATH": str(REPO / "src")}  # fmt: skip
    workers = str(len(os.sched_getaffinity(0)))
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", workers,
         "--threads", "4", "--graceful-timeout", "5", "--certfile", str(site / "c"),
         "--keyfile", str(site / "k"),
         "bangka_ops.arsip.web.app:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import requests  # noqa: PLC0415

    for _ in range(300):
        try:
            requests.get(f"https://127.0.0.1:{port}/sehat", verify=False, timeout=2)  # noqa: S501
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    return server, port


def part_web(args: argparse.Namespace, work: Path) -> None:
    """The search page under --web-users concurrent users (each logged in, searching the same
    queries as the search part) against the same searches run one at a time in-process."""
    import requests  # noqa: PLC0415
    import urllib3  # noqa: PLC0415

    from bangka_ops.arsip.web.users import hash_password  # noqa: PLC0415

    urllib3.disable_warnings()
    root, queries = search_set(args, work)
    site = work / "web"
    site.mkdir()
    users: list[dict[str, object]] = [
        {"id": f"staf{n}", "nama": f"Staf {n}", "peran": ["archive_viewer"], "izin": "biasa",
         "sandi": hash_password(f"sandi-staf-{n}")}
        for n in range(args.web_users)
    ]  # fmt: skip
    server, port = serve(site, root, users)
    url = f"https://127.0.0.1:{port}"
    try:

        def user(n: int, pause: bool) -> list[float]:
            http = requests.Session()
            http.trust_env = False  # our own certificate: no CA bundle from the environment
            http.verify = False
            form = http.get(url + "/masuk").text
            token = form.split('name="csrf" value="')[1].split('"')[0]
            http.post(url + "/masuk", data={"csrf": token, "akun": f"staf{n}",
                                            "sandi": f"sandi-staf-{n}"})  # fmt: skip
            spent = []
            think = random.Random(n)  # noqa: S311 (test timing)
            for text, filters in queries[n :: args.web_users] * 2:
                if pause:  # a person reads the results before the next search
                    time.sleep(think.uniform(0.5, 1.5))
                t = time.perf_counter()
                params: dict[str, Any] = {"q": text, **filters}
                page = http.get(url + "/", params=params)
                spent.append((time.perf_counter() - t) * 1000)
                assert page.status_code == 200 and "results" in page.text, page.status_code
            return spent

        runs = {}
        for pause in (True, False):
            with concurrent.futures.ThreadPoolExecutor(args.web_users) as pool:
                users_ = range(args.web_users)
                done = pool.map(user, users_, [pause] * args.web_users)
                runs[pause] = [t for ts in done for t in ts]
    finally:
        server.terminate()
        server.wait(timeout=20)
    alone = []
    with cat.Catalogue(root, readonly=True) as catalogue:
        for text, filters in queries:
            t = time.perf_counter()
            catalogue.search(text, **filters)  # type: ignore[arg-type]
            alone.append((time.perf_counter() - t) * 1000)
    timings, stress = runs[True], runs[False]
    print(f"web: {args.web_users} concurrent users, {len(timings)} searches through the page")
    print(f"  search page         : p50 {pct(timings, 50):6.1f} ms  p95 {pct(timings, 95):6.1f} ms"
          "  (0.5-1.5 s reading between searches; target p95 < 200 ms)")  # fmt: skip
    print(
        f"  same, back to back  : p50 {pct(stress, 50):6.1f} ms  p95 {pct(stress, 95):6.1f} ms"
        "  (no pause: every user searching all the time, with the client on the same cores)"
    )
    print(f"  search alone        : p50 {pct(alone, 50):6.1f} ms  p95 {pct(alone, 95):6.1f} ms")
    print(f"  ratio p95 page/search = {pct(timings, 95) / max(pct(alone, 95), 0.001):.2f}")


def part_upload(args: argparse.Namespace, work: Path) -> None:
    # The tests' storage server and stored documents (one definition of both).
    sys.path.insert(0, str(REPO))
    from tests.integration.arsip import storage  # noqa: PLC0415

    from bangka_ops.arsip import awan, verification  # noqa: PLC0415

    root = work / "unggah"
    storage.stored_items(root, args.upload_docs, pages=1, padding=args.upload_kib * 1024)
    files = sorted(p for p in (root / "dokumen").rglob("*.pdf"))
    total = sum(p.stat().st_size for p in files)
    (work / "server").mkdir()
    server = storage.make_storage(work / "server")
    try:
        config_path = storage.write_config(server, work / "etc")
        config = configs.read(config_path)
        assert config.cloud is not None
        start = time.perf_counter()
        subprocess.run(
            ["rclone", "--config", str(config.cloud.rclone_config), "copy", "--checksum",
             "--transfers", str(config.cloud.transfers), str(root / "dokumen"),
             "penyimpanan:polos/dokumen"],
            check=True,
        )  # fmt: skip
        plain = time.perf_counter() - start
        start = time.perf_counter()
        report = awan.upload(config, root)
        ours = time.perf_counter() - start
        assert report.uploaded == len(files), report.as_dict()
        start = time.perf_counter()
        checked = verification.verify(config, root, sample=10)
        verify_time = time.perf_counter() - start
        assert checked.ok, checked.as_dict()
    finally:
        server.stop()
    mb = total / 1e6
    print(f"upload: {len(files)} files, {mb:.1f} MB to rclone serve sftp on loopback")
    print(f"  plain rclone copy   : {plain:6.2f} s  {mb / plain:7.1f} MB/s")
    print(f"  cekat arsip unggah  : {ours:6.2f} s  {mb / ours:7.1f} MB/s")
    print(f"  ratio unggah/rclone = {ours / plain:.3f} (target <= 1.1)")
    print(f"  cekat arsip verifikasi (listing {len(files)} + 10 downloaded): {verify_time:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="intake,search,web,upload,memory")
    parser.add_argument("--web-users", type=int, default=20)
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--index-docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--upload-docs", type=int, default=200)
    parser.add_argument("--upload-kib", type=int, default=1024)
    parser.add_argument("--memory-pages", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="work here and keep it")
    args = parser.parse_args()
    if shutil.which("ocrmypdf") is None:
        raise SystemExit("ocrmypdf is missing: run scripts/setup.sh")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-arsip-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BANGKA_AUDIT_LOG", str(work / "audit.jsonl"))
    try:
        parts = args.parts.split(",")
        if "intake" in parts:
            part_intake(args, work)
        if "search" in parts:
            part_search(args, work)
        if "web" in parts:
            part_web(args, work)
        if "upload" in parts:
            part_upload(args, work)
        if "memory" in parts:
            part_memory(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
