#!/usr/bin/python3
"""A staff member at the search page, the way a browser does it (tests only): TLS verified
against the office CA, log in through the form (with its token), search, open documents.

    page_check.py BASE CA ACCOUNT PASSWORD_FILE WORD [ID ...]

Prints JSON: the login's outcome, the item ids the search lists, and for every ID asked (and
every one listed) the status, content type and SHA-256 of /dokumen/<id>/berkas."""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

base, ca, account, password_file, word, *asked = sys.argv[1:]
context = ssl.create_default_context(cafile=ca)
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(
    urllib.request.HTTPSHandler(context=context), urllib.request.HTTPCookieProcessor(jar)
)


def get(path: str, data: dict[str, str] | None = None) -> tuple[int, str, bytes, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(base + path, body, timeout=30) as response:
            kind = response.headers.get_content_type()
            return response.status, kind, response.read(), response.url
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read(), base + path


status, _, page, _ = get("/masuk")
token = re.search(rb'name="csrf" value="([^"]+)"', page)
with open(password_file, encoding="utf-8") as handle:
    password = handle.read().strip()
status, _, page, url = get(
    "/masuk",
    {
        "csrf": token.group(1).decode() if token else "",
        "lanjut": "/",
        "akun": account,
        "sandi": password,
    },
)
logged_in = status == 200 and "/masuk" not in url
search_status, _, page, _ = get("/?" + urllib.parse.urlencode({"q": word}))
listed = sorted({int(i) for i in re.findall(rb'href="/dokumen/([0-9]+)"', page)})
opened = {}
for item in sorted({*listed, *(int(i) for i in asked)}):
    status, kind, body, _ = get(f"/dokumen/{item}/berkas")
    opened[item] = {
        "status": status,
        "type": kind,
        "sha256": hashlib.sha256(body).hexdigest(),
        "pdf": body.startswith(b"%PDF-"),
    }
result = {"login": logged_in, "search_status": search_status, "listed": listed}
print(json.dumps({**result, "opened": opened}))
