"""``nightfix watch``: poll the error server, decide, run, gate, deliver — bounded and restartable.

One poll (:meth:`Watcher.poll_once`):

1. continue runs whose approval was answered (or timed out) since the last poll;
2. look for review feedback on the pull requests it delivered and run the follow-ups it asks
   for (:mod:`~nightfix.autonomy.followups`);
3. ask the error server for candidate issues (retried a few times with jittered back-off; when
   it keeps failing, a back-off is *recorded* in the state and later polls skip it until it
   expires, so the watcher never hammers a failing server);
4. decide each issue's criticality (every decision recorded with its reason);
5. claim a run for each critical issue (idempotency, concurrency and daily limits checked in
   one SQLite transaction) and run the claimed ones concurrently.

SIGTERM/SIGINT stop the loop cleanly: no new poll or claim; runs in flight end ``interrupted``
(their sandboxes destroyed), and a later start picks their issues up again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nightfix.autonomy import approvals, trigger
from nightfix.autonomy.delivery import Outcome, branch_name
from nightfix.autonomy.followups import FollowUps
from nightfix.autonomy.listener import Listener, Serving, serve
from nightfix.autonomy.push import PushInbox, PushLedger
from nightfix.autonomy.runner import RunPipeline, Say
from nightfix.autonomy.watch_state import WatchState, now_utc
from nightfix.errors import NightfixError, ServerError, ToolCallError
from nightfix.models import Model
from nightfix.policy import Policy, parse_listen
from nightfix.run_context import new_run_id
from nightfix.servers import ServerPool

log = logging.getLogger("nightfix.watch")
POLL_ATTEMPTS = 3
"""Calls to a failing error server within one poll before a back-off is recorded."""
RETRY_DELAY_S = 0.5
"""Base of the (jittered, doubling) pause between those calls."""
ModelFactory = Callable[[str], Model]
"""Makes the model for one run, given the issue id."""


@dataclass
class PollReport:
    decisions: list[trigger.Decision] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Why parts of the poll did not happen (back-off, limits, shutdown)."""
    unavailable: list[str] = field(default_factory=list)
    """Servers that failed or are backing off, so the poll could not look for issues."""
    feedback_ignored: list[str] = field(default_factory=list)
    """Review feedback that started no follow-up run, each with its reason."""


