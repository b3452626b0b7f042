"""Log lines on stderr: one JSON object a line when stderr is not a terminal, a short human
line on a terminal (a real pseudo-terminal here), secrets redacted in both."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

SECRET = "ghp_logformat_secret_value_123"
SCRIPT = """
import logging, os
from nightfix import logs
logs.setup()
log = logging.getLogger("nightfix.watch")
log.info("polled 3 issues with token %s", os.environ["GITHUB_TOKEN"])
log.debug("not shown without --verbose")
"""


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "NIGHTFIX_LOG_FORMAT"}
    return {**base, "GITHUB_TOKEN": SECRET, **extra}


def stderr_on_pipe(**extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env(**extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stderr


def stderr_on_tty(**extra: str) -> str:
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            env=env(**extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
            timeout=60,
            check=True,
        )
        assert proc.returncode == 0
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is closed, all was read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode().replace("\r\n", "\n")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_logs_are_json_lines_when_stderr_is_not_a_terminal() -> None:
    lines = stderr_on_pipe().splitlines()
    assert len(lines) == 1, lines
    record = json.loads(lines[0])
    assert record["level"] == "info" and record["logger"] == "nightfix.watch"
    assert record["msg"] == "polled 3 issues with token [REDACTED:GITHUB_TOKEN]"
    assert set(record) == {"ts", "level", "logger", "msg"}


def test_logs_are_short_human_lines_on_a_terminal() -> None:
    out = stderr_on_tty()
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert not lines[0].startswith("{")
    clock, rest = lines[0].split(" ", 1)
    assert len(clock) == 8 and clock.count(":") == 2  # HH:MM:SS
    assert rest == "INFO  nightfix.watch: polled 3 issues with token [REDACTED:GITHUB_TOKEN]"
    assert SECRET not in out


@pytest.mark.parametrize(("chosen", "is_json"), [("json", True), ("human", False)])
def test_nightfix_log_format_overrides_the_terminal_check(chosen: str, is_json: bool) -> None:
    out = stderr_on_tty(NIGHTFIX_LOG_FORMAT=chosen)
    assert out.lstrip().startswith("{") is is_json, out
    assert SECRET not in out
