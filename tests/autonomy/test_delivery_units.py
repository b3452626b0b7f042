"""Delivery rules checked with a recording stand-in for the github server."""

from pathlib import Path
from typing import Any

import pytest

from nightfix.autonomy import approvals, delivery
from nightfix.autonomy.watch_state import WatchState
from nightfix.errors import ToolCallError
from nightfix.policy import parse_policy

FIX = (Path(__file__).parents[2] / "examples/checkout-service/fix.patch").read_text()
EVIDENCE = {
    "base_commit": "a" * 40,
    "changed_files": ["checkout/db.py", "tests/test_pool.py"],
    "changed_lines": 25,
    "suite": {
        "command": "pytest",
        "exit_code": 0,
        "passed": 6,
        "failed": 0,
        "errors": 0,
        "report_status": "ok",
    },
    "verdict": {
        "base": {"passed": 5, "failed": 0, "error": 0, "skipped": 0},
        "with_fix": {"passed": 6, "failed": 0, "error": 0, "skipped": 0},
        "pre_existing_failures": [],
    },
    "regression": {
        "regression_ids": ["tests/test_pool.py::t"],
        "failures_before": [{"test_id": "tests/test_pool.py::t", "message": "Exhausted more"}],
        "production_exception": "ConnectionPoolExhausted",
        "fails_with_production_exception": True,
    },
    "regression_tests": ["tests/test_pool.py"],
    "before": {
        "failed": 1,
        "errors": 0,
        "failures": [{"test_id": "tests/test_pool.py::t", "message": "Exhausted\nmore"}],
    },
    "after": {"passed": 1, "failed": 0},
    "investigation": {"stop_reason": "completed"},
}


TREE = "c" * 40