def jittered(base: float, failures: int, ceiling: float) -> float:
    """Exponential back-off with ±50 % jitter (never more than ``ceiling``)."""
    delay = min(ceiling, base * 2 ** max(failures - 1, 0))
    return min(ceiling, delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not crypto


class Watcher:
    def __init__(
        self,
        policy: Policy,
        make_model: ModelFactory,
        state: WatchState | None = None,
        say: Say | None = None,
        pool_factory: Callable[[], ServerPool] | None = None,
    ) -> None:
        self.policy = policy
        self.make_model = make_model
        self.state = state or WatchState.open(policy.state.db)
        self.say: Say = say or (lambda text: print(text, flush=True))
        self.pool_factory = pool_factory or (
            lambda: ServerPool({str(k): v for k, v in policy.servers.items()})
        )
        self.stopping = asyncio.Event()
        self.inbox: PushInbox | None = None
        self.listener: Listener | None = None
        if policy.trigger.listen:
            self.inbox = PushInbox()
            secret = webhook_secret(policy)
            ledger = PushLedger(self.state)
            self.listener = Listener(ledger, self.inbox, secret, policy.trigger, self.say)

    # -- the loop --------------------------------------------------------------------------
    async def run(self, once: bool = False) -> list[PollReport]:
        """Poll until SIGTERM/SIGINT (or once); returns each poll's report."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._shutdown, task)
        reports: list[PollReport] = []
        serving = await self._listen()
        try:
            next_poll = loop.time()
            while not self.stopping.is_set():
                if self.inbox is not None and self.inbox.pending:
                    reports.append(await self._with_fresh_pool(self.push_once))
                    continue
                if loop.time() >= next_poll:
                    reports.append(await self._with_fresh_pool(self.poll_once))
                    self.say(
                        f"watch: poll done ({len(reports[-1].decisions)} issue(s) decided, "
                        f"{len(reports[-1].started)} run(s) started)"
                    )
                    next_poll = loop.time() + self.policy.trigger.poll_interval_s
                    if once:
                        break
                    continue
                await self._wait(next_poll - loop.time())
        except asyncio.CancelledError:
            if not self.stopping.is_set():
                raise
            self.say("watch: stopped (signal); runs in flight ended 'interrupted'")
        finally:
            if serving is not None:
                await serving.stop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return reports

    async def _listen(self) -> Serving | None:
        if self.listener is None or not self.policy.trigger.listen:
            return None
        host, port = parse_listen(self.policy.trigger.listen)
        serving = await serve(self.listener, host, port)
        self.say(f"watch: listening for signed deliveries on http://{serving.address}/webhook")
        return serving

    async def _wait(self, seconds: float) -> None:
        """Until the next poll is due, a push arrives, or the watch is stopped."""
        waits = [asyncio.ensure_future(self.stopping.wait())]
        if self.inbox is not None:
            waits.append(asyncio.ensure_future(self.inbox.arrived.wait()))
        try:
            await asyncio.wait(waits, timeout=max(seconds, 0), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def _shutdown(self, task: asyncio.Task[object] | None) -> None:
        if self.stopping.is_set():
            return
        self.say("watch: shutting down")
        self.stopping.set()
        if task is not None:
            task.cancel()

    async def _with_fresh_pool(
        self, step: Callable[[ServerPool], Awaitable[PollReport]]
    ) -> PollReport:
        try:
            async with self.pool_factory() as pool:
                return await step(pool)
        except ServerError as exc:
            self.backoff(exc.server, str(exc))
            return PollReport(skipped=[f"servers: {exc}"], unavailable=[exc.server])

    # -- one poll --------------------------------------------------------------------------
    async def poll_once(self, pool: ServerPool) -> PollReport:
        report = PollReport()
        pipeline = RunPipeline(self.policy, self.state, pool, self.say)
        await self.resume_answered(pipeline, report)
        await self.follow_up(pipeline, report)
        decisions = await self.poll_errors(pool, report)
        if decisions is None:
            return report
        await self.act(pool, pipeline, decisions, report)
        return report

    async def push_once(self, pool: ServerPool) -> PollReport:
        """Evaluate the issues pushed since the last look, by the same rules as a poll."""
        report = PollReport()
        pipeline = RunPipeline(self.policy, self.state, pool, self.say)
        pushed = self.inbox.take() if self.inbox is not None else []
        if self.backing_off("errors"):
            report.unavailable.append("errors")
            report.skipped.append("errors server backing off; the next poll looks again")
            return report
        decisions = []
        for delivery in pushed:
            try:
                decision = await trigger.evaluate(pool, delivery.issue_id, self.policy.trigger)
            except ServerError as exc:
                self.backoff("errors", str(exc))
                report.unavailable.append("errors")
                return report
            except ToolCallError as exc:
                self.say(f"issue {delivery.issue_id} (pushed): not evaluated — {exc}")
                report.skipped.append(f"issue {delivery.issue_id}: {exc}")
                continue
            self.say(f"issue {delivery.issue_id}: pushed ({delivery.resource} {delivery.action})")
            decisions.append(decision)
        await self.act(pool, pipeline, decisions, report)
        return report

    async def act(
        self,
        pool: ServerPool,
        pipeline: RunPipeline,
        decisions: list[trigger.Decision],
        report: PollReport,
    ) -> None:
        """Record each decision, claim a run for each critical one, run the claimed ones."""
        report.decisions = decisions
        claimed: list[tuple[trigger.Decision, str]] = []
        for decision in decisions:
            verdict = "CRITICAL" if decision.critical else "not critical"
            self.say(f"issue {decision.issue_id}: {verdict} — {decision.reason}")
            run_id = None
            if decision.critical and not await self.open_pull_request(pool, decision, report):
                run_id = self.try_claim(decision, report)
            self.state.record_decision(
                decision.issue_id, decision.fingerprint, decision.critical, decision.reason, run_id
            )
            if run_id:
                claimed.append((decision, run_id))
        if claimed:
            limit = asyncio.Semaphore(self.policy.watch.max_concurrent_runs)

            async def one(decision: trigger.Decision, run_id: str) -> None:
                async with limit:
                    model = self.make_model(decision.issue_id)
                    report.outcomes[run_id] = await pipeline.start(decision, run_id, model)
                    self.note_run_servers(report.outcomes[run_id])

            await asyncio.gather(*(one(d, r) for d, r in claimed))

    def try_claim(self, decision: trigger.Decision, report: PollReport) -> str | None:
        if self.policy.kill_switch.engaged():
            report.skipped.append(f"issue {decision.issue_id}: the kill switch is set")
            self.say(f"issue {decision.issue_id}: no run — the kill switch is set")
            return None
        busy = [s for s in ("sandbox", "github") if self.backing_off(s)]
        if busy:
            report.skipped.append(f"issue {decision.issue_id}: {busy[0]} server is backing off")
            return None
        run_id = new_run_id()
        refusal = self.state.claim(
            run_id,
            decision.issue_id,
            decision.fingerprint,
            decision=decision.reason,
            max_concurrent=self.policy.watch.max_concurrent_runs,
            max_runs_per_day=self.policy.watch.max_runs_per_day,
            trust_phase=self.policy.trust_phase,
            retry_after_hours=self.policy.watch.retry_after_hours,
        )
        if refusal is not None:
            report.skipped.append(f"issue {decision.issue_id}: {refusal.reason}")
            self.say(f"issue {decision.issue_id}: no new run — {refusal.reason}")
            return None
        report.started.append(run_id)
        return run_id

    async def open_pull_request(
        self, pool: ServerPool, decision: trigger.Decision, report: PollReport
    ) -> bool:
        """Ask the repository itself: is a nightfix pull request for this issue open?

        The state db knows the pull requests it opened; this also covers one opened by
        another watcher or before the state was lost.
        """
        if self.policy.trust_phase == 1 or "github" not in pool.sessions:
            return False
        branch = branch_name(self.policy, decision.issue_id)
        repo = self.policy.repository.github_repo
        args = {"state": "open", "head": branch, **({"repo": repo} if repo else {})}
        try:
            found = await pool.call("github", "list_pull_requests", args)
        except (ServerError, ToolCallError) as exc:
            log.warning("could not list pull requests for %s: %s", branch, exc)
            return False
        pulls = found.get("pull_requests") or []
        if pulls:
            why = f"pull request #{pulls[0]['number']} from {branch} is open"
            report.skipped.append(f"issue {decision.issue_id}: {why}")
            self.say(f"issue {decision.issue_id}: no new run — {why}")
        return bool(pulls)

    async def follow_up(self, pipeline: RunPipeline, report: PollReport) -> None:
        """Review feedback on delivered pull requests → follow-up runs (see ``followups``)."""
        if self.backing_off("github") or self.backing_off("sandbox"):
            return
        followups = FollowUps(pipeline, self.make_model)
        await followups.check()
        report.feedback_ignored.extend(followups.ignored)
        for run_id, outcome in followups.outcomes.items():
            report.started.append(run_id)
            report.outcomes[run_id] = outcome
            self.note_run_servers(outcome)

    async def resume_answered(self, pipeline: RunPipeline, report: PollReport) -> None:
        timeout = self.policy.approvals.timeout_minutes
        for run in self.state.runs("awaiting_approval"):
            request = approvals.pending(self.state, run["run_id"])
            if request is not None and not approvals.expired(request, timeout, now_utc()):
                self.say(
                    f"run {run['run_id']}: still waiting — `nightfix approve "
                    f"{run['run_id']}` or `nightfix deny {run['run_id']}`"
                )
                continue
            if not self.state.take_over(run["run_id"], "awaiting_approval", "delivering"):
                continue
            self.say(f"run {run['run_id']}: approval answered, continuing delivery")
            report.outcomes[run["run_id"]] = await pipeline.resume(run)

    async def poll_errors(
        self, pool: ServerPool, report: PollReport
    ) -> list[trigger.Decision] | None:
        if self.backing_off("errors"):
            until = self.state.backoff_until("errors")
            report.skipped.append(f"errors server backing off until {until}")
            report.unavailable.append("errors")
            self.say(f"errors server: backing off until {until}; not polling")
            return None
        w = self.policy.watch
        for attempt in range(1, POLL_ATTEMPTS + 1):
            try:
                decisions = await trigger.poll(pool, self.policy.trigger)
            except (ServerError, ToolCallError) as exc:
                self.say(f"errors server: attempt {attempt}/{POLL_ATTEMPTS} failed: {exc}")
                if attempt == POLL_ATTEMPTS or isinstance(exc, ServerError):
                    delay = self.backoff("errors", str(exc))
                    report.skipped.append(f"errors server failing; backing off {delay:.1f}s")
                    report.unavailable.append("errors")
                    return None
                await asyncio.sleep(jittered(RETRY_DELAY_S, attempt, w.backoff_max_s))
                continue
            self.state.record_success("errors")
            return decisions
        return None

    # -- back-off --------------------------------------------------------------------------
    def backing_off(self, server: str) -> bool:
        until = self.state.backoff_until(server)
        return until is not None and until > datetime.now(UTC)

    def backoff(self, server: str, error: str) -> float:
        w = self.policy.watch
        delay = jittered(w.backoff_initial_s, self.state.failures(server) + 1, w.backoff_max_s)
        failures = self.state.record_failure(server, delay, error)
        self.say(f"{server} server: failure #{failures}, backing off {delay:.1f}s ({error})")
        return delay

    def note_run_servers(self, outcome: Outcome) -> None:
        kind, _, server = outcome.stop_reason.partition(":")
        if kind == "server_error" and server:
            self.backoff(server, outcome.message)


def webhook_secret(policy: Policy) -> bytes:
    """The delivery secret from the variable the policy names; none means no listener."""
    name = policy.trigger.webhook_secret_env
    secret = os.environ.get(name, "")
    if not secret:
        raise NightfixError(
            f"listening needs the webhook secret in ${name} (Sentry's integration client "
            "secret, also given to the collector's --notify-secret-env); set it, or do not listen"
        )
    return secret.encode()
