"""All attempts of one ``nightfix eval``: plan them, run them in parallel, summarise."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

from nightfix.errors import NightfixError
from nightfix.evals.context import economy, offered_tools
from nightfix.evals.pipeline import Plan, run_attempt
from nightfix.evals.results import (
    Attempt,
    EvalReport,
    Kind,
    expectations,
    result_costs,
    summarise,
)
from nightfix.evals.scenarios import TRAJECTORIES, Scenario

EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_MODEL = 0, 1, 2, 3


def plans(
    scenarios: list[Scenario], model: str, repeat: int, workdir: Path, policies: Path
) -> list[Plan]:
    """``replay``: each scenario's reference and wrong trajectories; ``replay:DIR``: the
    recorded run ``DIR/<scenario>.jsonl``; anything else: the live model."""
    made = []
    for scenario in scenarios:
        for n in range(1, repeat + 1):
            if model == "replay":
                for kind in TRAJECTORIES:
                    path = scenario.trajectory(kind)
                    made.append(Plan(scenario, kind, f"replay:{path}", n, workdir, policies))  # type: ignore[arg-type]
            elif model.startswith("replay:"):
                recorded = Path(model.split(":", 1)[1]).expanduser() / f"{scenario.name}.jsonl"
                if not recorded.is_file():
                    raise NightfixError(
                        f"replay: no recorded run {recorded} (expected DIR/<scenario>.jsonl, "
                        "as `nightfix eval` writes under WORKDIR/recorded/<kind>/)"
                    )
                made.append(
                    Plan(scenario, "live", f"replay:{recorded}", n, workdir, policies, recorded)
                )
            else:
                made.append(Plan(scenario, "live", model, n, workdir, policies))
    return made


def run_all(
    todo: list[Plan], parallel: int, progress: Callable[[Plan, Attempt | None], None]
) -> list[Attempt]:
    """Run every plan, ``parallel`` at a time; ``progress`` hears each start and end."""
    attempts: list[Attempt] = []
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {}
        for plan in todo:
            futures[pool.submit(_one, plan, progress)] = plan
        for future in as_completed(futures):
            attempt = future.result()
            attempts.append(attempt)
            progress(futures[future], attempt)
            _record(futures[future], attempt)
    order = {(p.scenario.name, p.kind, p.repeat): i for i, p in enumerate(todo)}
    return sorted(attempts, key=lambda a: order[(a.scenario, a.kind, a.repeat)])


def _one(plan: Plan, progress: Callable[[Plan, Attempt | None], None]) -> Attempt:
    progress(plan, None)
    return run_attempt(plan)


def _record(plan: Plan, attempt: Attempt) -> None:
    """Keep the first repeat's trace as ``recorded/<kind>/<scenario>.jsonl`` (for replay:DIR)."""
    if attempt.trace and plan.repeat == 1:
        target = plan.workdir / "recorded" / plan.kind / f"{plan.scenario.name}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(attempt.trace, target)


def report(
    model: str,
    scenarios: list[Scenario],
    attempts: list[Attempt],
    repeat: int,
    started: datetime,
    wall_s: float,
    workdir: Path,
) -> EvalReport:
    kinds: list[Kind] = sorted({a.kind for a in attempts}, key=["reference", "wrong", "live"].index)
    summaries = [
        summarise(
            s.name, kind, [a for a in attempts if a.scenario == s.name and a.kind == kind], repeat
        )
        for kind in kinds
        for s in scenarios
    ]
    summaries += [
        summarise("total", kind, [a for a in attempts if a.kind == kind], repeat) for kind in kinds
    ]
    unexpected = expectations(attempts) if model == "replay" else _live_problems(attempts)
    context = None
    policy = next(workdir.glob("*/nightfix/policy.yaml"), None)
    if policy is not None:
        try:
            context = economy(asyncio.run(offered_tools(policy)), result_costs(attempts))
        except NightfixError as exc:
            unexpected.append(f"context economy: {exc}")
    false_accepts = [
        f"{a.scenario} ({a.kind} #{a.repeat})" for a in attempts if a.outcome == "false_accept"
    ]
    if model != "replay" and false_accepts:
        unexpected += [f"gate false accept: {label}" for label in false_accepts]
    return EvalReport(
        model=model,
        started_at=started.astimezone(UTC).isoformat(timespec="seconds"),
        wall_s=round(wall_s, 3),
        repeat=repeat,
        scenarios=[s.name for s in scenarios],
        attempts=attempts,
        summaries=summaries,
        gate_false_accepts=false_accepts,
        unexpected=unexpected,
        context=context,
        exit_code=EXIT_UNEXPECTED if unexpected else EXIT_OK,
    )


def _live_problems(attempts: list[Attempt]) -> list[str]:
    problems = [
        f"{a.scenario} (#{a.repeat}): harness error: {a.problem}"
        for a in attempts
        if a.outcome == "error"
    ]
    problems += [
        f"{a.scenario} (#{a.repeat}): replay drifted: {a.drift[0]}" for a in attempts if a.drift
    ]
    return problems


def now() -> tuple[datetime, float]:
    return datetime.now(UTC), time.monotonic()
