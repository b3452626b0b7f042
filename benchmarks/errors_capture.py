"""Real `sentry-sdk` envelopes for the errors benchmark, and a keep-alive HTTP load generator.

`capture_envelopes()` runs `errors_sample_app.py` (the real SDK) against a local capture server
and keeps every envelope exactly as the SDK sent it to the DSN (gzip body, headers).
`variants()` gives each copy a fresh event id (so no receiver can deduplicate them) and
re-encodes it with the SDK's own encoding, all before any clock starts. `post_all()` sends
prepared requests over N concurrent keep-alive connections and counts the answers.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import brotli

HERE = Path(__file__).parent


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: bytes


def capture_envelopes(count: int) -> list[Captured]:
    """Envelopes the real SDK sends for `count` exceptions of the sample app (DSN side)."""
    got: list[Captured] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append(Captured(self.path, dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    dsn = f"http://benchkey@127.0.0.1:{port}/1"
    spotlight = f"http://127.0.0.1:{port}/stream"
    subprocess.run(
        [sys.executable, str(HERE / "errors_sample_app.py"), dsn, spotlight, str(count)],
        check=True,
        timeout=300,
    )
    server.shutdown()
    server.server_close()
    envelopes = [c for c in got if c.path.startswith("/api/1/envelope/")]
    if len(envelopes) < count * 0.9:
        raise RuntimeError(f"the SDK sent {len(envelopes)} envelopes for {count} errors")
    return envelopes


def decode(c: Captured) -> bytes:
    enc = c.headers.get("Content-Encoding", "identity")
    if enc == "gzip":
        return gzip.decompress(c.body)
    if enc == "br":
        return brotli.decompress(c.body)
    if enc == "deflate":
        return zlib.decompress(c.body)
    return c.body


def encode(raw: bytes, enc: str) -> bytes:
    if enc == "gzip":
        return gzip.compress(raw, compresslevel=9)
    if enc == "br":
        return brotli.compress(raw, quality=4)
    if enc == "deflate":
        return zlib.compress(raw)
    return raw


def event_of(c: Captured) -> dict[str, object]:
    """The event payload of an envelope (the item of type `event`)."""
    lines = decode(c).split(b"\n")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() and json.loads(line).get("type") == "event":
            return json.loads(lines[i + 1])  # type: ignore[no-any-return]
    raise ValueError("no event item in envelope")


def variants(base: list[Captured], total: int) -> list[Captured]:
    """`total` envelopes cycling over `base`, each with its own event id."""
    out = []
    for i in range(total):
        c = base[i % len(base)]
        raw = decode(c)
        old = json.loads(raw.split(b"\n", 1)[0])["event_id"].encode()
        raw = raw.replace(old, uuid.uuid4().hex.encode())
        enc = c.headers.get("Content-Encoding", "identity")
        out.append(Captured(c.path, c.headers, encode(raw, enc)))
    return out


def build_request(c: Captured, path: str, port: int, auth: str | None) -> bytes:
    headers = {
        "Host": f"127.0.0.1:{port}",
        "User-Agent": c.headers.get("User-Agent", "sentry.python"),
        "Content-Type": c.headers.get("Content-Type", "application/x-sentry-envelope"),
        "Content-Length": str(len(c.body)),
    }
    if c.headers.get("Content-Encoding"):
        headers["Content-Encoding"] = c.headers["Content-Encoding"]
    if auth:
        headers["X-Sentry-Auth"] = auth
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + c.body


@dataclass
class LoadResult:
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)

    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length, chunked, close = 0, False, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readline()).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, close


async def _worker(port: int, queue: list[bytes], result: LoadResult, retry_429: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while queue:
        request = queue.pop()
        writer.write(request)
        await writer.drain()
        status, close = await _read_response(reader)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status == 429 and retry_429:
            queue.insert(0, request)
            await asyncio.sleep(0.01)
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def post_all(port: int, requests: list[bytes], concurrency: int, retry_429: bool) -> LoadResult:
    """Send every request over `concurrency` keep-alive connections; time the whole batch."""
    queue = list(reversed(requests))
    result = LoadResult(0.0)

    async def run() -> None:
        await asyncio.gather(*(_worker(port, queue, result, retry_429) for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(run())
    result.seconds = time.perf_counter() - started
    return result
