"""The stored JSON form of an event (one place that knows it, for writer and reader)."""

from __future__ import annotations

import json
from typing import Any


def dump_event(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def load_event(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}
