"""Test harness of nightfix-errors: a real collector subprocess, raw envelopes, CLI runs.

Imported by the tests (after `sys.path` gets this folder) and by `conftest.py`."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

BIN = Path(sys.executable).parent / "nightfix-errors"
# The steering repository's shared/ folder sits beside this checkout (locally and in CI).
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "sentry-samples"
HERE = Path(__file__).parent


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy (no timing asserted: the timeout only bounds a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, db: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NIGHTFIX_ERRORS_DB": str(db)}
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, env=env, check=check, timeout=60
    )


def envelope(
    event: dict[str, Any], extra_items: list[tuple[dict[str, Any], bytes]] | None = None
) -> bytes:
    """A Sentry envelope holding `event` (with explicit item length, as sentry-sdk writes it)."""
    payload = json.dumps(event).encode()
    lines = [
        json.dumps({"event_id": event.get("event_id"), "sent_at": "2026-01-01T00:00:00Z"}).encode(),
        json.dumps({"type": "event", "length": len(payload)}).encode(),
        payload,
    ]
    for header, body in extra_items or []:
        lines += [json.dumps(header).encode(), body]
    return b"\n".join(lines) + b"\n"


def python_event(**overrides: Any) -> dict[str, Any]:
    """A realistic Python event (sentry-sdk shape) with a fresh event_id."""
    event = json.loads((SAMPLES / "python-modern.json").read_text())
    event.pop("received", None)
    event["timestamp"] = time.time()
    event["event_id"] = uuid.uuid4().hex
    event.update(overrides)
    return event


@dataclass
class Collector:
    url: str
    port: int
    db: Path
    key: str
    project_id: int
    proc: subprocess.Popen[bytes]

    @property
    def dsn(self) -> str:
        return f"http://{self.key}@127.0.0.1:{self.port}/{self.project_id}"

    def post(
        self,
        body: bytes,
        *,
        kind: str = "envelope",
        encoding: str | None = "gzip",
        key: str | None = None,
        project_id: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        data = gzip.compress(body) if encoding == "gzip" else body
        hdrs = {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key or self.key}"}
        if encoding:
            hdrs["Content-Encoding"] = encoding
        hdrs.update(headers or {})
        pid = self.project_id if project_id is None else project_id
        return httpx2.post(f"{self.url}/api/{pid}/{kind}/", content=data, headers=hdrs, timeout=30)

    def stats(self) -> dict[str, int]:
        return dict(httpx2.get(f"{self.url}/healthz", timeout=10).json())

    def stored(self) -> int:
        """Events in the store (read from the file: each worker process has its own counters)."""
        import sqlite3

        with sqlite3.connect(self.db, timeout=30) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def wait_committed(self, n: int) -> None:
        wait_for(lambda: self.stored() >= n, what=f"{n} events committed")


def start_collector(db: Path, *extra: str) -> Collector:
    out = run_cli("project", "create", "app", "--url", "http://127.0.0.1:1", db=db)
    key_part, pid = out.stdout.strip().rsplit("/", 1)
    key = key_part.split("://", 1)[1].split("@", 1)[0]
    port = free_port()
    env = {**os.environ, "NIGHTFIX_ERRORS_DB": str(db)}
    proc = subprocess.Popen(
        [str(BIN), "collect", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"collector exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            return httpx2.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx2.HTTPError:
            return False

    wait_for(up, what="collector to listen")
    return Collector(url, port, db, key, int(pid), proc)


def stop_collector(c: Collector) -> str:
    if c.proc.poll() is None:
        c.proc.terminate()
        c.proc.wait(timeout=60)
    return c.proc.stderr.read().decode() if c.proc.stderr else ""


def fill_store(db: Path, raw_events: list[dict[str, Any]], project: str = "app") -> None:
    """Write events straight into a store, through the collector's own scrub/normalize/writer."""
    from nightfix_errors.db import connect_rw
    from nightfix_errors.ingest import WriterStats, write_batch
    from nightfix_errors.normalize import normalize_event
    from nightfix_errors.projects import create_project, get_project, list_projects
    from nightfix_errors.scrub import Scrubber

    conn = connect_rw(db)
    try:
        names = {p.name for p in list_projects(conn)}
        proj = get_project(conn, project) if project in names else create_project(conn, project)
        scrubber = Scrubber()
        batch = [(proj.id, normalize_event(scrubber.scrub(e))) for e in raw_events]
        write_batch(conn, batch, WriterStats())
    finally:
        conn.close()


def js_event(**overrides: Any) -> dict[str, Any]:
    event = json.loads((SAMPLES / "javascript.json").read_text())
    event["exception"] = event.pop("sentry.interfaces.Exception")
    event.update(platform="javascript", event_id=uuid.uuid4().hex, timestamp=time.time())
    event.update(overrides)
    return event
