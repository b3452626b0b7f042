"""The stored JSON form of an event (one place that knows it, for writer and reader).

orjson where it can (several times faster on the ingest hot path), the standard library as
the fallback for what orjson refuses (integers beyond 64 bits).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: bytes | str) -> Any:
    """JSON to Python; `ValueError` (with the parser's reason) for invalid JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "64-bit" not in str(exc):
            raise ValueError(str(exc)) from None
    try:
        return json.loads(data)
    except RecursionError:  # the collector checks depth first; this is the last guard
        raise ValueError("JSON nested too deeply") from None


def dump_event(data: dict[str, Any]) -> str:
    try:
        return orjson.dumps(data).decode()
    except TypeError:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def load_event(text: str) -> dict[str, Any]:
    value = loads(text)
    return value if isinstance(value, dict) else {}
