"""What the HTTP-door tests share: a server process on a free port, and a raw MCP request."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"},
        },
    }
).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_serving(proc: subprocess.Popen[bytes], port: int, what: str) -> None:
    """Until something accepts on ``port`` (bounded), or fail with the server's output."""
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"{what} did not serve HTTP:\n{out}") from None
            time.sleep(0.2)


def post_initialize(url: str, headers: dict[str, str]) -> tuple[int, str]:
    """POST an MCP ``initialize`` with ``headers``: the status and the body."""
    request = urllib.request.Request(
        url,
        data=INITIALIZE,
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
