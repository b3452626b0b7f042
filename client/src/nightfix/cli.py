"""The ``nightfix`` command line.

Exit codes of ``run`` and ``replay`` are the stop reason's code (see ``nightfix run --help``);
every other command exits 0 on success, 1 when what it checks failed (e.g. the audit log does
not verify), 2 on bad input (an invalid policy, an unknown run). Errors are one line on stderr.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from nightfix import display, drift, logs, pinning, state
from nightfix.agent import RunResult, run_investigation
from nightfix.audit_key import KeySource
from nightfix.audit_rotate import rotate
from nightfix.audit_verify import verify_policy as audit_verify_policy
from nightfix.errors import AuditIntegrityError, NightfixError
from nightfix.models import make_model, resolve_spec
from nightfix.policy import Policy, load_policy
from nightfix.servers import ServerPool
from nightfix.stop_reasons import EXIT_CODES, Kind, StopReason
from nightfix.trace import read_trace

T = TypeVar("T")
DEFAULT_POLICY = "policies/default.yaml"
EXIT_TABLE = "\n".join(f"  {code:>3}  {kind.value}" for kind, code in EXIT_CODES.items())


def resolve_policy(path: str | None) -> Policy:
    """``--policy``, else ``$NIGHTFIX_POLICY``, else ``./policies/default.yaml``."""
    chosen = path or os.environ.get("NIGHTFIX_POLICY")
    if chosen is None:
        if not Path(DEFAULT_POLICY).exists():
            raise NightfixError("no policy: pass --policy FILE or set NIGHTFIX_POLICY")
        chosen = DEFAULT_POLICY
    return load_policy(chosen)


def fail(message: str, code: int = 2) -> None:
    click.echo(f"nightfix: {message}", err=True)
    sys.exit(code)


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; SIGINT/SIGTERM cancel it (the run ends ``interrupted`` and cleans up)."""

    async def wrapper() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            if task is not None:
                loop.add_signal_handler(sig, task.cancel)
        return await factory()

    return asyncio.run(wrapper())


policy_option = click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False),
    help="Policy file (default: $NIGHTFIX_POLICY, else ./policies/default.yaml).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logs (stderr).")
@click.version_option(package_name="nightfix")
def main(verbose: bool) -> None:
    """nightfix: an agent that fixes production bugs inside a sandbox, under a policy.

    It starts the MCP servers named in the policy (errors, github, sandbox), shows a model only
    the tools the policy allows, bounds every run by budgets and a kill switch, and records
    everything in a keyed, hash-chained audit log and a per-run trace. Logs go to stderr: JSON
    lines, or short lines on a terminal ($NIGHTFIX_LOG_FORMAT=json|human to choose).
    """
    logs.setup(verbose)


def _print_result(result: RunResult) -> None:
    click.echo(f"run {result.run_id}")
    click.echo(f"stop reason: {result.stop_reason}")
    if result.message and result.stop_reason.kind not in (Kind.COMPLETED, Kind.NO_FIX):
        click.echo(f"  {result.message}")
    for key, value in (result.summary or {}).items():
        click.echo(f"  {key}: {value}")
    if result.files_changed:
        click.echo(f"files changed: {', '.join(result.files_changed)}")
    click.echo(
        f"tool calls {result.tool_calls}, steps {result.steps}, tokens "
        f"{result.usage.total_input} in / {result.usage.output_tokens} out"
        f"{' (estimated: the server reported no usage)' if result.usage.estimated else ''}, "
        f"${result.cost_usd:.4f}, {result.duration_s:.1f}s"
    )
    click.echo(f"trace: {result.trace_path}")


async def _investigate(
    policy: Policy, issue: str, model_spec: str | None, ref: str | None
) -> RunResult:
    variables = {
        "issue_id": issue,
        "sandbox_source": policy.repository.sandbox_source,
        "ref": ref or policy.repository.ref or "HEAD",
    }
    model = make_model(resolve_spec(model_spec, policy.model), policy, variables)
    return await run_investigation(policy, issue, model, ref=ref)


