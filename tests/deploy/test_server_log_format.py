"""Every nightfix process logs the same way: JSON lines (ts, level, logger, msg) when stderr is
not a terminal, a short human line on a terminal (a real pseudo-terminal here).

Each server's own logging setup is called in a fresh interpreter, as its command calls it."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

SETUPS = {
    "nightfix_errors": "from nightfix_errors.logs import setup_logging, flush_logs\n"
    "setup_logging('info')\n",
    "nightfix_github": "from nightfix_github.cli import _setup_logging\n_setup_logging('info')\n",
    "nightfix_sandbox": "from nightfix_sandbox.cli import _setup_logging\n_setup_logging(False)\n",
}
EMIT = "import logging\nlogging.getLogger('{logger}.x').warning('event=probe n=%d', 3)\n"
FLUSH = "flush_logs()\n"


def script(package: str) -> str:
    tail = FLUSH if package == "nightfix_errors" else ""
    return SETUPS[package] + EMIT.format(logger=package) + tail


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "NIGHTFIX_LOG_FORMAT"}


@pytest.mark.parametrize("package", sorted(SETUPS))
def test_server_logs_json_lines_off_a_terminal(package: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", script(package)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    probe = [r for r in records if r["logger"] == f"{package}.x"]
    assert len(probe) == 1, proc.stderr
    assert {k: probe[0][k] for k in ("level", "msg")} == {
        "level": "warning",
        "msg": "event=probe n=3",
    }
    assert set(probe[0]) == {"ts", "level", "logger", "msg"}


@pytest.mark.parametrize("package", sorted(SETUPS))
def test_server_logs_short_lines_on_a_terminal(package: str) -> None:
    master, slave = pty.openpty()
    try:
        subprocess.run(
            [sys.executable, "-c", script(package)],
            env=env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
            timeout=60,
            check=True,
        )
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other side is closed, everything was read
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    lines = [line for line in out.decode().splitlines() if f"{package}.x" in line]
    assert len(lines) == 1, out
    assert lines[0].split(" ", 1)[1] == f"WARNING {package}.x: event=probe n=3"
