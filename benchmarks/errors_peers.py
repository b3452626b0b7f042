"""The two systems under test in `bench_errors.py`: `nightfix-errors` and Sentry's Spotlight.

Spotlight (`@spotlightjs/spotlight@4.11.8`, with `hono@4.12.25` beside it: newer hono releases
break its sidecar) is installed with npm into `benchmarks/.cache/spotlight/` when missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

HERE = Path(__file__).parent
CACHE = HERE / ".cache" / "spotlight"
SPOTLIGHT_PACKAGES = ["@spotlightjs/spotlight@4.11.8", "hono@4.12.25"]
NFE = str(Path(sys.executable).parent / "nightfix-errors")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f} s")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- Spotlight ------------------------------------------------------------------------------
def ensure_spotlight() -> Path:
    """The `spotlight` executable, installed with npm into the cache dir if missing."""
    exe = CACHE / "node_modules" / ".bin" / "spotlight"
    if exe.exists():
        return exe
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install Spotlight (apt-get install npm)")
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "package.json").write_text('{"name": "spotlight-bench", "private": true}\n')
    print(f"installing {' '.join(SPOTLIGHT_PACKAGES)} into {CACHE} ...", file=sys.stderr)
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", *SPOTLIGHT_PACKAGES],
        cwd=CACHE,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    return exe


def spotlight_version(exe: Path) -> str:
    pkg = exe.parent.parent / "@spotlightjs" / "spotlight" / "package.json"
    return str(json.loads(pkg.read_text())["version"])


@contextmanager
def spotlight_server(exe: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=CACHE,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        yield port
    finally:
        stop(proc)


async def spotlight_search_errors(exe: Path, post: Any) -> tuple[str, float]:
    """`spotlight mcp` over stdio: `post(port)` sends events to its sidecar, then the answer of
    `search_errors` (all text parts joined) and its latency in ms."""
    port = free_port()
    params = StdioServerParameters(command=str(exe), args=["mcp", "-p", str(port)], cwd=str(CACHE))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        wait_http(f"http://127.0.0.1:{port}/health")
        await asyncio.to_thread(post, port)
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        result = await session.call_tool("search_errors", {"filters": {"timeWindow": 3600}})
        ms = (time.perf_counter() - started) * 1000
    return "\n".join(getattr(c, "text", "") for c in result.content), ms


# -- nightfix-errors ------------------------------------------------------------------------
def create_project(db: Path, port: int) -> tuple[int, str]:
    """(project id, public key) of a new project, from the DSN `project create` prints."""
    out = subprocess.run(
        [NFE, "project", "create", "bench", "--db", str(db), "--url", f"http://127.0.0.1:{port}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    key = out.split("://", 1)[1].split("@", 1)[0]
    return int(out.rsplit("/", 1)[1]), key


@contextmanager
def collector(db: Path, port: int, max_queue: int = 10_000) -> Iterator[subprocess.Popen[Any]]:
    proc = subprocess.Popen(
        [NFE, "collect", "--db", str(db), "--port", str(port), "--max-queue", str(max_queue)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield proc
    finally:
        stop(proc)


def count_events(db: Path) -> int:
    with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def wait_count(db: Path, want: int, timeout: float = 120.0) -> float:
    """Seconds (perf_counter) at which the store holds `want` events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_events(db) >= want:
            return time.perf_counter()
        time.sleep(0.02)
    raise RuntimeError(f"the store holds {count_events(db)} events, expected {want}")


@contextmanager
def serve_session_params(db: Path) -> Iterator[StdioServerParameters]:
    yield StdioServerParameters(command=NFE, args=["serve", "--db", str(db)], env=dict(os.environ))