@main.command(epilog=f"\b\nExit codes (the stop reason's; 2 = bad input):\n{EXIT_TABLE}")
@click.option("--issue", "issue", required=True, help="Error issue id (from errors.list_issues).")
@policy_option
@click.option(
    "--model",
    "model_spec",
    default=None,
    envvar="NIGHTFIX_MODEL",
    help="For this run only: a provider ('anthropic', 'openai'), PROVIDER:MODEL_NAME, or "
    "'replay:PATH' (a trace or trajectory). Default: $NIGHTFIX_MODEL, else the policy's "
    "model.provider.",
)
@click.option(
    "--ref", default=None, help="Git ref the sandbox is made from (default: policy/HEAD)."
)
def run(issue: str, policy_path: str | None, model_spec: str | None, ref: str | None) -> None:
    """Investigate and fix one error issue in a fresh sandbox.

    The model reads the issue and the code, reproduces the bug in the run's sandbox, fixes it,
    runs the tests and ends with a summary (root cause, fix, tests run, confidence). The run
    ends with exactly one stop reason, printed, stored in the runs index (`nightfix runs`) and
    the trace (`nightfix show RUN`), and returned as the exit code. Nothing is pushed: this
    command never writes to the repository.

    \b
    Example:
      nightfix run --issue 42 --policy policies/default.yaml
      nightfix run --issue 42 --model openai:gpt-4.1
      nightfix run --issue 42 --model replay:.nightfix/traces/RUN.jsonl
    """
    try:
        policy = resolve_policy(policy_path)
        result = run_async(lambda: _investigate(policy, issue, model_spec, ref))
    except NightfixError as exc:
        fail(str(exc))
    except asyncio.CancelledError:
        click.echo("stop reason: interrupted")
        sys.exit(EXIT_CODES[Kind.INTERRUPTED])
    _print_result(result)
    sys.exit(result.stop_reason.exit_code)


@main.command(epilog="Exit codes: 0 no drift, 3 drift found, 2 bad input.")
@click.argument("trace_path", metavar="TRACE", type=click.Path(exists=True, dir_okay=False))
@policy_option
@click.option("--issue", default=None, help="Issue id (default: the one the trace recorded).")
def replay(trace_path: str, policy_path: str | None, issue: str | None) -> None:
    """Replay a recorded run's model turns against the live servers and report drift.

    The turns of TRACE are fed back in order; each live tool result is compared with the
    recorded one (volatile fields such as timings and sandbox ids ignored). Use it to catch
    drift when servers, prompts or models change.
    """
    try:
        policy = resolve_policy(policy_path)
        recorded = read_trace(trace_path)
        issue = issue or next((e.get("issue_id") for e in recorded if e.get("issue_id")), None)
        if not issue:
            fail(f"{trace_path}: no issue id recorded; pass --issue")
        assert issue is not None
        result = run_async(lambda: _investigate(policy, issue, f"replay:{trace_path}", None))
    except (NightfixError, ValueError) as exc:
        fail(str(exc))
    report = drift.compare(recorded, read_trace(result.trace_path))
    click.echo(
        f"replayed {trace_path} as run {result.run_id}: {report.compared} tool results compared"
    )
    for item in report.drifted:
        click.echo(f"  DRIFT call {item.index} {item.name}: {item.first_difference()}")
    for missing in report.missing:
        click.echo(f"  MISSING {missing}: the replay stopped before it")
    if report.recorded_stop != report.live_stop:
        click.echo(f"  stop reason: recorded {report.recorded_stop}, live {report.live_stop}")
    click.echo("no drift" if report.clean else "drift found")
    sys.exit(0 if report.clean else 3)


@main.group(name="policy")
def policy_group() -> None:
    """Inspect policy files."""


@policy_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def policy_check(path: str) -> None:
    """Validate a policy file strictly and print the effective policy (defaults filled in).

    Unknown keys and wrong types are errors naming the line and the key. ``extends: FILE``
    is resolved relative to the file. Exit 0 when valid, 2 when not.
    """
    try:
        policy = load_policy(path)
    except NightfixError as exc:
        fail(str(exc))
    click.echo(f"# {path}: valid. Effective policy:")
    click.echo(yaml.safe_dump(policy.model_dump(mode="json", exclude={"extends"}), sort_keys=False))


@main.group(name="audit")
def audit_group() -> None:
    """Check the keyed, anchored audit log."""


AUDIT_EPILOG = """\b
Exit codes:
    0  intact: every line's MAC is right and the log reaches its anchor in state.db
    1  not intact: a line was edited, removed, inserted or reordered, the end was cut off,
       the anchor is missing, or the log is of the old unkeyed format (cannot be shown intact)
    2  cannot check: no log (and no anchor), the key is missing or wrong, invalid policy
"""


