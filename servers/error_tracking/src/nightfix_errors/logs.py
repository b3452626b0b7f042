"""Structured (key=value) logs on stderr: stdout belongs to the MCP protocol or to the DSN."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpx2", "mcp", "fastmcp", "docket"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
