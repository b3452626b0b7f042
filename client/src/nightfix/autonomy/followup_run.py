"""One follow-up run: a reviewer's request on a delivered pull request → a new verified commit.

Same pipeline as a first run (budgets, sandbox, verification gate), with three differences:

- the agent's sandbox starts at the branch's head, so the delivered fix is already applied, and
  its task shows the reviewer's comment fenced as untrusted input;
- the gate verifies the *cumulative* change — the delivered diff plus the follow-up's, composed
  in a scratch sandbox on the original base commit — against that original base, so a
  follow-up cannot drop or weaken the regression test;
- delivery is one new commit on the same branch: the follow-up's own diff on the head nightfix
  last wrote, committed only if it yields exactly the verified cumulative tree
  (``commit_patch`` refuses otherwise, and refuses if anyone else pushed since). A reply on
  the pull request gives the evidence, or says why nothing was changed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nightfix import prompts
from nightfix.agent import run_investigation
from nightfix.autonomy import diffs, followup_rules, followup_state
from nightfix.autonomy.delivery import Delivery, Outcome, branch_name
from nightfix.autonomy.runner import RunPipeline, failure, refused_write, sink
from nightfix.autonomy.tools import ToolCaller
from nightfix.errors import ServerError, ToolCallError
from nightfix.gateway import ClientCaller
from nightfix.models import Model
from nightfix.redaction import Redactor
from nightfix.run_context import RunContext
from nightfix.stop_reasons import Kind


class FollowUpRun:
    def __init__(self, pipeline: RunPipeline) -> None:
        self.pipeline = pipeline
        self.policy, self.state, self.pool, self.say = (
            pipeline.policy,
            pipeline.state,
            pipeline.pool,
            pipeline.say,
        )

    async def start(
        self, origin: dict[str, Any], item: dict[str, Any], run_id: str, model: Model
    ) -> Outcome:
        ctx = RunContext(self.policy, origin["issue_id"], model.name, kind="watch", run_id=run_id)
        about = {"pr_number": origin["pr_number"], "feedback_id": item["id"]}
        ctx.event("followup", **about, author=item.get("author"), kind=item.get("kind"))
        ctx.audit_event("followup", **about, author=str(item.get("author")))
        try:
            outcome = await self._run(ctx, origin, item, model)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.pipeline._end(ctx, Outcome("stopped", "interrupted", "watch was stopped"))
            raise
        except Exception as exc:
            outcome = failure(ctx, exc, "client_error")
        await self.reply(ClientCaller(ctx, self.pool), origin, item, run_id, outcome)
        self.pipeline._end(ctx, outcome)
        await self.pipeline.notify(run_id, outcome)
        return outcome

    async def _run(
        self, ctx: RunContext, origin: dict[str, Any], item: dict[str, Any], model: Model
    ) -> Outcome:
        run_id, caller = ctx.run_id, ClientCaller(ctx, self.pool)
        delivery = Delivery(caller, self.policy, self.state, on_event=sink(ctx))
        last = followup_state.latest_delivery(self.state, origin)
        branch = branch_name(self.policy, str(origin["issue_id"]))
        head = await delivery.branch_head(branch)
        moved = followup_rules.check_branch_unmoved(head, last.get("head_commit"))
        if moved or head is None:
            return Outcome("stopped", "delivery_failed:branch_moved", moved or "no branch")
        body, fence = followup_rules.fence(str(item.get("body") or ""))
        request = {
            "number": origin["pr_number"],
            "branch": branch,
            "author": item.get("author"),
            "permission": item.get("permission"),
            "kind": {"line_comment": "line comment"}.get(str(item.get("kind")), item.get("kind")),
            "body": body,
            "fence": fence,
        }
        self.say(f"run {run_id}: follow-up on #{origin['pr_number']} from {head[:12]}")
        result = await run_investigation(
            self.policy,
            str(origin["issue_id"]),
            model,
            pool=self.pool,
            ctx=ctx,
            ref=head,
            finalize=False,
            followup=request,
        )
        ctx.record(diff=result.diff, base_commit=result.base_commit, ref=result.ref)
        self.state.update(
            run_id, increment=result.diff, summary=result.summary, cost_usd=result.cost_usd
        )
        if result.stop_reason.kind != Kind.COMPLETED:
            return Outcome("stopped", str(result.stop_reason), result.message or "")
        if not (result.diff or "").strip():
            return Outcome(
                "stopped", "verification_failed:empty_diff", "the follow-up changed nothing"
            )
        base = str(last["base_commit"])
        cumulative = await compose(
            caller, self.policy.repository.sandbox_source, base, [last["diff"], result.diff]
        )
        return await self._gate_and_commit(
            ctx, delivery, origin, base, head, cumulative, result.diff
        )

    async def _gate_and_commit(
        self,
        ctx: RunContext,
        delivery: Delivery,
        origin: dict[str, Any],
        base: str,
        head: str,
        cumulative: str,
        increment: str,
    ) -> Outcome:
        run_id, caller = ctx.run_id, ClientCaller(ctx, self.pool)
        self.say(f"run {run_id}: verification gate on the whole change from {base[:12]}")
        verdict = await self.pipeline.gate(ctx, caller).verify(cumulative, base)
        verdict.evidence["protected_changes"] = verdict.protected_changes
        self.state.update(
            run_id,
            evidence=verdict.evidence,
            diff=cumulative,
            diff_hash=diffs.digest(cumulative),
            base_commit=base,
        )
        ctx.audit_event("verification", passed=verdict.passed, check=verdict.check)
        if not verdict.passed:
            self.say(f"run {run_id}: verification FAILED ({verdict.check}): {verdict.reason}")
            return Outcome("stopped", verdict.stop_reason or "verification_failed", verdict.reason)
        if verdict.protected_changes:
            return Outcome(
                "stopped",
                "delivery_failed:protected_changes",
                f"the change touches test infrastructure ({', '.join(verdict.protected_changes)}),"
                " which needs a person's approval; a follow-up never waits for one",
            )
        tree = await delivery.preview(cumulative, base)
        on_head = await delivery.preview(increment, head)
        if on_head != tree:
            return Outcome(
                "stopped",
                "delivery_failed:tree_mismatch",
                f"the follow-up on {head[:12]} gives tree {on_head[:12]}, not the verified "
                f"{tree[:12]}",
            )
        self.state.update(run_id, status="delivering", tree=tree)
        try:
            commit = await caller.call(
                "github",
                "commit_patch",
                {
                    "branch": branch_name(self.policy, str(origin["issue_id"])),
                    "patch": increment,
                    "base_commit": head,
                    "message": f"nightfix: follow-up on #{origin['pr_number']}\n\nnightfix run "
                    f"{run_id}, issue {origin['issue_id']}.",
                    "expected_tree": tree,
                    **delivery.repo_args(),
                },
            )
        except ToolCallError as exc:
            if "moved" in str(exc):
                return Outcome("stopped", "delivery_failed:branch_moved", str(exc))
            return refused_write(ctx, exc)
        if commit.get("tree") != tree:
            raise ToolCallError(
                f"the commit's tree {commit.get('tree')} is not the verified {tree}"
            )
        delivery.emit("commit", commit)
        self.state.update(run_id, head_commit=commit["commit"])
        pull = {"number": origin["pr_number"], "url": origin.get("pr_url")}
        return Outcome(
            "delivered",
            "completed",
            f"commit {str(commit['commit'])[:12]} on pull request #{origin['pr_number']}",
            pull,
        )

    async def reply(
        self,
        caller: ToolCaller,
        origin: dict[str, Any],
        item: dict[str, Any],
        run_id: str,
        outcome: Outcome,
    ) -> None:
        """The evidence of a follow-up commit, or why nothing changed, as a pull-request reply."""
        run = self.state.get(run_id) or {}
        evidence = run.get("evidence") or {}
        delivered = outcome.status == "delivered"
        body = prompts.render(
            "followup_reply",
            delivered=delivered,
            commit=str(run.get("head_commit") or ""),
            run_id=run_id,
            feedback_id=item["id"],
            author=item.get("author"),
            changed=[p.path for p in diffs.split(run.get("increment") or "")],
            fix=" ".join(str((run.get("summary") or {}).get("fix") or "").split())[:500],
            base_commit=str(run.get("base_commit") or ""),
            suite=evidence.get("suite") or {"passed": "?", "failed": "?"},
            regression_tests=evidence.get("regression_tests") or [],
            done=followup_state.runs_done(self.state, int(origin["pr_number"])),
            limit=self.policy.delivery.max_followups_per_pr,
            reason=f"{outcome.stop_reason} — {outcome.message}",
        )
        await post_reply(self, caller, origin, item, body, run_id)


async def post_reply(
    who: FollowUpRun | Any,
    caller: ToolCaller,
    origin: dict[str, Any],
    item: dict[str, Any],
    body: str,
    run_id: str | None,
) -> None:
    """Comment on the pull request and remember the comment as nightfix's own."""
    repo = who.policy.repository.github_repo
    args = {"number": origin["pr_number"], "body": Redactor.from_environ().text(body)}
    try:
        made = await caller.call("github", "comment_on_pull_request", {**args, **_repo(repo)})
    except (ToolCallError, ServerError) as exc:
        who.say(f"pull request #{origin['pr_number']}: could not reply ({exc})")
        return
    pr = int(origin["pr_number"])
    followup_state.add_reply(who.state, pr, f"comment-{made['id']}", run_id, str(item["id"]))


def _repo(repo: str | None) -> dict[str, Any]:
    return {"repo": repo} if repo else {}


async def compose(caller: ToolCaller, source: str, base: str, patches: list[str | None]) -> str:
    """The diff from ``base`` of ``patches`` applied in order, made in a scratch sandbox (no
    model, destroyed after): the change a follow-up leaves on the branch, as one diff."""
    box = await caller.call("sandbox", "create_sandbox", {"source": source, "ref": base})
    sandbox_id = box["sandbox_id"]
    try:
        for patch in patches:
            if patch and patch.strip():
                await caller.call(
                    "sandbox", "apply_patch", {"sandbox_id": sandbox_id, "patch": patch}
                )
        found = await caller.call("sandbox", "diff", {"sandbox_id": sandbox_id})
    finally:
        await caller.call("sandbox", "destroy_sandbox", {"sandbox_id": sandbox_id})
    if found.get("truncated"):
        raise ToolCallError(f"the whole change is too large to verify: {found.get('note')}")
    return str(found.get("diff") or "")
