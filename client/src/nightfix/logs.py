"""Logs on stderr, with secrets redacted: JSON lines for machines, short lines for people.

When stderr is not a terminal (a service under systemd or Docker, a pipe, a file) every record
is one JSON object a line (``ts``, ``level``, ``logger``, ``msg``, ``exc``), ready for a log
collector. On a terminal a record is one short line (``12:04:05 INFO  nightfix.watch: msg``).
``NIGHTFIX_LOG_FORMAT=json`` or ``human`` overrides the choice (e.g. JSON on a terminal to
see what the service will write).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import TextIO

from nightfix.redaction import Redactor

FORMAT_ENV = "NIGHTFIX_LOG_FORMAT"


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self.redactor.text(json.dumps(entry, ensure_ascii=False))


class HumanFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: message`` (local time), a traceback below when there is one."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.text(super().format(record))


def wants_json(stream: TextIO) -> bool:
    """JSON unless `stream` is a terminal; ``$NIGHTFIX_LOG_FORMAT`` (json/human) decides first."""
    chosen = os.environ.get(FORMAT_ENV, "").strip().lower()
    if chosen in ("json", "human"):
        return chosen == "json"
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream: not a terminal
        return True


def setup(verbose: bool = False) -> None:
    """Send log records to stderr (stdout stays for results), JSON unless it is a terminal."""
    handler = logging.StreamHandler(sys.stderr)
    redactor = Redactor.from_environ()
    formatter = JsonFormatter(redactor) if wants_json(sys.stderr) else HumanFormatter(redactor)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("nightfix").setLevel(logging.DEBUG if verbose else logging.INFO)
