"""`make demo`: nightfix end to end on one machine, in under two minutes.

1. builds the sandbox image if it is missing (offline);
2. makes a local git repository of ``examples/checkout-service`` (a small service whose
   database pool is hard-coded at 10 connections);
3. starts the Sentry-compatible collector and drives concurrent checkouts at the service until
   ``ConnectionPoolExhausted`` is reported through the real ``sentry-sdk``;
4. runs ``nightfix watch --once`` under the default policy (trust phase 3): it decides the
   issue is critical, investigates and fixes it in a Docker sandbox, verifies the fix in fresh
   sandboxes, and — because phase 3 requires a person to approve opening a pull request —
   stops in ``awaiting_approval``;
5. approves it *on your behalf* (saying so; ``nightfix approve RUN`` is what you would type),
   and runs ``nightfix watch --once`` again, which opens the pull request;
6. prints the error issue, the criticality decision, the stop reason, the verification
   evidence, the pull request with its diff, and the cost.

Without ``ANTHROPIC_API_KEY`` the model is a scripted trajectory
(``examples/checkout-service/trajectory.yaml``) replayed against the live servers; with it,
Claude does the work. ``--example NAME`` runs another example service
(``checkout-service-ts``, ``inventory-service-go``: their own traffic driver, SDK and
trajectory; the sandbox needs a toolchain for their language). Everything lives in
``$NIGHTFIX_DEMO_DIR`` (default: a ``nightfix-demo`` directory in the system temp dir), wiped
at the start, so the demo is re-runnable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_env

MARKER = ".nightfix-demo"
START = time.monotonic()


def step(text: str) -> None:
    print(f"\n\033[1m==> [{time.monotonic() - START:5.1f}s] {text}\033[0m", flush=True)


def note(text: str) -> None:
    print(f"    {text}", flush=True)


def demo_dir() -> Path:
    base = Path(
        os.environ.get("NIGHTFIX_DEMO_DIR") or Path(tempfile.gettempdir()) / "nightfix-demo"
    )
    if base.exists():
        if not (base / MARKER).exists() and any(base.iterdir()):
            sys.exit(
                f"demo: {base} exists and is not a nightfix demo directory; choose another "
                "NIGHTFIX_DEMO_DIR"
            )
        shutil.rmtree(base)
    base.mkdir(parents=True)
    (base / MARKER).write_text("made by examples/demo.py; wiped on every run\n")
    return base


def nightfix(policy: Path, *args: str, stream: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NIGHTFIX_POLICY": str(policy)}
    cmd = [demo_env.tool("nightfix"), *args]
    if not stream:
        return subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines: list[str] = []
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            print(f"    | {line.rstrip()}", flush=True)
        proc.wait()
    finally:  # the demo interrupted (Ctrl-C, a closed pipe): stop the watcher cleanly too
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, "".join(lines), "")


def ensure_image() -> None:
    """Build the sandbox base image when it is missing (progress shows on stderr)."""
    done = subprocess.run(
        [demo_env.tool("nightfix-sandbox"), "image", "build", "--offline", "--if-missing"],
        stdout=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        sys.exit("demo: could not build the sandbox image (see the messages above)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--example",
        choices=demo_env.EXAMPLES,
        default="checkout-service",
        help="which example service (default: the Python checkout-service)",
    )
    example = parser.parse_args(argv).example
    service = demo_env.service_dir(example)
    trajectory = service / "trajectory.yaml"
    step("nightfix demo: a production bug, found, fixed in a sandbox, verified, delivered")
    base = demo_dir()
    note(f"working directory: {base}")
    step("sandbox image (built once, offline)")
    ensure_image()
    note("nightfix-sandbox image ready")

    step(f"a local git repository of the {example}")
    repo = demo_env.make_repo(base / example, service=service)
    note(f"{repo} (branch main, {demo_env.git(repo, 'rev-parse', '--short', 'HEAD')})")

    errors_db = base / "errors.db"
    with demo_env.Collector(errors_db) as collector:
        step("the error collector (Sentry-compatible) is listening")
        note(f"{collector.url}  DSN {collector.dsn}")
        step("production traffic: concurrent requests, reported with the real Sentry SDK")
        for line in demo_env.drive_traffic(repo, collector.dsn, service=service).splitlines():
            note(line)
        # @sentry/node's default Dedupe integration sends one event for identical failures
        min_events = 1 if (service / "traffic.cjs").exists() else 5
        issue = demo_env.wait_for_issue(
            errors_db, min_events=min_events, title=demo_env.ISSUE_TITLES[example]
        )
    note(f"issue {issue['id']}: {issue['title']} ({issue['count']} events)")

    policy = demo_env.write_policy(base / "nightfix", repo, errors_db, phase=3)
    if os.environ.get("ANTHROPIC_API_KEY"):
        model = "anthropic"
        step("model: Claude (ANTHROPIC_API_KEY is set)")
    else:
        model = f"replay:{trajectory}"
        step("model: SCRIPTED — no ANTHROPIC_API_KEY, so the model's turns are replayed from")
        note(
            f"{trajectory.relative_to(demo_env.ROOT)}; every tool call still runs "
            "for real (collector, git repository, Docker sandboxes)"
        )
    note(f"policy: {policy} (extends policies/phase-3-ready.yaml = the default, trust phase 3)")

    step("nightfix watch --once")
    first = nightfix(policy, "watch", "--once", "--model", model, stream=True)
    state = _state(base)
    runs = state.runs()
    if not runs:
        print("demo: the watch started no run; see the output above", file=sys.stderr)
        return 1
    run = runs[-1]
    if run["status"] == "awaiting_approval":
        step("trust phase 3: opening the pull request waits for a person")
        note(nightfix(policy, "approvals").stdout.strip().splitlines()[0])
        note(f"the demo approves it itself now — you would type: nightfix approve {run['run_id']}")
        approved = nightfix(policy, "approve", run["run_id"], "--by", "demo")
        for line in (approved.stdout.strip() or approved.stderr.strip()).splitlines():
            note(line)
        step("nightfix watch --once (continues the approved run)")
        nightfix(policy, "watch", "--once", "--model", model, stream=True)
    elif first.returncode != 0:
        print(f"demo: nightfix watch failed ({first.returncode})", file=sys.stderr)
    final = state.get(run["run_id"]) or run
    summary(base, repo, issue, final, state)
    state.close()
    return 0 if final.get("status") == "delivered" and final.get("pr_number") else 1


def _state(base: Path):
    from nightfix.autonomy.watch_state import WatchState

    return WatchState.open(base / "nightfix" / "state.db")


def summary(base: Path, repo: Path, issue: dict, run: dict, state) -> None:
    step("RESULT")
    print(f"  error issue     #{issue['id']} {issue['title']}")
    print(
        f"                  {issue['count']} events, {issue['user_count']} users, "
        f"first seen {issue['first_seen']}, last seen {issue['last_seen']}"
    )
    decisions = [d for d in state.decisions(200) if d["issue_id"] == str(run["issue_id"])]
    if decisions:
        first = decisions[-1]
        print(
            f"  criticality     {'CRITICAL' if first['critical'] else 'not critical'}: "
            f"{first['reason']}"
        )
    print(
        f"  run             {run['run_id']} -> status {run['status']}, stop reason "
        f"{run['stop_reason']}"
    )
    evidence = run.get("evidence") or {}
    suite, before, after = (
        evidence.get("suite") or {},
        evidence.get("before") or {},
        evidence.get("after") or {},
    )
    if suite:
        print(
            f"  verification    full suite with the fix: {suite.get('passed')} passed, "
            f"{suite.get('failed')} failed ({suite.get('command')})"
        )
    if before:
        print(
            f"                  regression test {', '.join(evidence.get('regression_tests', []))}:"
            f" {before.get('failed')} failing on the original code -> {after.get('passed')} "
            "passing with the fix"
        )
        for failure in before.get("failures", [])[:2]:
            print(
                f"                    before: {failure['test_id']}: "
                f"{failure['message'].splitlines()[0][:100]}"
            )
    print(
        f"  cost            ${float(run.get('cost_usd') or 0):.4f} (model usage priced by the "
        "policy; a scripted run bills its recorded usage)"
    )
    if run.get("pr_number"):
        shown = subprocess.run(
            [
                demo_env.tool("nightfix-github"),
                "pulls",
                "show",
                str(run["pr_number"]),
                "--local",
                str(repo),
                "--json",
            ],
            capture_output=True,
            text=True,
        )
        pull = json.loads(shown.stdout) if shown.returncode == 0 else {}
        kind = "draft" if pull.get("draft") else "ready for review"
        print(
            f"  pull request    #{run['pr_number']} ({pull.get('state')}, {kind}) "
            f"{pull.get('head')} -> {pull.get('base')}: {pull.get('title')}"
        )
        print(f"                  {run.get('pr_url')}")
        diff = demo_env.git(repo, "diff", f"{pull.get('base')}...{pull.get('head')}")
        print("\n" + "\n".join(f"    {line}" for line in diff.splitlines()))
    print(
        f"\n  everything is in {base}: state, audit log, traces (nightfix show RUN), the repository"
    )
    print(
        f"  try: NIGHTFIX_POLICY={base / 'nightfix' / 'policy-phase-3.yaml'} nightfix show "
        f"{run['run_id']}"
    )
    print(f"  total {time.monotonic() - START:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
