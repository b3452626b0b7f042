"""Human-readable renderings of run records and traces (``nightfix runs`` / ``show``)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from nightfix.trace import completeness_problems


def runs_table(runs: list[dict[str, Any]]) -> str:
    header = (
        f"{'RUN':<24} {'ISSUE':<10} {'STOP REASON':<44} {'CALLS':>5} "
        f"{'TOKENS IN/OUT':>15} {'COST $':>8} {'SECONDS':>8}"
    )
    lines = [header]
    for run in runs:
        tokens = f"{run['input_tokens']}/{run['output_tokens']}"
        if run.get("tokens_estimated"):
            tokens = "~" + tokens  # the server reported no usage: estimated
        seconds = f"{run['duration_s']:.1f}" if run["duration_s"] is not None else "-"
        lines.append(
            f"{run['run_id']:<24} {str(run['issue_id'])[:10]:<10} "
            f"{(run['stop_reason'] or 'running')[:44]:<44} {run['tool_calls']:>5} "
            f"{tokens:>15} {run['cost_usd']:>8.4f} {seconds:>8}"
        )
    return "\n".join(lines)


def _short(value: Any, limit: int = 300) -> str:
    if isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):  # a JSON result reads better on one line
            value = json.loads(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"… (+{len(text) - limit} chars)"


def show_run(run: dict[str, Any], events: list[dict[str, Any]], full: bool = False) -> str:
    """A run record and its trace, one line or block per event."""
    limit = 10_000_000 if full else 300
    out = [
        f"run {run['run_id']}  issue {run['issue_id']}  model {run['model']}",
        f"stop reason: {run['stop_reason'] or 'running'}",
        f"tool calls {run['tool_calls']}, steps {run['steps']}, tokens "
        f"{run['input_tokens']} in / {run['output_tokens']} out, ${run['cost_usd']:.4f}, "
        f"{run['duration_s'] or 0:.1f}s",
        f"trace: {run['trace_path']}",
        "",
    ]
    for event in events:
        t, kind = f"[{event.get('t', 0):>8.2f}s]", event.get("type")
        if kind == "model_turn":
            out.append(
                f"{t} model turn {event.get('step')}: {_short(event.get('text') or '', limit)}"
            )
            for call in event.get("tool_calls", []):
                out.append(f"{'':12}→ {call['name']} {_short(call.get('input'), limit)}")
        elif kind == "tool_call" and event.get("decision") == "denied":
            out.append(f"{t} DENIED {event.get('name')}")
        elif kind == "tool_result":
            flag = "error" if event.get("is_error") else "ok"
            out.append(f"{t} ← {event.get('name')} [{flag}] {_short(event.get('content'), limit)}")
        elif kind == "event":
            fields = {k: v for k, v in event.items() if k not in {"type", "ts", "t", "name"}}
            out.append(f"{t} {event.get('name')} {_short(fields, limit)}")
        elif kind == "stop":
            out.append(
                f"{t} STOP {event.get('reason')} {_short(event.get('message') or '', limit)}"
            )
            if event.get("summary"):
                for key, value in event["summary"].items():
                    out.append(f"{'':12}{key}: {_short(value, limit)}")
    problems = completeness_problems(events)
    if problems:
        out.append("")
        out.append("trace incomplete: " + "; ".join(problems))
    if run.get("diff"):
        out += ["", "diff:", run["diff"] if full else _short(run["diff"], 2000)]
    return "\n".join(out)
