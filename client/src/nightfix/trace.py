"""The per-run trace: every model turn, tool call, validated result, usage, timing, stop reason.

A trace is a JSONL file ``<traces.dir>/<run_id>.jsonl``; each line is one event with ``type``,
``ts`` and ``t`` (seconds since the run started). Event types:

- ``run_start``: ``run_id``, ``issue_id``, ``model``, ``policy`` (digest), ``tools`` (offered)
- ``model_turn``: ``step``, ``text``, ``tool_calls`` [{``id``, ``name``, ``input``, and
  ``invalid_arguments`` when the arguments were unusable}], ``usage`` (token counts, plus
  ``estimated: true`` when the server reported none and ``reported_usd`` when it priced the
  call), ``duration_s`` — exactly what :mod:`nightfix.models.replay` feeds back
- ``tool_call``: ``id``, ``name``, ``input``, ``decision`` (``allowed``/``denied``, or
  ``refused`` when its arguments were not a JSON object and it was not run)
- ``tool_result``: ``id``, ``name``, ``content`` (what the model saw), ``is_error``,
  ``duration_s``
- ``event``: anything else a run does (sandbox created, verification gate, delivery …)
- ``stop``: ``reason``, ``summary``, ``usage``, ``cost_usd``, ``tool_calls``, ``duration_s``

Everything is passed through the redactor before it is written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightfix.redaction import Redactor


class Trace:
    """Writes one run's trace, a line at a time, flushed as it goes."""

    def __init__(self, directory: str | Path, run_id: str, redactor: Redactor | None = None):
        self.path = Path(directory).expanduser() / f"{run_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._redactor = redactor or Redactor({})
        self._start = time.monotonic()
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, type_: str, **fields: Any) -> None:
        record = {
            "type": type_,
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "t": round(time.monotonic() - self._start, 4),
            **self._redactor.data(fields),
        }
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    """All events of a trace file, in order."""
    with Path(path).expanduser().open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def iter_events(events: list[dict[str, Any]], type_: str) -> Iterator[dict[str, Any]]:
    return (event for event in events if event.get("type") == type_)


def completeness_problems(events: list[dict[str, Any]]) -> list[str]:
    """What is missing for ``events`` to be a complete trace (empty list: complete).

    Complete means: starts with ``run_start``, ends with ``stop`` (carrying a reason), every
    allowed ``tool_call`` has its ``tool_result`` (unless the run stopped right at that call),
    and every tool call a model turn asked for was either traced or the run stopped first.
    """
    problems = []
    if not events or events[0].get("type") != "run_start":
        problems.append("does not start with run_start")
    if not events or events[-1].get("type") != "stop" or not events[-1].get("reason"):
        problems.append("does not end with a stop event carrying a reason")
    results = {e.get("id") for e in iter_events(events, "tool_result")}
    calls = [e for e in iter_events(events, "tool_call") if e.get("decision") == "allowed"]
    for index, call in enumerate(calls):
        last = index == len(calls) - 1
        if call.get("id") not in results and not last:
            problems.append(f"tool_call {call.get('id')} ({call.get('name')}) has no tool_result")
    return problems
