"""Logging that can neither block the collector nor take its signals."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import wait_for

from nightfix_errors.logs import MAX_LINE, NonBlockingStderrHandler


@pytest.fixture
def stalled_stderr() -> Iterator[tuple[int, int]]:
    """A pipe nobody reads (yet), standing in for stderr: (read end, write end)."""
    read_end, write_end = os.pipe()
    yield read_end, write_end
    os.close(read_end)
    os.close(write_end)


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, message, None, None)


def test_stalled_log_reader_cannot_block_the_caller(stalled_stderr: tuple[int, int]) -> None:
    read_end, write_end = stalled_stderr
    handler = NonBlockingStderrHandler(max_pending=100, fd=write_end)
    for n in range(5000):  # far past the pipe's 64 KiB: a blocking handler would hang here
        handler.handle(_record(f"event=rejected n={n} " + "x" * 200))
    assert handler.dropped > 0
    handler.flush()  # bounded, even though nothing drains
    os.set_blocking(read_end, False)
    seen = bytearray()

    def drained() -> bool:
        with contextlib.suppress(BlockingIOError):
            seen.extend(os.read(read_end, 1 << 20))
        return b"event=log_lines_dropped" in seen

    wait_for(drained, what="the dropped-lines notice once the reader drains")


def test_one_log_line_is_bounded(stalled_stderr: tuple[int, int]) -> None:
    read_end, write_end = stalled_stderr
    handler = NonBlockingStderrHandler(fd=write_end)
    handler.handle(_record("y" * 100_000))
    handler.flush()
    line = os.read(read_end, 1 << 20).decode()
    assert len(line) < MAX_LINE + 100 and "[cut 98000 chars]" in line


def test_log_thread_cannot_take_the_stop_signals(stalled_stderr: tuple[int, int]) -> None:
    """SIGTERM must reach the main thread, which blocks it while the collector forks."""
    NonBlockingStderrHandler(fd=stalled_stderr[1])
    (thread,) = [t for t in threading.enumerate() if t.name == "nightfix-log"][-1:]
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    blocked = int(next(x for x in status.splitlines() if x.startswith("SigBlk:")).split()[1], 16)
    for sig in (signal.SIGTERM, signal.SIGINT):
        assert blocked & (1 << (sig - 1)), sig.name
