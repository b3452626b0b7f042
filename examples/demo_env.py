"""The demo's moving parts, shared by ``examples/demo.py`` and the tests.

- :func:`make_repo`: a fresh local git repository of an example service (default
  ``examples/checkout-service``; :data:`EXAMPLES` names them) on branch ``main``, as a team
  would have it;
- :class:`Collector`: ``nightfix-errors collect`` on a free port with its own project and DSN;
- :func:`drive_traffic`: runs the service's traffic driver against it through the real SDK
  (``traffic.py``: ``sentry-sdk``; ``traffic.cjs``: ``@sentry/node`` under
  ``node --enable-source-maps``; ``traffic.go``: ``sentry-go`` in GOPATH mode);
- :func:`write_policy`: a policy file that extends a shipped trust-phase policy and points
  every path (servers, state, audit, traces, kill switch) into one directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sdk_tools
import yaml

# One collector harness for the demo, the tests and `nightfix eval` (re-exported here).
from nightfix.evals.world import Collector, free_port, git, tool  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
SERVICE = EXAMPLES_DIR / "checkout-service"
TRAJECTORY = SERVICE / "trajectory.yaml"
EXAMPLES = ("checkout-service", "checkout-service-ts", "inventory-service-go")
"""Example services: each directory has the service, ``fix.patch``, ``trajectory.yaml`` and
a traffic driver (``traffic.py``, ``traffic.cjs`` or ``traffic.go``)."""
ISSUE_TITLES = {
    "checkout-service": "ConnectionPoolExhausted",
    "checkout-service-ts": "ConnectionPoolExhausted",
    "inventory-service-go": "slice bounds out of range",
}
"""What the title of each example's production error contains (:func:`wait_for_issue`)."""
NOT_IN_REPO = {
    "trajectory.yaml",
    "fix.patch",
    "__pycache__",
    ".pytest_cache",
    "traffic.cjs",
    "traffic.go",
    "node_modules",
    "dist",
}
"""What an example directory holds that its repository does not: the scripted model, the
known fix, the drivers that stand for production traffic, build output and dependencies.
(The Python example's ``traffic.py`` stays in its repository, as it always was.)"""


def service_dir(example: str) -> Path:
    """The directory of example ``example`` (one of :data:`EXAMPLES`)."""
    if example not in EXAMPLES:
        raise ValueError(f"unknown example {example!r}; choose one of {', '.join(EXAMPLES)}")
    return EXAMPLES_DIR / example


PHASE_FILES = {
    1: "phase-1-report.yaml",
    2: "phase-2-draft.yaml",
    3: "phase-3-ready.yaml",
    4: "phase-4-automerge.yaml",
}


def make_repo(dest: Path, detach: bool = False, service: Path = SERVICE) -> Path:
    """Copy ``service`` into ``dest`` (replacing it) and commit it on ``main``.

    ``detach`` leaves HEAD detached, like a served repository nobody works in: the local
    repository server merges only into a branch that is not checked out.
    """
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(service, dest, ignore=shutil.ignore_patterns(*NOT_IN_REPO))
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "checkout service 1.4.2")
    if detach:
        git(dest, "checkout", "-q", "--detach")
    return dest


def traffic_command(repo: Path, service: Path, min_errors: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run ``service``'s traffic driver against ``repo``."""
    if (service / "traffic.cjs").exists():
        env = sdk_tools.node_env()
        cmd = [sdk_tools.venv_tool("node"), "--enable-source-maps", str(service / "traffic.cjs")]
        return [*cmd, "--min-errors", str(min_errors)], env
    if (service / "traffic.go").exists():
        gopath = sdk_tools.go_gopath(repo, repo.parent / f".{repo.name}-gopath")
        cmd = [sdk_tools.venv_tool("go"), "run", str(service / "traffic.go")]
        return [*cmd, "-min-errors", str(min_errors)], sdk_tools.go_env(gopath)
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return [sys.executable, "traffic.py", "--min-errors", str(min_errors)], env


def drive_traffic(repo: Path, dsn: str, min_errors: int = 8, service: Path = SERVICE) -> str:
    """Run ``service``'s traffic driver (from ``repo``, its repository) with Sentry reporting
    to ``dsn``; returns its output."""
    cmd, env = traffic_command(repo, service, min_errors)
    env.update({"SENTRY_DSN": dsn, "SENTRY_ENVIRONMENT": "production"})
    done = subprocess.run(
        cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"traffic driver failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def write_policy(
    directory: Path,
    repo: Path,
    errors_db: Path,
    phase: int = 3,
    *,
    allow_merge: bool | None = None,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """A policy extending ``policies/<phase file>``, every path inside ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    allow_merge = phase == 4 if allow_merge is None else allow_merge
    github = [
        tool("nightfix-github"),
        "serve",
        "--local",
        str(repo),
        "--branch-prefix",
        "nightfix/",
    ]
    if allow_merge:
        github.append("--allow-merge")
    policy: dict[str, Any] = {
        "extends": str(ROOT / "policies" / PHASE_FILES[phase]),
        "servers": {
            "errors": {"command": [tool("nightfix-errors"), "serve", "--db", str(errors_db)]},
            "github": {"command": github},
            "sandbox": {
                "command": [
                    tool("nightfix-sandbox"),
                    "serve",
                    "--source",
                    f"app={repo}",
                    "--pool-size",
                    "0",
                ]
            },
        },
        "audit": {"path": str(directory / "audit.jsonl")},
        "traces": {"dir": str(directory / "traces")},
        "state": {"db": str(directory / "state.db")},
        "kill_switch": {"file": str(directory / "STOP"), "env": "NIGHTFIX_DEMO_KILL"},
    }
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(policy.get(key), dict):
            policy[key] = {**policy[key], **value}
        else:
            policy[key] = value
    path = directory / f"policy-phase-{phase}.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def wait_for_issue(
    errors_db: Path,
    min_events: int = 5,
    timeout: float = 30,
    title: str = ISSUE_TITLES["checkout-service"],
) -> dict[str, Any]:
    """Poll the error store over MCP (``nightfix-errors serve``) until the bug's issue (its
    title contains ``title``) has at least ``min_events`` events committed; returns the issue
    summary."""
    import asyncio

    from nightfix.policy import ServerSpec
    from nightfix.servers import ServerPool

    spec = ServerSpec(command=[tool("nightfix-errors"), "serve", "--db", str(errors_db)])

    async def poll() -> dict[str, Any]:
        async with ServerPool({"errors": spec}, errlog=subprocess.DEVNULL) as pool:
            deadline = time.monotonic() + timeout
            while True:
                page = await pool.call("errors", "list_issues", {"sort": "freq", "limit": 5})
                for issue in page.get("issues", []):
                    if title in issue["title"] and issue["count"] >= min_events:
                        return dict(issue)
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"no issue titled like {title!r} with {min_events} event(s) in {errors_db}"
                    )
                await asyncio.sleep(0.3)

    return asyncio.run(poll())
