"""A real webhook receiver for the fault scenario: every POST body becomes one JSON line."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

OUT = Path(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with OUT.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(json.loads(body)) + "\n")
        self.send_response(204)
        self.end_headers()


ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()  # noqa: S104
