"""The world docs/quickstart.md assumes, made of local stand-ins.

"I have a repository on GitHub and a Sentry project": the repository is the checkout-service
example served by the GitHub stand-in (``tests/github/fake_github.py``, PyGithub talks to it
unchanged through ``--api-url``), and the Sentry project is the Sentry API stand-in
(``tests/error_tracking/fake_sentry.py``) holding the events that the service's real
``sentry-sdk`` sent while its traffic driver ran. Between the SDK and the stand-in sits
:class:`SentryIngest`, a small relay that accepts the SDK's envelopes at the DSN's address and
hands each event to ``FakeSentry.ingest`` (the stand-in has no ingest endpoint of its own).
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli

ROOT = Path(__file__).resolve().parents[2]
for folder in ("examples", "tests/github", "tests/error_tracking"):
    sys.path.insert(0, str(ROOT / folder))

import demo_env  # noqa: E402
from fake_github import TOKEN as GITHUB_TOKEN  # noqa: E402
from fake_github import FakeGitHub  # noqa: E402
from fake_sentry import FakeSentry  # noqa: E402

__all__ = [
    "GITHUB_TOKEN",
    "FakeGitHub",
    "FakeSentry",
    "SentryIngest",
    "demo_env",
    "envelope_events",
]

SENTRY_TOKEN = "sntryu_quickstart_stand_in_0123456789abcdef"
SENTRY_KEY = "0123456789abcdef0123456789abcdef"


def envelope_events(body: bytes, encoding: str) -> list[dict[str, Any]]:
    """The ``event`` items of one Sentry envelope (br/gzip/deflate/identity encoded)."""
    if encoding == "br":
        body = brotli.decompress(body)
    elif encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    elif encoding not in ("", "identity"):
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    events: list[dict[str, Any]] = []
    pos = body.find(b"\n") + 1  # past the envelope header
    while 0 < pos < len(body):
        end = body.find(b"\n", pos)
        end = len(body) if end < 0 else end
        if end == pos:
            pos += 1
            continue
        header = json.loads(body[pos:end])
        if "length" in header:
            payload = body[end + 1 : end + 1 + header["length"]]
            pos = end + 2 + header["length"]
        else:
            nxt = body.find(b"\n", end + 1)
            nxt = len(body) if nxt < 0 else nxt
            payload, pos = body[end + 1 : nxt], nxt + 1
        if header.get("type") == "event":
            events.append(json.loads(payload))
    return events


class SentryIngest:
    """Accepts ``POST /api/<project id>/envelope/`` from ``sentry-sdk`` and ingests each event
    into ``sentry`` under ``project`` (the way Sentry's own ingest feeds its issue API)."""

    def __init__(self, sentry: FakeSentry, project: str) -> None:
        relay = self
        self.sentry, self.project, self.received = sentry, project, 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                for event in envelope_events(body, encoding):
                    relay.sentry.ingest(event, relay.project)
                    relay.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.server.server_address[1]
        self.dsn = f"http://{SENTRY_KEY}@127.0.0.1:{port}/1"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
