"""The eval report's data (pydantic, stable field names) and its maths.

Outcome of one attempt, from what the pipeline saw:

* ``fixed`` — delivered, and the hidden oracle passed on the delivered branch;
* ``false_accept`` — delivered, but the oracle failed: the gate let a wrong fix through;
* ``refused`` — the verification gate refused the fix (``verification_failed:<check>``);
* ``no_fix`` — the run ended without a fix to deliver (``no_fix``, a budget, a model error…);
* ``error`` — the harness itself failed (traffic raised no error, a server did not start).

A gate **false refusal** is a ``reference`` attempt that was ``refused``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["fixed", "false_accept", "refused", "no_fix", "error"]
Kind = Literal["reference", "wrong", "live"]
"""Which trajectory an attempt ran: a scenario's reference or wrong script, or a live model
(a live model's recorded run replayed with ``replay:DIR`` counts as ``live``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OracleResult(_Model):
    passed: bool
    """Every oracle test ran and passed."""
    tests_passed: int = 0
    tests_failed: int = 0
    failures: list[str] = Field(default_factory=list)
    """Failing oracle test ids with their first message line."""
    problem: str | None = None
    """Why the oracle could not be believed or run (then ``passed`` is false)."""


class Attempt(_Model):
    scenario: str
    kind: Kind
    repeat: int = 1
    outcome: Outcome
    delivered: bool = False
    stop_reason: str | None = None
    run_status: str | None = None
    branch: str | None = None
    pr_number: int | None = None
    oracle: OracleResult | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_estimated: bool = False
    """True when the model's server reported no usage and the counts are estimates."""
    cost_usd: float = 0.0
    wall_s: float = 0.0
    """Traffic through delivery and the oracle."""
    time_to_pr_s: float | None = None
    """From the run's start to its pull request."""
    tool_calls: int = 0
    tool_result_chars: dict[str, list[int]] = Field(default_factory=dict)
    """Characters of each tool result, by tool (for the context-economy table)."""
    drift: list[str] | None = None
    """With ``replay:DIR``: how the replayed run's tool calls differ from the recording."""
    trace: str | None = None
    problem: str | None = None
    """What went wrong for ``error`` (one line)."""


def classify(delivered: bool, stop_reason: str | None, oracle: OracleResult | None) -> Outcome:
    """An attempt's outcome from its delivery, stop reason and oracle."""
    if delivered:
        return "fixed" if oracle is not None and oracle.passed else "false_accept"
    if stop_reason and stop_reason.startswith("verification_failed"):
        return "refused"
    return "no_fix"


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..1) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Unbiased pass@k (Chen et al. 2021): chance that at least one of ``k`` of the ``n``
    attempts, ``c`` of which succeeded, succeeds. ``None`` when ``n < k``."""
    if k < 1 or n < k:
        return None
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


class Summary(_Model):
    """Attempts of one scenario (or of all) with one kind of trajectory."""

    scenario: str
    """A scenario's name, or ``"total"``."""
    kind: Kind
    attempts: int
    delivered: int
    oracle_passed: int
    fix_rate: float
    """oracle_passed / attempts."""
    gate_false_accepts: int
    gate_false_refusals: int
    outcomes: dict[str, int]
    stop_reasons: dict[str, int]
    tokens_in: int
    tokens_out: int
    tokens_estimated: bool
    cost_usd: float
    wall_s: float
    tool_calls: int
    time_to_pr_p50_s: float | None
    time_to_pr_p95_s: float | None
    pass_at_1: float | None
    pass_at_k: float | None
    k: int