class FakeGithub:
    def __init__(self, tree: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.tree = tree

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((tool, args))
        if tool == "list_commits":
            from nightfix.errors import ToolCallError

            raise ToolCallError("unknown ref")
        if tool == "open_pull_request":
            return {"number": 1, "url": "http://x/1", "state": "open", "draft": args["draft"]}
        if tool == "commit_patch":
            return {"commit": "d" * 40, "tree": self.tree or args["expected_tree"]}
        return {"name": args.get("name"), "commit": "b" * 40}


def claimed(state: WatchState, title: str = "ConnectionPoolExhausted: all 10 in use") -> str:
    state.claim(
        "r1",
        "7",
        "fp",
        max_concurrent=1,
        max_runs_per_day=5,
        trust_phase=2,
        decision="12 events in 10 min on transaction /checkout",
    )
    state.update(
        "r1",
        diff=FIX,
        base_commit="a" * 40,
        evidence=EVIDENCE,
        tree=TREE,
        summary={
            "root_cause": "pool of 10",
            "fix": "wait",
            "tests_run": ["a", "b"],
            "confidence": "high",
        },
        issue={
            "id": "7",
            "title": title,
            "count": 12,
            "user_count": 3,
            "first_seen": "t0",
            "last_seen": "t1",
            "project": "checkout",
        },
    )
    return "r1"


def policy(text: str):
    return parse_policy("trust_phase: 2\napprovals: {require: []}\n" + text)


async def test_daily_pull_request_limit_stops_before_any_write(state):
    run = claimed(state)
    github = FakeGithub()
    outcome = await delivery.Delivery(github, policy("watch: {max_prs_per_day: 0}"), state).deliver(
        run
    )
    assert outcome.stop_reason == "delivery_failed:max_prs_per_day"
    assert github.calls == []


async def test_phase_2_is_a_draft_on_the_issue_branch(state):
    run = claimed(state)
    github = FakeGithub()
    outcome = await delivery.Delivery(github, policy(""), state).deliver(run)
    assert outcome.status == "delivered"
    tools = [c[0] for c in github.calls]
    assert tools == ["list_commits", "create_branch", "commit_patch", "open_pull_request"]
    committed = github.calls[2][1]
    assert committed["patch"] == FIX and committed["expected_tree"] == TREE
    assert committed["base_commit"] == "a" * 40
    opened = github.calls[-1][1]
    assert opened["draft"] is True and opened["branch"] == "nightfix/issue-7"
    assert state.get(run)["pr_number"] == 1 and state.get(run)["pr_opened_at"]


def test_pr_body_carries_issue_cause_fix_evidence_cost_and_neutralises_the_title(state):
    run = claimed(state, title="Boom `rm -rf /`\n## Injected heading")
    body = delivery.pr_body(policy(""), state.get(run))
    for needle in (
        "12 (3 user(s))",
        "pool of 10",
        "1 failed, 0 errors",
        "5 passed on the base commit",
        "with the fix 6 passed",
        "`tests/test_pool.py::t`: Exhausted more",
        "fails with the production error's own exception (`ConnectionPoolExhausted`)",
        "What the gate cannot prove",
        f"tree `{TREE[:12]}`",
        "investigation stop reason `completed`",
        "Why now | 12 events in 10 min on transaction /checkout",
    ):
        assert needle in body, needle
    assert "\n## Injected heading" not in body and "`rm -rf /`" not in body


def test_low_risk_rules():
    run = {"diff": FIX, "evidence": EVIDENCE}
    assert delivery.low_risk(policy(""), run)[0]
    small = policy("delivery: {auto_merge: {max_changed_lines: 10}}")
    assert delivery.low_risk(small, run) == (False, "25 lines changed, more than 10")
    paths = policy("delivery: {auto_merge: {allowed_paths: ['tests/**']}}")
    assert "checkout/db.py is outside" in delivery.low_risk(paths, run)[1]
    failing = {"diff": FIX, "evidence": {"suite": {"report_status": "inconsistent", "passed": 5}}}
    assert delivery.low_risk(policy(""), failing) == (False, "no passing test suite on record")
    plumbing = {"diff": FIX, "evidence": {**EVIDENCE, "protected_changes": ["tox.ini"]}}
    assert delivery.low_risk(policy(""), plumbing) == (False, "it changes test infrastructure")


async def test_phase_1_reports_only_and_writes_nothing(state):
    run = claimed(state)
    github = FakeGithub()
    phase1 = parse_policy("trust_phase: 1\napprovals: {require: [open_pull_request]}\n")
    outcome = await delivery.Delivery(github, phase1, state).deliver(run)
    assert (outcome.status, outcome.stop_reason) == ("reported", "completed")
    assert github.calls == []


async def test_phase_3_asks_first_and_writes_nothing_until_approved(state):
    run = claimed(state)
    github = FakeGithub()
    phase3 = parse_policy("trust_phase: 3\n")
    outcome = await delivery.Delivery(github, phase3, state).deliver(run)
    assert (outcome.status, outcome.message) == (
        "awaiting_approval",
        "open_pull_request waits for approval",
    )
    assert github.calls == []


def test_pr_body_never_carries_a_secret_value(state, monkeypatch):
    secret = "sk-live-" + "x1" * 12
    monkeypatch.setenv("PAYMENTS_API_KEY", secret)
    run = claimed(state)
    state.update(
        run,
        summary={
            "root_cause": f"key {secret} leaked",
            "fix": "f",
            "tests_run": "t",
            "confidence": "low",
        },
    )
    body = delivery.pr_body(policy(""), state.get(run))
    assert secret not in body and "[REDACTED:PAYMENTS_API_KEY]" in body


async def test_commit_whose_tree_is_not_the_verified_one_is_refused(state):
    run = claimed(state)
    github = FakeGithub(tree="e" * 40)  # the server wrote something else than was verified
    with pytest.raises(ToolCallError, match="is not the verified"):
        await delivery.Delivery(github, policy(""), state).deliver(run)
    assert "open_pull_request" not in [c[0] for c in github.calls]


async def test_delivery_without_a_verified_tree_writes_nothing(state):
    run = claimed(state)
    state.update(run, tree=None)
    github = FakeGithub()
    with pytest.raises(ToolCallError, match="no verified tree"):
        await delivery.Delivery(github, policy(""), state).deliver(run)
    assert github.calls == []


async def test_protected_change_waits_for_a_person_even_in_phase_2(state):
    run = claimed(state)
    state.update(run, evidence={**EVIDENCE, "protected_changes": ["tox.ini"]})
    github = FakeGithub()
    outcome = await delivery.Delivery(github, policy(""), state).deliver(run)
    assert outcome.status == "awaiting_approval" and github.calls == []
    body = delivery.pr_body(policy(""), state.get(run))
    assert "`tox.ini`" in body and "they change how the tests" in body


async def test_approval_is_bound_to_the_verified_tree(state):
    run = claimed(state)
    github = FakeGithub()
    phase3 = parse_policy("trust_phase: 3\n")
    await delivery.Delivery(github, phase3, state).deliver(run)
    approvals.decide(state, run, approve=True, by="alice")
    state.update(run, tree="f" * 40)  # what would ship changed after the person approved
    outcome = await delivery.Delivery(github, phase3, state).deliver(run)
    assert outcome.stop_reason == "approval_stale" and github.calls == []


def test_commit_refused_for_a_tree_other_than_the_approved_one_is_approval_stale():
    from types import SimpleNamespace

    from nightfix.autonomy.runner import refused_write

    ctx = SimpleNamespace(redactor=SimpleNamespace(text=lambda text: text))
    stale = refused_write(ctx, ToolCallError("github.commit_patch: refused by rule tree_mismatch"))
    assert stale.stop_reason == "approval_stale"
    other = refused_write(ctx, ToolCallError("github.commit_patch: refused by rule file_mode"))
    assert other.stop_reason == "delivery_failed"
