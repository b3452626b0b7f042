"""Drift between a recorded trace and a replay of it against the live servers.

Tool results are compared call by call, in order, after normalising: JSON results have
fields that change on every run (timings, sandbox ids, timestamps) removed and durations
inside text (``0.17s``) masked; the rest must match. The report says which calls differ and
shows where each first differs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from nightfix.trace import iter_events

VOLATILE_KEYS = frozenset(
    {"duration_s", "sandbox_id", "created_at", "ts", "t", "workdir", "id", "event_id"}
)


@dataclass(frozen=True)
class CallDrift:
    index: int
    name: str
    recorded: str
    live: str

    def first_difference(self) -> str:
        old, new = self.recorded.splitlines(), self.live.splitlines()
        for number, (a, b) in enumerate(zip(old, new, strict=False), start=1):
            if a != b:
                at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), 0)
                start = max(at - 30, 0)
                return (
                    f"line {number}: recorded {a[start : at + 50]!r} / live {b[start : at + 50]!r}"
                )
        return f"recorded {len(old)} lines / live {len(new)} lines"


@dataclass(frozen=True)
class DriftReport:
    compared: int
    drifted: list[CallDrift]
    recorded_stop: str | None
    live_stop: str | None
    missing: list[str]

    @property
    def clean(self) -> bool:
        return not self.drifted and not self.missing and self.recorded_stop == self.live_stop


TIMINGS = re.compile(r"\b\d+(?:\.\d+)?\s?(?:s|ms|seconds)\b")
"""Durations inside text (``3 passed in 0.17s``) differ on every run."""


def normalise(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return TIMINGS.sub("<time>", text)
    return json.dumps(_strip(data), sort_keys=True, indent=1)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, str):
        return TIMINGS.sub("<time>", value)
    return value


def compare(recorded: list[dict[str, Any]], live: list[dict[str, Any]]) -> DriftReport:
    """Compare the tool results and stop reasons of two traces."""
    old = list(iter_events(recorded, "tool_result"))
    new = list(iter_events(live, "tool_result"))
    drifted = []
    for index, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        ra, rb = normalise(str(a.get("content", ""))), normalise(str(b.get("content", "")))
        if ra != rb or a.get("is_error") != b.get("is_error"):
            drifted.append(CallDrift(index, str(a.get("name")), ra, rb))
    missing = [f"{e.get('name')} (call {i})" for i, e in enumerate(old[len(new) :], len(new) + 1)]
    stop_of = lambda events: next((e.get("reason") for e in iter_events(events, "stop")), None)  # noqa: E731
    return DriftReport(min(len(old), len(new)), drifted, stop_of(recorded), stop_of(live), missing)
