"""Deterministic criticality rules from ``policy.trigger``, each decision with a human reason.

:func:`decide` is pure (an issue summary + its event count in the window → a
:class:`Decision`); :func:`poll` asks the error server for candidate issues and their stats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nightfix.autonomy.tools import ToolCaller
from nightfix.policy import TriggerPolicy


@dataclass(frozen=True)
class Decision:
    """Whether one error issue is critical enough for a run, and why."""

    issue_id: str
    fingerprint: str
    critical: bool
    reason: str
    events_in_window: int = 0
    issue: dict[str, Any] = field(default_factory=dict, compare=False)


def kind_of(issue: dict[str, Any]) -> str:
    """``new`` / ``regressed`` / ``ongoing`` (an issue without substatus counts as ongoing)."""
    return str(issue.get("substatus") or "ongoing")


def decide(issue: dict[str, Any], events_in_window: int | None, policy: TriggerPolicy) -> Decision:
    """Apply the rules in order; the first one that fails names the reason.

    ``events_in_window=None`` checks every rule but the event count (to skip a stats query).
    """
    issue_id, fingerprint = str(issue["id"]), str(issue.get("fingerprint") or issue["id"])
    count = events_in_window or 0

    def no(reason: str) -> Decision:
        return Decision(issue_id, fingerprint, False, reason, count, issue)

    level = str(issue.get("level") or "")
    if policy.levels and level not in policy.levels:
        return no(f"level {level or '(none)'} is not one of {', '.join(policy.levels)}")
    envs = list(issue.get("environments") or [])
    if policy.environments and not set(envs) & set(policy.environments):
        seen = ", ".join(envs) or "(none)"
        return no(f"environments {seen} do not include {', '.join(policy.environments)}")
    kind = kind_of(issue)
    if kind not in policy.kinds:
        return no(f"{kind} issue; only {', '.join(policy.kinds)} issues qualify")
    culprit = str(issue.get("culprit") or "")
    if policy.culprit_patterns and not any(re.search(p, culprit) for p in policy.culprit_patterns):
        return no(f"culprit {culprit or '(none)'} matches no culprit pattern")
    transaction = str(issue.get("transaction") or "")
    if policy.transaction_patterns and not any(
        re.search(p, transaction) for p in policy.transaction_patterns
    ):
        return no(f"transaction {transaction or '(none)'} matches no transaction pattern")
    users = int(issue.get("user_count") or 0)
    if users < policy.min_users:
        return no(f"{users} user(s) affected, fewer than {policy.min_users}")
    window = f"{policy.window_minutes} min"
    needed, deduplicated = min_events_for(issue, policy)
    if events_in_window is not None and events_in_window < needed:
        return no(f"{events_in_window} event(s) in {window}, fewer than {needed}{deduplicated}")
    where = f"transaction {transaction}" if transaction else f"culprit {culprit or '(unknown)'}"
    env = f", environment {'/'.join(sorted(set(envs) & set(policy.environments)) or envs)}"
    reason = (
        f"{events_in_window} events in {window}{deduplicated} on {where}, level {level}"
        f"{env if envs else ''}, {kind} issue, {users} user(s)"
    )
    return Decision(issue_id, fingerprint, True, reason, count, issue)


def min_events_for(issue: dict[str, Any], policy: TriggerPolicy) -> tuple[int, str]:
    """The event count the issue needs, and a note for the reason when the SDK deduplicates.

    An SDK that drops repeated identical errors (``sdk_deduplicates``, e.g. ``@sentry/node``
    with its default ``Dedupe`` integration) sends one event for a run of identical failures:
    ``min_events_deduplicated`` applies then, if lower than ``min_events``.
    """
    if issue.get("sdk_deduplicates") and policy.min_events_deduplicated < policy.min_events:
        return policy.min_events_deduplicated, " (the SDK drops repeated identical errors)"
    return policy.min_events, ""


def events_in_window(stats: dict[str, Any], window_minutes: int, now: datetime) -> int:
    """Sum the stat buckets that overlap the last ``window_minutes``."""
    start = now - timedelta(minutes=window_minutes)
    interval = timedelta(seconds=float(stats.get("interval_seconds") or 60))
    total = 0
    for bucket in stats.get("buckets") or []:
        begin = parse_time(str(bucket["start"]))
        if begin + interval > start and begin <= now:
            total += int(bucket.get("count") or 0)
    return total


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def stats_query(window_minutes: int) -> dict[str, Any]:
    """The ``get_issue_stats`` arguments whose buckets resolve the window well enough."""
    if window_minutes <= 60:
        return {"period": "1h", "buckets": 60}
    if window_minutes <= 24 * 60:
        return {"period": "24h", "buckets": 288}
    return {"period": "14d", "buckets": 336}


async def poll(
    caller: ToolCaller, policy: TriggerPolicy, now: datetime | None = None
) -> list[Decision]:
    """One look at the error server: every unresolved issue seen in the window, decided.

    With ``environments`` set, the issues are listed once per environment (the error server
    filters; Sentry's issue list names no environments otherwise), and an issue listed under
    several is decided once, with the environments it was listed under.
    """
    now = now or datetime.now(UTC)
    since = (now - timedelta(minutes=policy.window_minutes)).isoformat().replace("+00:00", "Z")
    args: dict[str, Any] = {
        "status": "unresolved",
        "since": since,
        "sort": "recent",
        "limit": policy.max_issues_per_poll,
    }
    listed: dict[str, dict[str, Any]] = {}
    environments: list[str | None] = [*policy.environments] or [None]
    for environment in environments:
        query = args if environment is None else {**args, "environment": environment}
        page = await caller.call("errors", "list_issues", query)
        for issue in page.get("issues") or []:
            known = listed.setdefault(str(issue["id"]), dict(issue))
            envs = list(known.get("environments") or [])
            known["environments"] = envs + [
                e for e in issue.get("environments") or [] if e not in envs
            ]
    issues = list(listed.values())[: policy.max_issues_per_poll]
    return [await decide_with_stats(caller, issue, policy, now) for issue in issues]


async def decide_with_stats(
    caller: ToolCaller, issue: dict[str, Any], policy: TriggerPolicy, now: datetime
) -> Decision:
    """The rules that need no stats first; the event count only for an issue that passed them."""
    quick = decide(issue, None, policy)
    if not quick.critical:
        return quick
    query = {"issue_id": str(issue["id"]), **stats_query(policy.window_minutes)}
    stats = await caller.call("errors", "get_issue_stats", query)
    return decide(issue, events_in_window(stats, policy.window_minutes, now), policy)


async def evaluate(
    caller: ToolCaller, issue_id: str, policy: TriggerPolicy, now: datetime | None = None
) -> Decision:
    """One pushed issue, decided by the same rules as a polled one.

    The issue is read from the error server (never from the delivery that named it); a poll
    lists only unresolved issues, so a resolved or ignored one is not critical here either.
    """
    now = now or datetime.now(UTC)
    found = await caller.call("errors", "get_issue", {"issue_id": issue_id})
    issue = dict(found.get("issue") or {})
    issue.setdefault("id", issue_id)
    status = str(issue.get("status") or "unknown")
    if status != "unresolved":
        fingerprint = str(issue.get("fingerprint") or issue_id)
        why = f"{status} issue; only unresolved issues qualify"
        return Decision(issue_id, fingerprint, False, why, 0, issue)
    return await decide_with_stats(caller, issue, policy, now)
