"""Verdicts by test id against a baseline (the SWE-bench way), from runs' structured reports.

Nothing a run says about itself is taken on trust: a report whose ``report_status`` is not
``ok`` (missing, not a regular file, unparsable, disagreeing with the runner's exit status or
summary) fails its check with that reason. Then:

- **baseline** — the suite on the base commit: which ids pass there. A suite that cannot run
  at all is a configuration problem, not a verdict on the fix.
- **suite** — with the fix, every id that passed on the base still passes (not skipped,
  xfailed, deselected or missing), and nothing fails that did not fail on the base.
- **regression** — each id the diff adds or changes fails on the original code plus the
  diff's test files *in the test body* (never an error at collection, import, fixture or
  setup; never a skip), and passes with the whole fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nightfix.autonomy.gate_errors import GateFailed

FAILING = ("failed", "error")
SHOWN = 8


@dataclass(frozen=True)
class Baseline:
    """Outcomes by test id on the base commit."""

    commit: str
    outcomes: dict[str, str]

    @property
    def passed(self) -> set[str]:
        return {i for i, o in self.outcomes.items() if o == "passed"}

    @property
    def failing(self) -> set[str]:
        return {i for i, o in self.outcomes.items() if o in FAILING}

    def counts(self) -> dict[str, int]:
        return _counts(self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "outcomes": self.outcomes}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Baseline:
        return cls(str(data["commit"]), dict(data["outcomes"]))


def trusted(report: dict[str, Any], check: str, what: str, *, configuration: bool = False) -> None:
    """Refuse a report that cannot be believed (``report_status`` other than ``ok``)."""
    status = report.get("report_status") or "missing"
    if status == "ok":
        return
    problem = report.get("report_problem") or status
    if status == "runner_error":
        said = f"the test run did not complete ({problem})"
    else:
        said = f"the test report cannot be trusted ({status}: {problem})" + _first_error(report)
    raise GateFailed(check, f"{what}: {said}", configuration=configuration)


def baseline_of(commit: str, report: dict[str, Any], advice: str) -> Baseline:
    """The base commit's outcomes, or a configuration error when the suite cannot run."""
    what = f"the test suite cannot run on the original code ({commit[:12]})"
    trusted(report, "baseline", what + f"; {advice}", configuration=True)
    outcomes = outcomes_of(report)
    if not outcomes:
        raise GateFailed("baseline", f"{what}: it ran no tests; {advice}", configuration=True)
    if not any(o == "passed" for o in outcomes.values()):
        raise GateFailed(
            "baseline",
            f"{what}: no test passes there{_first_error(report)}; {advice}",
            configuration=True,
        )
    return Baseline(commit, outcomes)


def outcomes_of(report: dict[str, Any]) -> dict[str, str]:
    return {str(r["test_id"]): str(r["outcome"]) for r in report.get("results") or []}


def check_suite(base: Baseline, report: dict[str, Any]) -> dict[str, Any]:
    """Every id passing on the base passes with the fix; nothing new fails."""
    trusted(report, "test_report", "the test suite with the fix")
    fix = outcomes_of(report)
    lost = sorted(i for i in base.passed if fix.get(i) != "passed")
    if lost:
        shown = ", ".join(f"{i} ({fix.get(i, 'missing')})" for i in lost[:SHOWN])
        raise GateFailed(
            "test_suite",
            f"{len(lost)} test(s) that pass on the base commit do not pass with the fix: {shown}",
        )
    broken = sorted(i for i, o in fix.items() if o in FAILING and i not in base.failing)
    if broken:
        raise GateFailed(
            "test_suite",
            f"{len(broken)} test(s) fail with the fix: {', '.join(broken[:SHOWN])}"
            + _first_error(report),
        )
    return {
        "base": base.counts(),
        "with_fix": _counts(fix),
        "pre_existing_failures": sorted(base.failing & {i for i, o in fix.items() if o in FAILING}),
    }


def check_regression(
    base: Baseline, before: dict[str, Any], after: dict[str, Any], exception: str | None
) -> dict[str, Any]:
    """The ids the diff adds or changes fail on the original code and pass with the fix."""
    trusted(before, "regression_test", "the regression tests on the original code")
    trusted(after, "regression_test", "the regression tests with the fix")
    results = {str(r["test_id"]): r for r in before.get("results") or []}
    fixed = outcomes_of(after)
    for test_id, r in results.items():
        if r["outcome"] == "error" and test_id not in base.failing:
            raise GateFailed(
                "regression_test",
                f"{test_id} errors on the original code instead of failing in the test body "
                f"({_message(r)}): an import, collection, fixture or setup error does not show "
                "the bug",
            )
    hidden = sorted(set(fixed) - set(results))
    if hidden:
        raise GateFailed(
            "regression_test",
            f"{', '.join(hidden[:SHOWN])} did not run on the original code, so nothing shows "
            "they catch the bug",
        )
    regression = sorted(
        i
        for i, r in results.items()
        if i not in base.outcomes or (i in base.passed and r["outcome"] != "passed")
    )
    if not regression:
        raise GateFailed(
            "regression_test",
            "the new or changed tests pass on the original code, so they do not catch the bug",
        )
    for test_id in regression:
        outcome = results[test_id]["outcome"]
        if outcome != "failed":
            said = "passes" if outcome == "passed" else f"is {outcome}"
            raise GateFailed(
                "regression_test",
                f"{test_id} {said} on the original code; a regression test must fail there, "
                "so that it shows the bug",
            )
        if fixed.get(test_id) != "passed":
            raise GateFailed(
                "regression_test",
                f"{test_id} does not pass with the fix ({fixed.get(test_id, 'missing')})",
            )
    raised = {i: results[i].get("exception") for i in regression}
    return {
        "regression_ids": regression,
        "failures_before": [
            {"test_id": i, "exception": raised[i], "message": _message(results[i])}
            for i in regression
        ],
        "production_exception": exception,
        "fails_with_production_exception": bool(exception)
        and any(e == exception for e in raised.values()),
    }


def _counts(outcomes: dict[str, str]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _message(result: dict[str, Any]) -> str:
    text = " ".join(str(result.get("message") or "").split())
    return text[:200] or str(result.get("exception") or "no message")


def _first_error(report: dict[str, Any]) -> str:
    """`` (first error: ModuleNotFoundError: No module named 'x')`` or ``""``."""
    for r in report.get("results") or report.get("failures") or []:
        if r.get("outcome") in FAILING:
            return f" (first error: {r['test_id']}: {_message(r)})"
    tail = str(report.get("output_tail") or "").strip().splitlines()
    return f" (output ends: {tail[-1][:200]})" if tail else ""
