"""The report's maths on constructed attempts: fix rate, false accepts and refusals,
percentiles, pass@k, the replay expectations, and what the Markdown and SVG show."""

from __future__ import annotations

import json

import pytest

from nightfix.evals import render
from nightfix.evals.results import (
    Attempt,
    EvalReport,
    OracleResult,
    classify,
    expectations,
    pass_at_k,
    percentile,
    result_costs,
    summarise,
)

PASS = OracleResult(passed=True, tests_passed=5)
FAIL = OracleResult(passed=False, tests_passed=3, tests_failed=2, failures=["t::x: boom"])


def attempt(scenario: str, kind: str, outcome: str, **more: object) -> Attempt:
    delivered = outcome in ("fixed", "false_accept")
    defaults: dict[str, object] = {
        "delivered": delivered,
        "oracle": PASS if outcome == "fixed" else FAIL if delivered else None,
        "stop_reason": "verification_failed:regression_test"
        if outcome == "refused"
        else "completed"
        if delivered
        else "no_fix",
    }
    return Attempt(scenario=scenario, kind=kind, outcome=outcome, **{**defaults, **more})  # type: ignore[arg-type]


def test_classify_every_outcome():
    assert classify(True, "completed", PASS) == "fixed"
    assert classify(True, "completed", FAIL) == "false_accept"
    assert classify(True, "completed", None) == "false_accept"  # delivered, oracle never passed
    assert classify(False, "verification_failed:test_suite", None) == "refused"
    assert classify(False, "no_fix", None) == "no_fix"
    assert classify(False, None, None) == "no_fix"


def test_percentiles_interpolate():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 0.95) == pytest.approx(48.0)
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0  # unsorted input


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(5, 0, 1) == 0.0
    assert pass_at_k(5, 5, 3) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    assert pass_at_k(3, 3, 2) == 1.0
    assert pass_at_k(2, 1, 3) is None  # fewer attempts than k


def test_summary_counts_fix_rate_false_accepts_and_refusals():
    attempts = [
        attempt("a", "reference", "fixed", time_to_pr_s=10.0, tokens_in=100, tokens_out=10),
        attempt("b", "reference", "refused", tokens_in=50, tokens_out=5, cost_usd=0.25),
        attempt("c", "reference", "fixed", time_to_pr_s=30.0, tool_calls=4, cost_usd=0.5),
        attempt("d", "reference", "false_accept", time_to_pr_s=20.0),
    ]
    s = summarise("total", "reference", attempts, k=1)
    assert (s.attempts, s.delivered, s.oracle_passed) == (4, 3, 2)
    assert s.fix_rate == 0.5
    assert s.gate_false_accepts == 1
    assert s.gate_false_refusals == 1
    assert s.outcomes == {"false_accept": 1, "fixed": 2, "refused": 1}
    assert s.stop_reasons == {"completed": 3, "verification_failed:regression_test": 1}
    assert (s.tokens_in, s.tokens_out, s.tool_calls) == (150, 15, 4)
    assert s.cost_usd == 0.75
    assert s.time_to_pr_p50_s == 20.0
    assert s.time_to_pr_p95_s == pytest.approx(29.0)
    assert s.pass_at_1 == 0.5  # mean over the four scenarios: 1, 0, 1, 0


def test_a_wrong_trajectory_refused_is_not_a_false_refusal():
    s = summarise("x", "wrong", [attempt("x", "wrong", "refused")], k=1)
    assert s.gate_false_refusals == 0
    assert s.fix_rate == 0.0


def test_pass_at_k_over_repeats_is_the_mean_over_scenarios():
    attempts = [
        attempt("a", "live", "fixed", repeat=1),
        attempt("a", "live", "no_fix", repeat=2),
        attempt("a", "live", "no_fix", repeat=3),
        attempt("b", "live", "no_fix", repeat=1),
        attempt("b", "live", "no_fix", repeat=2),
        attempt("b", "live", "no_fix", repeat=3),
    ]
    s = summarise("total", "live", attempts, k=3)
    assert s.pass_at_1 == pytest.approx((1 / 3 + 0) / 2)
    assert s.pass_at_k == pytest.approx((1.0 + 0.0) / 2)


def test_estimated_tokens_are_marked():
    s = summarise("a", "live", [attempt("a", "live", "no_fix", tokens_estimated=True)], k=1)
    assert s.tokens_estimated


def test_replay_expectations():
    good = [
        attempt("a", "reference", "fixed"),
        attempt("a", "wrong", "refused"),
        attempt("b", "wrong", "false_accept"),  # the gate let it through: a fact, not a failure
    ]
    assert expectations(good) == []
    bad = [
        attempt("a", "reference", "refused"),
        attempt("b", "wrong", "fixed"),
        attempt("c", "reference", "error", problem="traffic failed"),
    ]
    problems = expectations(bad)
    assert len(problems) == 3
    assert "reference not fixed" in problems[0]
    assert "oracle passed a wrong fix" in problems[1]
    assert "traffic failed" in problems[2]


def test_tool_result_costs_by_tool():
    attempts = [
        attempt("a", "reference", "fixed", tool_result_chars={"sandbox.read_file": [400, 800]}),
        attempt("b", "reference", "fixed", tool_result_chars={"sandbox.read_file": [1200]}),
    ]
    [cost] = result_costs(attempts)
    assert (cost.tool, cost.calls, cost.mean_tokens, cost.max_tokens) == (
        "sandbox.read_file",
        3,
        200,
        300,
    )


def report_of(attempts: list[Attempt]) -> EvalReport:
    kinds = sorted({a.kind for a in attempts})
    names = sorted({a.scenario for a in attempts})
    summaries = [
        summarise(n, k, [a for a in attempts if a.scenario == n and a.kind == k], 1)  # type: ignore[arg-type]
        for k in kinds
        for n in names
    ]
    summaries += [summarise("total", k, [a for a in attempts if a.kind == k], 1) for k in kinds]  # type: ignore[arg-type]
    return EvalReport(
        model="replay",
        started_at="2026-11-30T01:00:00+00:00",
        wall_s=1.0,
        repeat=1,
        scenarios=names,
        attempts=attempts,
        summaries=summaries,
        gate_false_accepts=["b (wrong #1)"],
        unexpected=[],
        exit_code=0,
    )


def test_markdown_and_svg_show_the_outcomes(tmp_path):
    report = report_of(
        [
            attempt("a", "reference", "fixed"),
            attempt("a", "wrong", "refused"),
            attempt("b", "wrong", "false_accept"),
        ]
    )
    chart = render.write(report, tmp_path / "eval.md")
    text = (tmp_path / "eval.md").read_text()
    assert chart.name in text
    assert "## Gate false accepts: 1" in text
    assert "- b (wrong #1)" in text
    assert "`t::x: boom`" in text  # what the oracle caught
    svg = chart.read_text()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count("<rect") == 3 + 5  # one segment per outcome here, plus the legend
    assert "gate false accept: 1" in svg


def test_json_round_trips_with_stable_field_names():
    report = report_of([attempt("a", "reference", "fixed")])
    data = json.loads(report.model_dump_json())
    assert {"model", "attempts", "summaries", "gate_false_accepts", "exit_code"} <= set(data)
    assert {"fix_rate", "gate_false_accepts", "time_to_pr_p95_s", "pass_at_k"} <= set(
        data["summaries"][0]
    )
    assert EvalReport.model_validate(data) == report
