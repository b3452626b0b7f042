from datetime import UTC, datetime, timedelta
from typing import Any

from nightfix.autonomy import trigger
from nightfix.policy import TriggerPolicy

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def issue(**over: Any) -> dict[str, Any]:
    base = {
        "id": "7",
        "fingerprint": "fp7",
        "title": "ConnectionPoolExhausted: all 10 database connections are in use",
        "culprit": "checkout.db in acquire",
        "level": "error",
        "status": "unresolved",
        "substatus": "new",
        "count": 40,
        "user_count": 9,
        "environments": ["production"],
        "transaction": "/checkout",
    }
    return {**base, **over}


def test_critical_issue_gets_a_human_reason():
    d = trigger.decide(issue(), 12, TriggerPolicy())
    assert d.critical
    assert d.reason.startswith("12 events in 10 min on transaction /checkout, level error")
    assert "new issue" in d.reason


def test_each_rule_can_refuse_with_its_reason():
    p = TriggerPolicy(min_users=10, transaction_patterns=["^/pay"])
    cases = {
        "level warning is not one of error, fatal": issue(level="warning"),
        "do not include production": issue(environments=["staging"]),
        "ongoing issue; only new, regressed": issue(substatus="ongoing"),
    }
    for reason, case in cases.items():
        d = trigger.decide(case, 50, TriggerPolicy())
        assert not d.critical and reason in d.reason, d.reason
    d = trigger.decide(issue(), 50, p)
    assert "matches no transaction pattern" in d.reason
    d = trigger.decide(issue(), 50, TriggerPolicy(min_users=10))
    assert "9 user(s) affected, fewer than 10" in d.reason
    d = trigger.decide(issue(), 4, TriggerPolicy())
    assert d.reason == "4 event(s) in 10 min, fewer than 5"


def test_regressed_issue_qualifies_by_default():
    assert trigger.decide(issue(substatus="regressed"), 5, TriggerPolicy()).critical


def test_events_in_window_counts_only_recent_buckets():
    buckets = [
        {"start": (NOW - timedelta(minutes=m)).isoformat(), "count": 3} for m in range(0, 30)
    ]
    stats = {"interval_seconds": 60, "buckets": buckets}
    assert trigger.events_in_window(stats, 10, NOW) == 3 * 11  # starts 0..10 min ago


class FakeErrors:
    def __init__(self, issues: list[dict[str, Any]], per_minute: int) -> None:
        self.issues, self.per_minute, self.calls = issues, per_minute, []

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((server, tool, args))
        if tool == "list_issues":
            return {"issues": self.issues, "next_cursor": None}
        if tool == "get_issue":
            [found] = [i for i in self.issues if i["id"] == args["issue_id"]]
            return {"issue": found, "traceback": "..."}
        starts = [NOW - timedelta(minutes=m) for m in range(60)]
        return {
            "issue_id": args["issue_id"],
            "interval_seconds": 60,
            "buckets": [{"start": s.isoformat(), "count": self.per_minute} for s in starts],
        }


async def test_poll_queries_stats_only_for_issues_that_pass_the_cheap_rules():
    errors = FakeErrors([issue(), issue(id="8", level="info")], per_minute=2)
    decisions = await trigger.poll(errors, TriggerPolicy(), now=NOW)
    assert [d.critical for d in decisions] == [True, False]
    assert decisions[0].events_in_window == 22
    tools = [c[1] for c in errors.calls]
    assert tools == ["list_issues", "get_issue_stats"]
    assert errors.calls[0][2]["environment"] == "production"


async def test_poll_asks_for_at_most_max_issues_per_poll():
    errors = FakeErrors([issue()], per_minute=2)
    await trigger.poll(errors, TriggerPolicy(max_issues_per_poll=7), now=NOW)
    assert errors.calls[0][2]["limit"] == 7
    await trigger.poll(errors, TriggerPolicy(), now=NOW)
    assert errors.calls[-2][2]["limit"] == 100  # the default: one full page


def test_deduplicating_sdk_counts_one_event_as_enough():
    d = trigger.decide(issue(sdk_deduplicates=True), 1, TriggerPolicy())
    assert d.critical
    assert "the SDK drops repeated identical errors" in d.reason


def test_min_events_still_applies_when_the_sdk_does_not_deduplicate():
    d = trigger.decide(issue(sdk_deduplicates=False), 1, TriggerPolicy())
    assert not d.critical
    assert "fewer than 5" in d.reason


def test_min_events_deduplicated_never_raises_the_bar():
    policy = TriggerPolicy(min_events=2, min_events_deduplicated=4)
    assert trigger.decide(issue(sdk_deduplicates=True), 2, policy).critical


async def test_pushed_issue_is_decided_by_the_same_rules_as_a_polled_one():
    issues = [issue(), issue(id="8", level="info"), issue(id="9", status="resolved")]
    errors = FakeErrors(issues, per_minute=2)
    polled = await trigger.poll(errors, TriggerPolicy(), now=NOW)
    for one in issues:
        pushed = await trigger.evaluate(errors, one["id"], TriggerPolicy(), now=NOW)
        same = [d for d in polled if d.issue_id == one["id"]]
        if one["status"] == "unresolved":  # a poll lists unresolved issues only
            assert (pushed.critical, pushed.reason) == (same[0].critical, same[0].reason)
    resolved = await trigger.evaluate(errors, "9", TriggerPolicy(), now=NOW)
    assert not resolved.critical and resolved.reason.startswith("resolved issue")


async def test_pushed_issue_with_too_few_events_is_not_critical():
    errors = FakeErrors([issue()], per_minute=0)
    pushed = await trigger.evaluate(errors, "7", TriggerPolicy(), now=NOW)
    assert not pushed.critical and "fewer than 5" in pushed.reason


class SentryLikeErrors(FakeErrors):
    """Lists issues as Sentry's API does: only the filtered environment is named."""

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        if tool != "list_issues":
            return await super().call(server, tool, args)
        self.calls.append((server, tool, args))
        env = args.get("environment")
        seen = [i for i in self.issues if env is None or env in i["environments"]]
        named = [{**i, "environments": [env] if env else []} for i in seen]
        return {"issues": named, "next_cursor": None}


async def test_poll_with_several_environments_lists_each_and_decides_an_issue_once():
    staging = issue(id="8", fingerprint="fp8", environments=["staging", "production"])
    errors = SentryLikeErrors([issue(), staging, issue(id="9", environments=["dev"])], 2)
    policy = TriggerPolicy(environments=["production", "staging"])
    decisions = await trigger.poll(errors, policy, now=NOW)
    listed = [c[2]["environment"] for c in errors.calls if c[1] == "list_issues"]
    assert listed == ["production", "staging"]
    assert [(d.issue_id, d.critical) for d in decisions] == [("7", True), ("8", True)]
    assert decisions[1].issue["environments"] == ["production", "staging"]
    assert "environment production/staging" in decisions[1].reason
