"""The autonomy commands, added to the ``nightfix`` group by :func:`register`:
``watch``, ``approve``, ``deny``, ``approvals``."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Callable

import click

from nightfix.audit import AuditLog
from nightfix.autonomy import approvals
from nightfix.autonomy.delivery import protected_changes
from nightfix.autonomy.notify import Notification, send
from nightfix.autonomy.watch import Watcher
from nightfix.autonomy.watch_state import WatchState
from nightfix.errors import NightfixError
from nightfix.models import Model, make_model, resolve_spec
from nightfix.policy import Policy, parse_listen
from nightfix.run_context import RunContext
from nightfix.stop_reasons import StopReason

EX_TEMPFAIL = 75

WATCH_EPILOG = """\b
Exit codes:
    0  the poll(s) ran (runs that stopped for a reason are reported, not errors)
    2  bad input (invalid policy, unknown model)
   75  --once and a server failed or is backing off, so the poll could not run
"""


def _policy(path: str | None) -> Policy:
    from nightfix.cli import resolve_policy

    return resolve_policy(path)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"nightfix: {message}", err=True)
    sys.exit(code)


def _audit(policy: Policy, event: str, **fields: object) -> None:
    """One audit line from a one-shot command (the log is closed again at once)."""
    log = AuditLog.for_policy(policy)
    try:
        log.append(event, **fields)
    finally:
        log.close()


def model_factory(policy: Policy, spec: str | None) -> tuple[str, Callable[[str], Model]]:
    """Validate the model choice once; returns (spec, factory: issue id -> Model)."""
    chosen = resolve_spec(spec, policy.model)

    def make(issue_id: str) -> Model:
        variables = {
            "issue_id": issue_id,
            "sandbox_source": policy.repository.sandbox_source,
            "ref": policy.repository.ref or "HEAD",
        }
        return make_model(chosen, policy, variables)

    return chosen, make


def register(main: click.Group) -> None:
    """Add the autonomy commands to the ``nightfix`` click group."""
    from nightfix.cli import policy_option

    @main.command(epilog=WATCH_EPILOG)
    @policy_option
    @click.option("--once", is_flag=True, help="Do one poll (and its runs), then exit.")
    @click.option(
        "--model",
        "model_spec",
        default=None,
        envvar="NIGHTFIX_MODEL",
        help="A provider ('anthropic', 'openai'), PROVIDER:MODEL_NAME or 'replay:PATH' "
        "(default: $NIGHTFIX_MODEL, else the policy's model.provider).",
    )
    @click.option(
        "--listen",
        "listen",
        default=None,
        metavar="HOST:PORT",
        help="Also accept signed push deliveries on POST http://HOST:PORT/webhook (Sentry "
        "integration webhooks, the collector's --notify); default: the policy's "
        "trigger.listen. The secret is read from the variable trigger.webhook_secret_env names.",
    )
    def watch(
        policy_path: str | None, once: bool, model_spec: str | None, listen: str | None
    ) -> None:
        """Watch the error server and fix critical issues on your behalf, within the policy.

        Every `trigger.poll_interval_s` it lists recent unresolved issues and decides, by the
        policy's `trigger` rules, which are critical (each decision printed with its reason).
        For a critical issue it claims a run (at most one per issue and fingerprint, none
        while a nightfix pull request for it is open, `watch.max_concurrent_runs` at a time,
        `watch.max_runs_per_day`), investigates it in a sandbox, passes the fix through the
        verification gate (full suite + a regression test that fails without the fix), and
        delivers it by `trust_phase`: 1 report, 2 draft PR, 3 ready PR, 4 PR + low-risk merge.
        Steps in `approvals.require` wait for `nightfix approve RUN`; the next poll continues
        them. State is in `state.db`: kill it any time and start it again — nothing is
        duplicated. SIGTERM/Ctrl-C stop it cleanly. A failing server is backed off (with
        jitter), never hammered.

        With --listen HOST:PORT it also takes pushes: a Sentry integration webhook (issue
        created/unresolved, issue alert) or the collector's --notify, signed with the secret
        in $NIGHTFIX_WEBHOOK_SECRET (trigger.webhook_secret_env), makes it evaluate that issue
        at once by the same rules. Forged (401), stale (401), replayed (409), oversized (413)
        and malformed (400) deliveries are refused and counted (GET /healthz shows the
        counts); polling goes on as the fallback.

        \b
        Examples:
          nightfix watch --policy policies/phase-2-draft.yaml
          nightfix watch --once --model replay:examples/checkout-service/trajectory.yaml
          NIGHTFIX_WEBHOOK_SECRET=... nightfix watch --listen 127.0.0.1:8787
        """
        try:
            policy = with_listen(_policy(policy_path), listen)
            spec, make = model_factory(policy, model_spec)
            watcher = Watcher(policy, make)
            pushed = f", push on {policy.trigger.listen}" if policy.trigger.listen else ""
            click.echo(
                f"nightfix watch: trust phase {policy.trust_phase}, model {spec}, "
                f"{'one poll' if once else f'every {policy.trigger.poll_interval_s:g}s'}{pushed}"
            )
            reports = asyncio.run(watcher.run(once=once))
        except NightfixError as exc:
            _fail(str(exc))
            return
        if once and reports and reports[-1].unavailable:
            sys.exit(EX_TEMPFAIL)

    @main.command(epilog="Exit codes: 0 approved, 2 unknown run / nothing waiting / stale.")
    @policy_option
    @click.argument("run_id", metavar="RUN")
    @click.option(
        "--digest",
        "expect",
        default=None,
        help="The digest you reviewed (from `nightfix approvals`); must still match.",
    )
    @click.option("--by", "by", default=None, help="Who approves (default: your user name).")
    def approve(policy_path: str | None, run_id: str, expect: str | None, by: str | None) -> None:
        """Approve the waiting delivery step of RUN (open the PR, or merge).

        The approval is bound to a hash of the exact diff and target you were shown; if the
        change differs when the step runs, or the request is older than
        `approvals.timeout_minutes`, it is refused as stale. The next `nightfix watch` poll
        performs the step.
        """
        try:
            policy = _policy(policy_path)
            state = WatchState.open(policy.state.db)
            row = approvals.decide(
                state,
                _full_id(state, run_id),
                True,
                by or getpass.getuser(),
                expect,
                policy.approvals.timeout_minutes,
            )
        except NightfixError as exc:
            _fail(str(exc))
            return
        try:
            _audit(
                policy,
                "approval_given",
                run_id=row["run_id"],
                step=row["step"],
                digest=row["digest"],
                by=by or getpass.getuser(),
            )
        except NightfixError as exc:
            _fail(f"approved, but the audit line could not be written: {exc}")
            return
        click.echo(f"approved {row['step']} for run {row['run_id']} (digest {row['digest'][:12]})")
        click.echo("the next `nightfix watch` poll delivers it (`nightfix watch --once`)")

    @main.command(epilog="Exit codes: 0 denied, 2 unknown run / nothing waiting.")
    @policy_option
    @click.argument("run_id", metavar="RUN")
    @click.option("--by", "by", default=None, help="Who denies (default: your user name).")
    def deny(policy_path: str | None, run_id: str, by: str | None) -> None:
        """Deny the waiting delivery step of RUN; the run ends `approval_denied` now."""
        try:
            policy = _policy(policy_path)
            state = WatchState.open(policy.state.db)
            full = _full_id(state, run_id)
            row = approvals.decide(state, full, False, by or getpass.getuser())
            _audit(
                policy, "approval_denied", run_id=full, step=row["step"], by=by or getpass.getuser()
            )
            if state.take_over(full, "awaiting_approval", "stopped"):
                reason = StopReason.parse("approval_denied")
                message = f"{row['step']} denied by {by or getpass.getuser()}"
                state.finish(full, "stopped", str(reason), notes=message)
                run = state.get(full) or {}
                ctx = RunContext.reopen(policy, full, str(run.get("issue_id")))
                ctx.finish(reason, message=message)
                asyncio.run(
                    send(
                        policy.notify,
                        Notification("stopped", full, message, {"Stop reason": str(reason)}),
                    )
                )
        except NightfixError as exc:
            _fail(str(exc))
            return
        click.echo(f"denied {row['step']} for run {row['run_id']}; stop reason approval_denied")

    @main.command(name="approvals")
    @policy_option
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def list_approvals(policy_path: str | None, as_json: bool) -> None:
        """List delivery steps waiting for approval, with the diff each would deliver."""
        try:
            policy = _policy(policy_path)
            state = WatchState.open(policy.state.db)
        except NightfixError as exc:
            _fail(str(exc))
            return
        waiting = []
        for run in state.runs("awaiting_approval"):
            request = approvals.pending(state, run["run_id"])
            if request:
                waiting.append(
                    {
                        **request,
                        "diff": run.get("diff"),
                        "issue_id": run["issue_id"],
                        "protected_changes": protected_changes(run),
                    }
                )
        if as_json:
            click.echo(json.dumps(waiting, indent=1))
            return
        if not waiting:
            click.echo("nothing waits for approval")
        for item in waiting:
            plumbing = item["protected_changes"]
            callout = (
                f"  CHANGES TEST INFRASTRUCTURE (read first): {', '.join(plumbing)}\n"
                if plumbing
                else ""
            )
            click.echo(
                f"run {item['run_id']} (issue {item['issue_id']}): {item['step']} "
                f"-> {item['target']}\n  digest {item['digest']}\n{callout}{item['diff']}"
            )


def with_listen(policy: Policy, listen: str | None) -> Policy:
    """The policy with ``--listen`` in ``trigger.listen`` (validated as the policy field is)."""
    if listen is None:
        return policy
    try:
        parse_listen(listen)
    except ValueError as exc:
        raise NightfixError(f"--listen: {exc}") from None
    trigger = policy.trigger.model_copy(update={"listen": listen})
    return policy.model_copy(update={"trigger": trigger})


def _full_id(state: WatchState, run_id: str) -> str:
    run = state.get(run_id)
    if run is None:
        raise NightfixError(f"no watch run {run_id!r} (see `nightfix runs`)")
    return str(run["run_id"])
