"""Delivery by trust phase, after the verification gate, idempotent and approval-aware.

1. report only: the root cause and diff go to the run record and a notification;
2. branch + commit + **draft** pull request;
3. branch + commit + ready-for-review pull request;
4. as 3, then merge when the change is low-risk by ``delivery.auto_merge`` and the github
   server allows merging.

What ships is computed on the repository server's host, never read back from a sandbox: the
verified diff applied to the base commit (``preview_patch``, a temporary index) gives a tree id,
and ``commit_patch`` writes exactly that tree or refuses. A step named in
``approvals.require`` (and, when the fix changes test infrastructure under
``verification.protected_changes: approve``, the pull request in any phase) first waits
(``awaiting_approval``) for a person; the approval is bound to a hash of the exact diff and
target, tree id included (:mod:`~nightfix.autonomy.approvals`). Everything :func:`deliver`
needs is read from the watch state, so a run resumed by a later ``nightfix watch`` (after
``nightfix approve``) delivers exactly what was verified. Re-running never duplicates: the
branch is named after the issue, and ``create_branch``, ``commit_patch`` and
``open_pull_request`` are idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nightfix import prompts
from nightfix.autonomy import approvals, diffs
from nightfix.autonomy.tools import ToolCaller
from nightfix.autonomy.verification import EventSink
from nightfix.autonomy.watch_state import WatchState, iso, now_utc
from nightfix.errors import ToolCallError
from nightfix.policy import Policy
from nightfix.redaction import Redactor

log = logging.getLogger("nightfix.delivery")


@dataclass
class Outcome:
    status: str
    """``reported`` / ``delivered`` / ``awaiting_approval`` / ``stopped``."""
    stop_reason: str
    message: str
    pull_request: dict[str, Any] | None = None
    merged: bool = False
    notes: list[str] = field(default_factory=list)


def branch_name(policy: Policy, issue_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in issue_id)
    return f"{policy.delivery.branch_prefix}issue-{safe}"


def target_of(policy: Policy, run: dict[str, Any], step: str) -> dict[str, Any]:
    """What an approval is bound to besides the diff: where the change goes, and how."""
    return {
        "step": step,
        "repo": policy.repository.github_repo,
        "branch": branch_name(policy, str(run["issue_id"])),
        "base": policy.repository.ref,
        "base_commit": run["base_commit"],
        "tree": run.get("tree"),
        "draft": policy.trust_phase == 2,
    }


def protected_changes(run: dict[str, Any]) -> list[str]:
    """Test infrastructure the verified fix changes (``protected_changes: approve``)."""
    return list((run.get("evidence") or {}).get("protected_changes") or [])


def low_risk(policy: Policy, run: dict[str, Any]) -> tuple[bool, str]:
    rules = policy.delivery.auto_merge
    patches = diffs.split(run["diff"] or "")
    lines = sum(p.added + p.removed for p in patches)
    if len(patches) > rules.max_changed_files:
        return False, f"{len(patches)} files changed, more than {rules.max_changed_files}"
    if lines > rules.max_changed_lines:
        return False, f"{lines} lines changed, more than {rules.max_changed_lines}"
    for patch in patches:
        for path in diffs.touched_paths(patch):
            if not diffs.matches(path, rules.allowed_paths):
                return False, f"{path} is outside the auto-merge paths"
    if protected_changes(run):
        return False, "it changes test infrastructure"
    suite = (run.get("evidence") or {}).get("suite") or {}
    if suite.get("report_status") != "ok" or not suite.get("passed"):
        return False, "no passing test suite on record"
    return True, f"{len(patches)} file(s), {lines} line(s), tests passed"


def pr_title(run: dict[str, Any]) -> str:
    title = " ".join(str((run.get("issue") or {}).get("title") or "production error").split())
    return f"nightfix: fix {title}"[:120]


def pr_body(policy: Policy, run: dict[str, Any]) -> str:
    issue = dict(run.get("issue") or {})
    issue["title"] = " ".join(str(issue.get("title", "")).split()).replace("`", "'")[:200]
    issue["link"] = issue.get("permalink")
    issue.setdefault("id", run["issue_id"])
    for key in ("project", "count", "user_count", "first_seen", "last_seen"):
        issue.setdefault(key, "?")
    patches = diffs.split(run.get("diff") or "")
    evidence = {
        "changed_files": [p.path for p in patches],
        "changed_lines": sum(p.added + p.removed for p in patches),
        "base_commit": run.get("base_commit") or "",
        "suite": None,
        "before": None,
        "after": None,
        "verdict": None,
        "regression": None,
        "protected_changes": [],
        "regression_tests": [],
        **(run.get("evidence") or {}),
    }
    summary = {"root_cause": "?", "fix": "?", "tests_run": "?", "confidence": "?"}
    summary.update(run.get("summary") or {})
    body = prompts.render(
        "pr_body",
        run_id=run["run_id"],
        trust_phase=policy.trust_phase,
        issue=issue,
        decision=run.get("decision") or "",
        summary=summary,
        evidence=evidence,
        tree=run.get("tree") or "",
        cost_usd=float(run.get("cost_usd") or 0),
        stop_reason=(evidence.get("investigation") or {}).get("stop_reason", "completed"),
    )
    return Redactor.from_environ().text(body)  # defence in depth: no secret leaves in a PR


class Delivery:
    def __init__(
        self,
        caller: ToolCaller,
        policy: Policy,
        state: WatchState,
        on_event: EventSink | None = None,
    ) -> None:
        self.caller, self.policy, self.state = caller, policy, state
        self.emit: EventSink = on_event or (lambda _name, _data: None)

    def repo_args(self) -> dict[str, Any]:
        repo = self.policy.repository.github_repo
        return {"repo": repo} if repo else {}

    async def deliver(self, run_id: str) -> Outcome:
        run = self.state.get(run_id)
        if run is None:
            raise KeyError(run_id)
        if self.policy.trust_phase == 1:
            return Outcome("reported", "completed", "report only (trust phase 1)")
        gate = self.approval(run, "open_pull_request")
        if gate is not None:
            return gate
        if not run.get("pr_number") and self.over_pr_limit():
            limit = self.policy.watch.max_prs_per_day
            return Outcome(
                "stopped",
                "delivery_failed:max_prs_per_day",
                f"{limit} pull request(s) already opened in the last 24 h",
            )
        pull = await self.open_pull_request(run)
        outcome = Outcome("delivered", "completed", f"pull request #{pull['number']}", pull)
        if self.policy.trust_phase == 4 and pull.get("state") == "open":
            await self.maybe_merge(self.state.get(run_id) or run, outcome)
        return outcome

    def approval(self, run: dict[str, Any], step: str) -> Outcome | None:
        forced = step == "open_pull_request" and bool(protected_changes(run))
        if step not in self.policy.approvals.require and not forced:
            return None
        target = target_of(self.policy, run, step)
        diff = run["diff"] or ""
        timeout = self.policy.approvals.timeout_minutes
        check = approvals.check(self.state, run["run_id"], step, diff, target, timeout)
        if check.verdict == "approved":
            self.emit("approval_ok", {"step": step, "reason": check.reason})
            return None
        if check.verdict == "pending":
            if approvals.get(self.state, run["run_id"], step) is None:
                digest = approvals.request(self.state, run["run_id"], step, diff, target)
                self.emit("approval_requested", {"step": step, "digest": digest, "target": target})
            return Outcome("awaiting_approval", "awaiting_approval", f"{step} waits for approval")
        kind = "approval_denied" if check.verdict == "denied" else "approval_stale"
        return Outcome("stopped", kind, check.reason)

    def over_pr_limit(self) -> bool:
        opened = self.state.prs_since(now_utc() - timedelta(days=1))
        return opened >= self.policy.watch.max_prs_per_day

    async def preview(self, diff: str, base_commit: str) -> str:
        """The tree id the verified diff makes on the base commit (computed by the repository
        server on its host); what an approval binds and ``commit_patch`` must write."""
        found = await self.caller.call(
            "github",
            "preview_patch",
            {"patch": diff, "base_commit": base_commit, **self.repo_args()},
        )
        return str(found["tree"])

    async def open_pull_request(self, run: dict[str, Any]) -> dict[str, Any]:
        branch = branch_name(self.policy, str(run["issue_id"]))
        repo = self.repo_args()
        if not run.get("tree"):
            raise ToolCallError(
                "no verified tree on record for this run; it must be verified again"
            )
        if await self.branch_head(branch) is None:
            made = await self.caller.call(
                "github", "create_branch", {"name": branch, "from_ref": run["base_commit"], **repo}
            )
            self.emit("branch", made)
        message = f"{pr_title(run)}\n\nnightfix run {run['run_id']}, issue {run['issue_id']}."
        commit = await self.caller.call(
            "github",
            "commit_patch",
            {
                "branch": branch,
                "patch": run["diff"],
                "base_commit": run["base_commit"],
                "message": message,
                "expected_tree": run["tree"],
                **repo,
            },
        )
        if commit.get("tree") != run["tree"]:
            raise ToolCallError(
                f"the commit's tree {commit.get('tree')} is not the verified {run['tree']}"
            )
        self.emit("commit", commit)
        pull = await self.caller.call(
            "github",
            "open_pull_request",
            {
                "branch": branch,
                "title": pr_title(run),
                "body": pr_body(self.policy, run),
                "draft": self.policy.trust_phase == 2,
                **repo,
            },
        )
        self.emit("pull_request", {k: pull.get(k) for k in ("number", "url", "draft", "created")})
        fields: dict[str, Any] = {
            "branch": branch,
            "pr_number": pull["number"],
            "pr_url": pull.get("url"),
            "head_commit": commit.get("commit"),
        }
        if not run.get("pr_opened_at"):
            fields["pr_opened_at"] = iso(now_utc())
        self.state.update(run["run_id"], **fields)
        return pull

    async def branch_head(self, branch: str) -> str | None:
        """The branch's head commit, or ``None`` when it does not exist (yet)."""
        try:
            found = await self.caller.call(
                "github", "list_commits", {"ref": branch, "limit": 1, **self.repo_args()}
            )
        except ToolCallError:
            return None
        commits = found.get("commits") or []
        return str(commits[0]["sha"]) if commits else None

    async def maybe_merge(self, run: dict[str, Any], outcome: Outcome) -> None:
        ok, why = low_risk(self.policy, run)
        if not ok:
            outcome.notes.append(f"not merged: not low-risk ({why})")
            return
        gate = self.approval(run, "merge")
        if gate is not None:
            outcome.status, outcome.stop_reason = gate.status, gate.stop_reason
            outcome.message = f"{outcome.message}; merge: {gate.message}"
            return
        number = int(run["pr_number"])
        try:
            merged = await self.caller.call(
                "github", "merge_pull_request", {"number": number, **self.repo_args()}
            )
        except Exception as exc:  # e.g. the server was not started with --allow-merge
            outcome.notes.append(f"not merged: the repository server refused ({exc})")
            self.emit("merge_refused", {"number": number, "error": str(exc)})
            return
        outcome.merged = bool(merged.get("merged"))
        self.state.update(run["run_id"], merged=int(outcome.merged))
        self.emit("merged", merged)
        outcome.message += f", merged as {str(merged.get('commit', ''))[:12]} ({why})"