@audit_group.command("verify", epilog=AUDIT_EPILOG)
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@policy_option
def audit_verify(path: str | None, policy_path: str | None) -> None:
    """Verify the audit log (default: the policy's audit.path).

    Every line carries an HMAC-SHA256 under a key kept apart from the log (the policy's
    audit.key_env variable, else audit.key_file, default audit.key beside state.db), and the
    chain's head is anchored in the policy's state.db. A log is checked against the anchor
    recorded for the path it was written under. The first problem found is printed.
    """
    try:
        policy = resolve_policy(policy_path)
        target = path or policy.audit.path
        result = audit_verify_policy(policy, target)
    except NightfixError as exc:
        fail(str(exc))
    note = f" (note: {result.note})" if result.note else ""
    if result.ok:
        click.echo(f"{target}: OK, {result.lines} lines, keyed chain intact{note}")
        return
    label = "UNKEYED" if result.unkeyed else "TAMPERED"
    fail(f"{target}: {label}: {result.problem}", code=1)


@audit_group.command("rotate")
@click.argument("archive", required=False, type=click.Path(dir_okay=False))
@policy_option
def audit_rotate(archive: str | None, policy_path: str | None) -> None:
    """Move the policy's audit log to ARCHIVE (default: <log>.<UTC time>) after verifying it.

    The next append starts a new keyed chain at audit.path; the archive keeps its anchor and
    verifies with `nightfix audit verify ARCHIVE`. A log that does not verify is not moved
    (exit 1): keep it as evidence. A log of the old unkeyed format is moved aside.
    Exit 0 rotated, 1 the log does not verify, 2 cannot rotate (no log, key, policy).
    """
    try:
        policy = resolve_policy(policy_path)
        keys = KeySource.for_policy(policy)
        target, result = rotate(policy.audit.path, keys, policy.state.db, archive)
    except AuditIntegrityError as exc:
        fail(str(exc), code=1)
    except NightfixError as exc:
        fail(str(exc))
    kind = "unkeyed" if result.unkeyed else f"{result.lines} lines, keyed chain intact"
    click.echo(f"{policy.audit.path} -> {target} ({kind}); the next append starts a new chain")


def _state(policy_path: str | None) -> Any:
    try:
        return state.connect(resolve_policy(policy_path).state.db)
    except NightfixError as exc:
        fail(str(exc))


@main.command()
@policy_option
@click.option("--limit", default=30, show_default=True, help="How many runs, newest first.")
def runs(policy_path: str | None, limit: int) -> None:
    """List runs: issue, stop reason, tool calls, tokens, cost, duration."""
    click.echo(display.runs_table(state.list_runs(_state(policy_path), limit)))


@main.command()
@click.argument("run_id", metavar="RUN")
@policy_option
@click.option("--full", is_flag=True, help="Do not shorten long texts and results.")
def show(run_id: str, policy_path: str | None, full: bool) -> None:
    """Print one run readably: every model turn, tool call, result and the stop reason.

    RUN may be a unique prefix of the run id.
    """
    record = state.get_run(_state(policy_path), run_id)
    if record is None:
        fail(f"no run {run_id!r} (see `nightfix runs`)")
    assert record is not None
    try:
        events = read_trace(record["trace_path"])
    except (OSError, ValueError) as exc:
        fail(f"cannot read the trace {record['trace_path']}: {exc}")
    click.echo(display.show_run(record, events, full))


@main.group(name="tools")
def tools_group() -> None:
    """Pinned tool definitions."""


@tools_group.command("trust")
@policy_option
def tools_trust(policy_path: str | None) -> None:
    """Start the policy's servers and pin their current tool definitions as trusted.

    Runs stop with `tool_definitions_changed` when a server presents definitions that differ
    from the pinned ones; a person reviews the change (`nightfix tools trust` prints what
    changed) and accepts it with this command.
    """

    async def go(policy: Policy) -> list[str]:
        async with ServerPool({str(k): v for k, v in policy.servers.items()}) as pool:
            conn = state.connect(policy.state.db)
            changes = [c.describe() for c in pinning.check(conn, pool.tools)]
            pinning.trust(conn, pool.tools)
            return changes + [f"{s}: {len(t)} tools pinned" for s, t in pool.tools.items()]

    try:
        policy = resolve_policy(policy_path)
        for line in run_async(lambda: go(policy)):
            click.echo(line)
    except NightfixError as exc:
        fail(str(exc))


def exit_code_for(reason: str) -> int:
    return StopReason.parse(reason).exit_code


if importlib.util.find_spec("nightfix.cli_autonomy") is not None:
    # The autonomy commands (watch, approve, deny …); an error inside that module surfaces.
    from nightfix.cli_autonomy import register

    register(main)

from nightfix.cli_doctor import register as register_doctor  # noqa: E402

register_doctor(main)

from nightfix.cli_eval import register as register_eval  # noqa: E402
from nightfix.cli_init import register as register_init  # noqa: E402

register_eval(main)
register_init(main)


if __name__ == "__main__":
    main()
