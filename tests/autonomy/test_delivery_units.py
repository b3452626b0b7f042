"""Delivery rules checked with a recording stand-in for the github server."""

from pathlib import Path
from typing import Any

from nightfix.autonomy import delivery
from nightfix.autonomy.watch_state import WatchState
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
        "workspace_digest": "sha256:0123456789abcdef",
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


class FakeGithub:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((tool, args))
        if tool == "list_commits":
            from nightfix.errors import ToolCallError

            raise ToolCallError("unknown ref")
        if tool == "open_pull_request":
            return {"number": 1, "url": "http://x/1", "state": "open", "draft": args["draft"]}
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
        files={"checkout/db.py": "x", "tests/test_pool.py": "y"},
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
    assert tools == ["list_commits", "create_branch", "commit_files", "open_pull_request"]
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
        "6 passed",
        "`tests/test_pool.py::t`: Exhausted more",
        "investigation stop reason `completed`",
        "Why now | 12 events in 10 min on transaction /checkout",
        "0123456789ab",
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
    failing = {"diff": FIX, "evidence": {"suite": {"exit_code": 1, "passed": 5}}}
    assert delivery.low_risk(policy(""), failing) == (False, "no passing test suite on record")


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
