"""One attempt: the whole pipeline for one scenario and one model, then the oracle."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nightfix import drift
from nightfix.errors import NightfixError
from nightfix.evals import world
from nightfix.evals.oracle import run_oracle
from nightfix.evals.results import Attempt, Kind, OracleResult, classify
from nightfix.evals.scenarios import Scenario
from nightfix.policy import ServerSpec
from nightfix.servers import ServerPool
from nightfix.trace import iter_events, read_trace

WATCH_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Plan:
    """What one attempt runs: a scenario, a model spec for ``watch``, and where."""

    scenario: Scenario
    kind: Kind
    model: str
    """``replay:PATH`` or a live provider spec, as ``nightfix watch --model`` takes it."""
    repeat: int
    workdir: Path
    policies: Path
    recorded: Path | None = None
    """With ``replay:DIR``: the recorded trace this attempt replays (for the drift)."""

    @property
    def label(self) -> str:
        return f"{self.scenario.name} {self.kind} #{self.repeat}"


def run_attempt(plan: Plan) -> Attempt:
    """Run ``plan``; a harness failure becomes an ``error`` attempt, never an exception."""
    started = time.monotonic()
    base = plan.workdir / f"{plan.scenario.name}-{plan.kind}-{plan.repeat}"
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    try:
        attempt = _run(plan, base)
    except Exception as exc:  # one attempt's failure is reported, the others still run
        known = isinstance(exc, NightfixError | OSError | subprocess.SubprocessError)
        text = str(exc).splitlines()[0][:300] if str(exc) else ""
        attempt = Attempt(
            scenario=plan.scenario.name,
            kind=plan.kind,
            repeat=plan.repeat,
            outcome="error",
            problem=text if known and text else f"{type(exc).__name__}: {text}",
        )
    return attempt.model_copy(update={"wall_s": round(time.monotonic() - started, 3)})


def _run(plan: Plan, base: Path) -> Attempt:
    scenario = plan.scenario
    repo = world.make_repo(scenario, base / "repo")
    errors_db = base / "errors.db"
    with world.Collector(errors_db, base / "collector.log") as collector:
        world.drive_traffic(scenario, repo, collector.dsn, base / "traffic.log")
        asyncio.run(wait_for_issue(errors_db, scenario))
    policy = world.write_policy(base / "nightfix", plan.policies, repo, errors_db, {})
    with (base / "watch.log").open("ab") as log:
        subprocess.run(
            [world.tool("nightfix"), "watch", "--once", "--model", plan.model],
            env={**os.environ, "NIGHTFIX_POLICY": str(policy)},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=WATCH_TIMEOUT_S,
            check=False,
        )
    run = _the_run(base / "nightfix" / "state.db", base / "watch.log")
    trace_path = base / "nightfix" / "traces" / f"{run['run_id']}.jsonl"
    events = read_trace(trace_path) if trace_path.exists() else []
    delivered = bool(run.get("pr_number")) and run.get("status") == "delivered"
    oracle: OracleResult | None = None
    if delivered:
        oracle = asyncio.run(
            run_oracle(
                world.tool("nightfix-sandbox"),
                repo,
                str(run["branch"]),
                scenario.oracle_files(),
                base / "oracle.log",
            )
        )
    return Attempt(
        scenario=scenario.name,
        kind=plan.kind,
        repeat=plan.repeat,
        outcome=classify(delivered, run.get("stop_reason"), oracle),
        delivered=delivered,
        stop_reason=run.get("stop_reason"),
        run_status=run.get("status"),
        branch=run.get("branch"),
        pr_number=run.get("pr_number"),
        oracle=oracle,
        cost_usd=float(run.get("cost_usd") or 0),
        time_to_pr_s=_seconds(run.get("started_at"), run.get("pr_opened_at")),
        trace=str(trace_path) if events else None,
        drift=_drift(plan.recorded, events) if plan.recorded else None,
        **usage_of(events),
    )


async def wait_for_issue(errors_db: Path, scenario: Scenario, timeout: float = 60) -> None:
    """Until the error server shows the scenario's issue with ``min_events`` events."""
    spec = ServerSpec(command=[world.tool("nightfix-errors"), "serve", "--db", str(errors_db)])
    async with ServerPool({"errors": spec}, errlog=subprocess.DEVNULL) as pool:
        deadline = time.monotonic() + timeout
        while True:
            page = await pool.call("errors", "list_issues", {"sort": "freq", "limit": 10})
            for issue in page.get("issues", []):
                if scenario.error_type in issue["title"] and issue["count"] >= scenario.min_events:
                    return
            if time.monotonic() > deadline:
                raise NightfixError(
                    f"no {scenario.error_type} issue with {scenario.min_events} events "
                    f"in {errors_db}; the traffic did not raise the production error"
                )
            await asyncio.sleep(0.3)


def _the_run(state_db: Path, log: Path) -> dict[str, Any]:
    from nightfix.autonomy.watch_state import WatchState

    if not state_db.exists():
        raise NightfixError(f"nightfix watch left no state; see {log}")
    state = WatchState.open(state_db)
    try:
        runs = state.runs()
    finally:
        state.close()
    if not runs:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise NightfixError(f"nightfix watch started no run: {' '.join(tail)} (see {log})")
    return dict(runs[-1])


def usage_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Tokens, tool calls and tool-result sizes of a run, from its trace."""
    tokens_in = tokens_out = 0
    estimated = False
    for turn in iter_events(events, "model_turn"):
        usage = turn.get("usage") or {}
        tokens_in += sum(
            int(usage.get(k, 0))
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        tokens_out += int(usage.get("output_tokens", 0))
        estimated = estimated or bool(usage.get("estimated"))
    sizes: dict[str, list[int]] = {}
    for result in iter_events(events, "tool_result"):
        sizes.setdefault(str(result.get("name")), []).append(len(str(result.get("content", ""))))
    return {
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "tokens_estimated": estimated,
        "tool_calls": sum(1 for _ in iter_events(events, "tool_call")),
        "tool_result_chars": sizes,
    }


def _drift(recorded: Path, live: list[dict[str, Any]]) -> list[str]:
    """How a replay's tool-call sequence and stop differ from the recording's (empty: none)."""
    old = read_trace(recorded)
    names = [str(e.get("name")) for e in iter_events(old, "tool_call")]
    new = [str(e.get("name")) for e in iter_events(live, "tool_call")]
    found = []
    if names != new:
        found.append(f"tool-call sequence: recorded {names} / replayed {new}")
    report = drift.compare(old, live)  # tool results differ by timestamps: not drift here
    found += [f"not replayed: {m}" for m in report.missing]
    if report.recorded_stop != report.live_stop:
        found.append(f"stop reason: recorded {report.recorded_stop} / replayed {report.live_stop}")
    return found


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