def summarise(scenario: str, kind: Kind, attempts: list[Attempt], k: int) -> Summary:
    """The summary of ``attempts`` (all of one kind); pass@k is the mean over scenarios."""
    outcomes = Counter(a.outcome for a in attempts)
    fixed = outcomes["fixed"]
    times = [a.time_to_pr_s for a in attempts if a.time_to_pr_s is not None]
    by_scenario: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        by_scenario.setdefault(attempt.scenario, []).append(attempt)

    def mean_pass(kk: int) -> float | None:
        values = [
            pass_at_k(len(group), sum(a.outcome == "fixed" for a in group), kk)
            for group in by_scenario.values()
        ]
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known and len(known) == len(values) else None

    return Summary(
        scenario=scenario,
        kind=kind,
        attempts=len(attempts),
        delivered=sum(a.delivered for a in attempts),
        oracle_passed=fixed,
        fix_rate=fixed / len(attempts) if attempts else 0.0,
        gate_false_accepts=outcomes["false_accept"],
        gate_false_refusals=outcomes["refused"] if kind == "reference" else 0,
        outcomes=dict(sorted(outcomes.items())),
        stop_reasons=dict(sorted(Counter(a.stop_reason or "none" for a in attempts).items())),
        tokens_in=sum(a.tokens_in for a in attempts),
        tokens_out=sum(a.tokens_out for a in attempts),
        tokens_estimated=any(a.tokens_estimated for a in attempts),
        cost_usd=round(sum(a.cost_usd for a in attempts), 6),
        wall_s=round(sum(a.wall_s for a in attempts), 3),
        tool_calls=sum(a.tool_calls for a in attempts),
        time_to_pr_p50_s=percentile(times, 0.5),
        time_to_pr_p95_s=percentile(times, 0.95),
        pass_at_1=mean_pass(1),
        pass_at_k=mean_pass(k),
        k=k,
    )


class ToolCost(_Model):
    tool: str
    tokens: int
    """Estimated tokens."""


class ResultCost(_Model):
    tool: str
    calls: int
    mean_tokens: int
    max_tokens: int


class ContextEconomy(_Model):
    estimate: str = "estimated: characters / 4 (no tokenizer is reachable offline)"
    tool_definitions: list[ToolCost]
    """Each tool offered to the model: name, description and input schema, as sent."""
    tool_definitions_total: int
    target: int = 3000
    over_target_by: int
    tool_results: list[ResultCost]


class EvalReport(_Model):
    """What ``nightfix eval --json`` writes."""

    version: int = 1
    model: str
    started_at: str
    wall_s: float
    repeat: int
    scenarios: list[str]
    attempts: list[Attempt]
    summaries: list[Summary]
    """Per scenario and kind, then ``total`` per kind."""
    gate_false_accepts: list[str]
    """``scenario (kind #repeat)`` of every attempt the gate let through wrongly."""
    unexpected: list[str]
    """Replay expectations that failed (a reference not fixed, a wrong fix the oracle
    passed, a harness error); empty for a good run."""
    context: ContextEconomy | None = None
    exit_code: int


def tokens(chars: int) -> int:
    """The estimate used throughout: about four characters per token."""
    return math.ceil(chars / 4)


def result_costs(attempts: list[Attempt]) -> list[ResultCost]:
    sizes: dict[str, list[int]] = {}
    for attempt in attempts:
        for tool, values in attempt.tool_result_chars.items():
            sizes.setdefault(tool, []).extend(values)
    return [
        ResultCost(
            tool=tool,
            calls=len(values),
            mean_tokens=tokens(sum(values) // len(values)),
            max_tokens=tokens(max(values)),
        )
        for tool, values in sorted(sizes.items())
        if values
    ]


def expectations(attempts: list[Attempt]) -> list[str]:
    """Replay expectations: every reference fixed; every wrong fix refused or caught."""
    problems = []
    for a in attempts:
        label = f"{a.scenario} ({a.kind} #{a.repeat})"
        if a.outcome == "error":
            problems.append(f"{label}: harness error: {a.problem}")
        elif a.kind == "reference" and a.outcome != "fixed":
            problems.append(f"{label}: reference not fixed ({a.outcome}, {a.stop_reason})")
        elif a.kind == "wrong" and a.outcome == "fixed":
            problems.append(f"{label}: the oracle passed a wrong fix (the oracle is too weak)")
    return problems
