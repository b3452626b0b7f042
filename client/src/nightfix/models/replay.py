"""Replay: model turns from a recorded trace or a hand-written trajectory, fed back in order.

Two inputs, one format of turn:

* a **trace** (``<run_id>.jsonl`` written by a run): its ``model_turn`` events;
* a **trajectory** (``.yaml``/``.yml``/``.json``), written by hand for tests and the demo —
  a list of turns, or a mapping with ``turns:``::

      turns:
        - text: "Reading the issue first."          # optional
          tool_calls:                                # optional
            - name: errors.get_issue
              input: {issue_id: "${issue_id}"}
        - tool_calls:
            - name: sandbox.run_tests
              input: {}
          usage: {input_tokens: 1200, output_tokens: 80}   # optional, counts toward budgets
        - tool_calls:
            - name: finish
              input: {root_cause: "...", fix: "...", tests_run: "...", confidence: high}

  ``${name}`` in a trajectory's strings is replaced from the variables the run provides
  (``issue_id``, ``sandbox_source``, ``ref``); unknown names stay as written. A tool call's
  ``id`` is optional. When the turns run out before ``finish``, the run stops with
  ``model_error`` (a replay cannot invent turns).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from nightfix.budgets import TOKEN_KEYS, Usage
from nightfix.errors import ModelError, TraceError
from nightfix.models import Message, ModelTurn, ToolCall, ToolSpec

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
USAGE_KEYS = {*TOKEN_KEYS, "estimated", "reported_usd"}


class ReplayModel:
    """A :class:`nightfix.models.Model` that answers with pre-recorded turns."""

    def __init__(self, turns: list[ModelTurn], source: str = "<turns>") -> None:
        self.name = f"replay:{source}"
        self.turns = turns
        self.position = 0

    @classmethod
    def from_file(cls, path: str | Path, variables: dict[str, str] | None = None) -> ReplayModel:
        return cls(load_turns(path, variables or {}), str(path))

    async def complete(
        self, system: str, messages: list[Message], tools: list[ToolSpec]
    ) -> ModelTurn:
        if self.position >= len(self.turns):
            raise ModelError(f"replay: no turn {self.position + 1} in {self.name} (ran out)")
        turn = self.turns[self.position]
        self.position += 1
        return turn


def load_turns(path: str | Path, variables: dict[str, str]) -> list[ModelTurn]:
    """Turns from a trace (``.jsonl``) or a trajectory (``.yaml``/``.json``)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror}") from exc
    if path.suffix == ".jsonl":
        try:
            events = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise TraceError(f"{path}: not a JSONL trace: {exc}") from exc
        raw: Any = [e for e in events if e.get("type") == "model_turn"]
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise TraceError(f"{path}: not valid YAML/JSON: {exc}") from exc
        raw = data.get("turns") if isinstance(data, dict) else data
        raw = _substitute(raw, variables)
    if not isinstance(raw, list) or not raw:
        raise TraceError(f"{path}: no model turns found (expected a list of turns)")
    return [_turn(item, index, path) for index, item in enumerate(raw, start=1)]


def _turn(item: Any, index: int, path: Path) -> ModelTurn:
    where = f"{path}: turn {index}"
    if not isinstance(item, dict):
        raise TraceError(f"{where}: must be a mapping with text and/or tool_calls")
    unknown = set(item) - {
        "text",
        "tool_calls",
        "usage",
        "type",
        "ts",
        "t",
        "step",
        "duration_s",
        "stop_reason",
    }
    if unknown:
        raise TraceError(f"{where}: unknown key(s) {sorted(unknown)}")
    calls = []
    for n, call in enumerate(item.get("tool_calls") or [], start=1):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise TraceError(f"{where}: tool call {n} needs a 'name'")
        args = call.get("input", {})
        if not isinstance(args, dict):
            raise TraceError(f"{where}: tool call {n} 'input' must be a mapping")
        invalid = call.get("invalid_arguments")
        call_id = str(call.get("id") or f"call_{index}_{n}")
        reason = None if invalid is None else str(invalid)
        calls.append(ToolCall(call_id, call["name"], args, reason))
    text = item.get("text") or ""
    return ModelTurn(str(text), calls, _usage(item.get("usage") or {}, where))


def _usage(raw: Any, where: str) -> Usage:
    if not isinstance(raw, dict) or set(raw) - USAGE_KEYS:
        raise TraceError(f"{where}: usage takes only {sorted(USAGE_KEYS)}")
    try:
        counts = {k: int(v) for k, v in raw.items() if k in TOKEN_KEYS}
        price = raw.get("reported_usd")
        return Usage(
            **counts,
            estimated=bool(raw.get("estimated", False)),
            reported_usd=None if price is None else float(price),
        )
    except (TypeError, ValueError) as exc:
        raise TraceError(f"{where}: usage values must be numbers: {exc}") from exc


def _substitute(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    return value
