"""Structured logs on stderr: stdout belongs to the MCP protocol or to the DSN.

Off a terminal (a service under systemd or Docker, a pipe) each record is one JSON object a line
(``ts``, ``level``, ``logger``, ``msg``, ``exc``: the fields of every nightfix process), its
message keeping the ``event=… key=value`` words; on a terminal a short line
(``12:04:05 INFO  logger: msg``). ``NIGHTFIX_LOG_FORMAT=json`` or ``human`` chooses explicitly.

Logging never blocks the process: a record is formatted (and cut to `MAX_LINE` characters) on
the caller's thread and handed to a bounded queue that one daemon thread writes to stderr. When
whoever reads stderr is slow or stalled (a pipe nobody drains), the queue fills and further lines
are dropped and counted instead of blocking the event loop, which would then stop answering and
ignore SIGTERM. The writer uses its own unbuffered copy of the stderr descriptor, so a write
stuck in the kernel holds no lock that the interpreter needs at exit.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import BinaryIO, TextIO

MAX_LINE = 2000
"""Characters of one log line (a traceback included); the rest is cut with a marker."""
MAX_PENDING = 1000
"""Lines waiting for a stalled stderr before new ones are dropped."""
FORMAT_ENV = "NIGHTFIX_LOG_FORMAT"
FLUSH_SECONDS = 2.0
"""How long `flush()` (at exit) waits for pending lines to reach stderr."""


class NonBlockingStderrHandler(logging.Handler):
    """Formats on the caller's thread, writes on a daemon thread, drops when stderr stalls."""

    def __init__(self, max_pending: int = MAX_PENDING, fd: int | None = None) -> None:
        super().__init__()
        self._max_pending = max_pending
        self._fd = sys.stderr.fileno() if fd is None else fd
        self.dropped = 0
        self._start()
        os.register_at_fork(after_in_child=self._start)  # a forked worker needs its own thread

    def _start(self) -> None:
        self._queue: queue.Queue[bytes] = queue.Queue(self._max_pending)
        self._stream: BinaryIO = os.fdopen(os.dup(self._fd), "wb", buffering=0)
        thread = threading.Thread(target=self._drain, name="nightfix-log", daemon=True)
        # The thread starts with every signal blocked (it inherits this mask), so SIGTERM and
        # SIGINT always reach the main thread: the collector blocks them there while it forks
        # its workers, and a signal taken by this thread would run the handler mid-fork.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            thread.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a bad format string must not take the caller down
            line = f"level=ERROR logger={record.name} event=unformattable_log_record"
        if len(line) > MAX_LINE:
            line = f"{line[:MAX_LINE]}…[cut {len(line) - MAX_LINE} chars]"
        try:
            self._queue.put_nowait((line + "\n").encode("utf-8", "backslashreplace"))
        except queue.Full:
            self.dropped += 1

    def flush(self) -> None:
        """Wait (at most `FLUSH_SECONDS`) until pending lines are written; never longer."""
        done = self._queue.all_tasks_done
        with done:
            if self._queue.unfinished_tasks:
                done.wait(FLUSH_SECONDS)

    def _drain(self) -> None:
        reported = 0
        while True:
            data = self._queue.get()
            try:
                if self.dropped > reported:
                    missed = self.dropped - reported
                    reported = self.dropped
                    self._write(_dropped_line(missed))
                self._write(data)
            except (OSError, ValueError):
                pass  # stderr closed or broken: nothing left to tell
            finally:
                self._queue.task_done()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._stream.write(view)
            view = view[written or 0 :]


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``msg`` (and ``exc``), the same
    fields as every nightfix process."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _cut(record.getMessage()),
        }
        if record.exc_info:
            entry["exc"] = _cut(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _cut(text: str) -> str:
    """Cut a field, not the line, so a long record stays one valid JSON object."""
    limit = MAX_LINE // 3
    return text if len(text) <= limit else f"{text[:limit]}…[cut {len(text) - limit} chars]"


def formatter_for(stream: TextIO) -> logging.Formatter:
    """JSON unless `stream` is a terminal; ``$NIGHTFIX_LOG_FORMAT`` (json/human) decides first."""
    chosen = os.environ.get(FORMAT_ENV, "").strip().lower()
    if chosen not in ("json", "human"):
        try:
            chosen = "human" if stream.isatty() else "json"
        except (AttributeError, ValueError):  # replaced or closed stream: not a terminal
            chosen = "json"
    if chosen == "json":
        return JsonFormatter()
    return logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")


def _dropped_line(count: int) -> bytes:
    entry = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "warning",
        "logger": "nightfix_errors.logs",
        "msg": f"event=log_lines_dropped count={count}",
    }
    return (json.dumps(entry) + "\n").encode()


def setup_logging(level: str) -> None:
    handler: logging.Handler
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced in-process (a test runner)
        handler = logging.StreamHandler(sys.stderr)
    else:
        handler = NonBlockingStderrHandler()
    handler.setFormatter(formatter_for(sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings would write to stderr directly, and could block
    for noisy in ("uvicorn.access", "httpx", "httpx2", "mcp", "fastmcp", "docket"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def flush_logs() -> None:
    """Flush every root handler (bounded); a forked worker calls it, as it skips `atexit`."""
    for handler in logging.getLogger().handlers:
        handler.flush()
