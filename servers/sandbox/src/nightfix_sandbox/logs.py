"""Log lines on stderr (stdout is the MCP protocol): JSON for machines, short lines for people.

Off a terminal (a service under systemd or Docker, a pipe) each record is one JSON object a
line: ``ts``, ``level``, ``logger``, ``msg`` (and ``exc``), the same fields as every nightfix
process. On a terminal: ``12:04:05 INFO  logger: msg``. ``NIGHTFIX_LOG_FORMAT=json`` or
``human`` chooses explicitly. (Each distribution keeps its own copy: none imports another.)
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import TextIO

FORMAT_ENV = "NIGHTFIX_LOG_FORMAT"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


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
