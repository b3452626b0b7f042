from datetime import timedelta

import pytest

from nightfix.autonomy import approvals
from nightfix.autonomy.watch_state import now_utc

TARGET = {"repo": "checkout-service", "base": "main", "branch": "nightfix/issue-7"}
DIFF = "diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n"


@pytest.fixture
def asked(state):
    state.claim("r1", "7", "fp", max_concurrent=1, max_runs_per_day=5, trust_phase=3, decision="x")
    approvals.request(state, "r1", "open_pull_request", DIFF, TARGET)
    return state


def test_pending_until_a_person_answers(asked):
    check = approvals.check(asked, "r1", "open_pull_request", DIFF, TARGET, 60)
    assert check.verdict == "pending" and "nightfix approve r1" in check.reason


def test_approved_for_exactly_this_diff_and_target(asked):
    approvals.decide(asked, "r1", approve=True, by="alice")
    check = approvals.check(asked, "r1", "open_pull_request", DIFF, TARGET, 60)
    assert check.verdict == "approved" and "alice" in check.reason


def test_changed_diff_after_approval_is_stale(asked):
    approvals.decide(asked, "r1", approve=True, by="alice")
    check = approvals.check(asked, "r1", "open_pull_request", DIFF + "+c\n", TARGET, 60)
    assert check.verdict == "stale" and "differs from the one approved" in check.reason


def test_changed_target_after_approval_is_stale(asked):
    approvals.decide(asked, "r1", approve=True, by="alice")
    other = {**TARGET, "base": "release"}
    assert approvals.check(asked, "r1", "open_pull_request", DIFF, other, 60).verdict == "stale"


def test_denied(asked):
    approvals.decide(asked, "r1", approve=False, by="bob")
    check = approvals.check(asked, "r1", "open_pull_request", DIFF, TARGET, 60)
    assert check.verdict == "denied" and "bob" in check.reason


def test_timed_out_request_cannot_be_approved(asked):
    later = now_utc() + timedelta(minutes=61)
    assert (
        approvals.check(asked, "r1", "open_pull_request", DIFF, TARGET, 60, now=later).verdict
        == "stale"
    )
    with pytest.raises(approvals.ApprovalError, match="older than 60 min"):
        approvals.decide(asked, "r1", approve=True, by="alice", timeout_minutes=60, now=later)


def test_approval_must_match_the_digest_the_person_reviewed(asked):
    with pytest.raises(approvals.ApprovalError, match="review it again"):
        approvals.decide(asked, "r1", approve=True, by="alice", expect_digest="deadbeef")


def test_nothing_to_approve(state):
    with pytest.raises(approvals.ApprovalError, match="no approval waiting"):
        approvals.decide(state, "nope", approve=True, by="alice")
