"""Structured logs on stderr (one JSON object a line), with secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from nightfix.redaction import Redactor


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


def setup(verbose: bool = False) -> None:
    """Send log records to stderr as JSON lines (stdout stays for results)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(Redactor.from_environ()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("nightfix").setLevel(logging.DEBUG if verbose else logging.INFO)
