"""Review feedback on nightfix's pull requests → bounded follow-up runs (each poll).

For every open pull request nightfix delivered (from the watch state), the watcher lists its
feedback with the github server's ``list_pull_request_feedback`` and decides each new item by
:mod:`~nightfix.autonomy.followup_rules`. Every decision is recorded before anything acts on
it (:mod:`~nightfix.autonomy.followup_state`), so a comment is handled once; one follow-up run
per pull request per poll, the next qualifying comment waits for the next poll.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from nightfix import prompts
from nightfix.audit import AuditLog
from nightfix.autonomy import followup_rules, followup_state
from nightfix.autonomy.delivery import Outcome, branch_name
from nightfix.autonomy.followup_run import FollowUpRun, post_reply
from nightfix.autonomy.runner import RunPipeline
from nightfix.errors import ServerError, ToolCallError
from nightfix.models import Model
from nightfix.run_context import new_run_id

log = logging.getLogger("nightfix.watch")
FEEDBACK_TOOL = "list_pull_request_feedback"


class FollowUps:
    def __init__(self, pipeline: RunPipeline, make_model: Callable[[str], Model]) -> None:
        self.pipeline, self.make_model = pipeline, make_model
        self.policy, self.state, self.say = pipeline.policy, pipeline.state, pipeline.say
        self.ignored: list[str] = []
        """``#N feedback-id: reason`` for each item ignored this poll."""
        self.outcomes: dict[str, Outcome] = {}

    def enabled(self) -> bool:
        return (
            self.policy.delivery.max_followups_per_pr > 0
            and self.policy.trust_phase > 1
            and "github" in self.pipeline.pool.sessions
        )

    async def check(self) -> None:
        """Look at every delivered open pull request once."""
        if not self.enabled():
            return
        for origin in followup_state.delivered_pulls(self.state):
            try:
                await self.check_pull(origin)
            except (ServerError, ToolCallError) as exc:
                self.say(f"pull request #{origin['pr_number']}: feedback not read — {exc}")

    async def check_pull(self, origin: dict[str, Any]) -> None:
        number = int(origin["pr_number"])
        pull = await self.call("get_pull_request", {"number": number})
        if pull.get("state") != "open":
            return
        listing = await self.call(FEEDBACK_TOOL, {"number": number})
        branch = branch_name(self.policy, str(origin["issue_id"]))
        wrong = followup_rules.check_pull_is_nightfix(listing.get("head"), branch)
        for item in listing.get("feedback") or []:
            if followup_state.seen(self.state, number, str(item["id"])):
                continue
            why = wrong or followup_rules.refusal(
                item,
                self.policy.delivery.followup_mention,
                followup_state.own_replies(self.state, number),
                followup_state.last_handled_at(self.state, number),
            )
            if why is not None:
                self.ignore(origin, item, why)
                continue
            limit = self.policy.delivery.max_followups_per_pr
            over = followup_rules.check_under_limit(
                followup_state.runs_done(self.state, number), limit
            )
            if over is not None:
                await self.at_limit(origin, item, over)
                continue
            if await self.run(origin, item):
                return  # one follow-up per pull request per poll

    def ignore(self, origin: dict[str, Any], item: dict[str, Any], why: str) -> None:
        followup_state.record(self.state, origin, item, "ignored", why)
        self.ignored.append(f"#{origin['pr_number']} {item['id']}: {why}")
        if not item.get("by_agent") and "nightfix itself" not in why:
            self.say(f"pull request #{origin['pr_number']}: {item['id']} ignored — {why}")

    async def at_limit(self, origin: dict[str, Any], item: dict[str, Any], why: str) -> None:
        number = int(origin["pr_number"])
        followup_state.record(self.state, origin, item, "limit", why)
        self.ignored.append(f"#{number} {item['id']}: {why}")
        self.say(f"pull request #{number}: {item['id']} not acted on — {why}")
        if followup_state.limit_replied(self.state, number):
            return
        body = prompts.render(
            "followup_limit",
            feedback_id=item["id"],
            author=item.get("author"),
            limit=self.policy.delivery.max_followups_per_pr,
        )
        await post_reply(self, _PlainCaller(self.pipeline), origin, item, body, None)

    async def run(self, origin: dict[str, Any], item: dict[str, Any]) -> bool:
        """Claim and run a follow-up for ``item``; False when a watch limit defers it."""
        if self.policy.kill_switch.engaged():
            self.say(f"pull request #{origin['pr_number']}: no follow-up — the kill switch is set")
            return True
        run_id = new_run_id()
        w = self.policy.watch
        refused = followup_state.claim(
            self.state,
            run_id,
            origin,
            item,
            max_concurrent=w.max_concurrent_runs,
            max_runs_per_day=w.max_runs_per_day,
        )
        if refused is not None:
            self.say(f"pull request #{origin['pr_number']}: follow-up deferred — {refused}")
            return True
        self.say(
            f"pull request #{origin['pr_number']}: follow-up run {run_id} for {item['id']} "
            f"by {item.get('author')}"
        )
        model = self.make_model(str(origin["issue_id"]))
        self.outcomes[run_id] = await FollowUpRun(self.pipeline).start(origin, item, run_id, model)
        return True

    async def call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        repo = self.policy.repository.github_repo
        return await self.pipeline.pool.call("github", tool, {**args, **_repo(repo)})


class _PlainCaller:
    """The watcher's own calls outside any run (a limit reply): audited like a run's client
    calls (``client_call``, the arguments' digest), then straight to the pool."""

    def __init__(self, pipeline: RunPipeline) -> None:
        self.pool, self.policy = pipeline.pool, pipeline.policy

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode())
        audit = AuditLog.for_policy(self.policy)
        try:
            audit.append("client_call", tool=f"{server}.{tool}", args_sha256=digest.hexdigest())
        finally:
            audit.close()
        return await self.pool.call(server, tool, args)


def _repo(repo: str | None) -> dict[str, Any]:
    return {"repo": repo} if repo else {}
