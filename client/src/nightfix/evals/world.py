"""The world one attempt runs in: a git repository of the scenario's service, the
Sentry-compatible collector, the traffic, and a policy whose every path is in one directory."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from nightfix.errors import NightfixError
from nightfix.evals.scenarios import Scenario

BIN = Path(sys.executable).parent
IGNORED = ("__pycache__", ".pytest_cache", "node_modules", "*.pyc")
HOST_RUNTIMES = {"python": sys.executable}
"""Names in a traffic command replaced by this host's runtime (``python`` -> this venv's;
``node``, ``go`` and other console scripts -> this environment's, see :func:`tool`)."""


def tool(name: str) -> str:
    """A console script of this environment (the venv's, else PATH's)."""
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Service Team",
        "GIT_AUTHOR_EMAIL": "team@example.com",
        "GIT_COMMITTER_NAME": "Service Team",
        "GIT_COMMITTER_EMAIL": "team@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise NightfixError(f"git {' '.join(args)} in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


def make_repo(scenario: Scenario, dest: Path) -> Path:
    """The service (``repo/`` only: never the oracle or the trajectories) committed on main."""
    shutil.copytree(scenario.repo, dest, ignore=shutil.ignore_patterns(*IGNORED))
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", f"{scenario.name}: the service as deployed")
    return dest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Collector:
    """``nightfix-errors collect`` on a free port with its own project; a context manager.

    ``args`` are extra ``collect`` options (e.g. ``--notify URL``), ``env`` its environment;
    its output goes to ``log`` (default: beside the store)."""

    def __init__(
        self,
        db: Path,
        log: Path | None = None,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        project: str = "service",
    ) -> None:
        self.db, self.port = db, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or db.with_suffix(".collector.log")
        self.args, self.env, self.project = list(args), env, project
        self.proc: subprocess.Popen[bytes] | None = None
        self.dsn = ""

    def __enter__(self) -> Collector:
        self.db.parent.mkdir(parents=True, exist_ok=True)
        errors = tool("nightfix-errors")
        made = subprocess.run(
            [errors, "project", "create", self.project, "--db", str(self.db), "--url", self.url],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise NightfixError(f"nightfix-errors project create failed: {made.stderr.strip()}")
        self.dsn = made.stdout.strip().splitlines()[-1]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [errors, "collect", "--db", str(self.db), "--port", str(self.port), *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise NightfixError(f"the collector exited ({self.log}): {tail}") from None
                time.sleep(0.1)
        self.__exit__()
        raise NightfixError("the collector did not start listening within 30 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def drive_traffic(scenario: Scenario, repo: Path, dsn: str, log: Path) -> None:
    """The scenario's traffic command, reporting to ``dsn``; raises when it fails."""
    first = scenario.traffic[0]
    argv = [HOST_RUNTIMES.get(first) or tool(first), *scenario.traffic[1:]]
    env = {
        **os.environ,
        **sdk_env(scenario, repo, log.parent),
        "SENTRY_DSN": dsn,
        "SENTRY_ENVIRONMENT": "production",
        "SERVICE_DIR": str(repo),
        "PYTHONPATH": str(repo),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with log.open("ab") as out:
        done = subprocess.run(
            argv, cwd=scenario.directory, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=300
        )
    if done.returncode != 0:
        raise NightfixError(f"the traffic script failed (exit {done.returncode}); see {log}")


def sdk_env(scenario: Scenario, repo: Path, workdir: Path) -> dict[str, str]:
    """What a ``node`` or ``go`` traffic command needs to reach its Sentry SDK: the
    examples' ``sdk_tools`` (``@sentry/node`` on ``NODE_PATH``, cached under
    ``~/.cache/nightfix``; sentry-go in GOPATH mode, ``src/<module>`` linked to ``repo``).
    Python's sentry-sdk is a dependency of this environment: nothing to add."""
    runtime = scenario.traffic[0]
    if runtime not in ("node", "go"):
        return {}
    sdk = _sdk_tools(scenario)
    if runtime == "node":
        return dict(sdk.node_env())
    try:
        gopath = sdk.go_gopath(repo, workdir / "traffic-go")
    except RuntimeError as exc:
        raise NightfixError(f"scenario {scenario.name}: {exc}") from exc
    return dict(sdk.go_env(gopath))


def _sdk_tools(scenario: Scenario) -> Any:
    """``examples/sdk_tools.py`` of the checkout the scenarios belong to (``evals/`` and
    ``examples/`` are siblings): one place installs and finds the SDKs the examples use."""
    path = scenario.directory.resolve().parent.parent / "examples" / "sdk_tools.py"
    spec = importlib.util.spec_from_file_location("nightfix_sdk_tools", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise NightfixError(
            f"scenario {scenario.name}: its {scenario.traffic[0]} traffic needs {path} "
            "(run nightfix eval from a nightfix checkout: evals/ beside examples/)"
        )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_policy(
    directory: Path, policies: Path, repo: Path, errors_db: Path, extra: dict[str, Any]
) -> Path:
    """A trust-phase-2 policy (draft pull request, no approval) with every path in
    ``directory``; ``extra`` overrides top-level sections (merged one level deep)."""
    directory.mkdir(parents=True, exist_ok=True)
    base = policies / "phase-2-draft.yaml"
    if not base.exists():
        raise NightfixError(f"no {base}: pass --policies DIR (the repository's policies/)")
    policy: dict[str, Any] = {
        "extends": str(base),
        "servers": {
            "errors": {"command": [tool("nightfix-errors"), "serve", "--db", str(errors_db)]},
            "github": {
                "command": [
                    *(tool("nightfix-github"), "serve", "--local", str(repo)),
                    *("--branch-prefix", "nightfix/"),
                ]
            },
            "sandbox": {
                "command": [
                    *(tool("nightfix-sandbox"), "serve", "--source", f"app={repo}"),
                    *("--pool-size", "0"),
                ]
            },
        },
        "audit": {"path": str(directory / "audit.jsonl")},
        "traces": {"dir": str(directory / "traces")},
        "state": {"db": str(directory / "state.db")},
        "kill_switch": {"file": str(directory / "STOP"), "env": "NIGHTFIX_EVAL_KILL"},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(policy.get(key), dict):
            policy[key] = {**policy[key], **value}
        else:
            policy[key] = value
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path
