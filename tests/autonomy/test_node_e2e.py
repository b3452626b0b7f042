"""`nightfix watch --once` on JavaScript and TypeScript repositories: the npm + jest and the
pnpm + vitest projects bundled under tests/sandbox/repos, their error in the real collector,
the three real MCP servers over stdio, real Docker sandboxes (the sandbox's Node toolchain), a
scripted model, the gate on.

The client knows no language: test globs and the run of record come from the sandbox, and the
regression proof is the runner's own test id (``file > describe > title``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
import yaml
from autonomy_support import Env
from demo_env import Collector, git, wait_for_issue, write_policy

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

REPOS = Path(__file__).resolve().parents[1] / "sandbox" / "repos"
JS_TEST = """\
const { Pool } = require("../src/pool");

describe("pool", () => {
  it("serves 11 concurrent checkouts", () => {
    const pool = new Pool();
    for (let i = 0; i < 11; i += 1) pool.acquire();
    expect(pool.inUse).toBe(11);
  });
});
"""
TS_TEST = """\
import { describe, expect, it } from "vitest";
import { Pool } from "./connection";

describe("pool", () => {
  it("serves 11 concurrent checkouts", () => {
    const pool = new Pool();
    for (let i = 0; i < 11; i += 1) pool.acquire();
    expect(pool.acquire()).toBe(12);
  });
});
"""
CASES = {
    # repository: (pool source, regression test file, its content)
    "node-jest-npm": ("src/pool.js", "__tests__/burst.test.js", JS_TEST),
    "node-vitest-pnpm": ("src/db/connection.ts", "src/db/burst.test.ts", TS_TEST),
}


@pytest.fixture(scope="module")
def node_errors_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collector's store holding the service's ConnectionPoolExhausted, sent as a Node
    event (frames in src/pool.js) through the sentry-sdk transport, once per request."""
    db = tmp_path_factory.mktemp("node-errors") / "errors.db"
    with Collector(db) as collector:
        client = sentry_sdk.Client(dsn=collector.dsn, environment="production")
        for i in range(8):
            client.capture_event(_event(i))
        client.flush(timeout=10)
        wait_for_issue(db, min_events=5)
    return db


def _event(i: int) -> dict[str, Any]:
    frames = [
        {"filename": "src/checkout.js", "function": "checkout", "lineno": 12, "in_app": True},
        {"filename": "src/pool.js", "function": "Pool.acquire", "lineno": 16, "in_app": True},
    ]
    return {
        "level": "error",
        "platform": "node",
        "environment": "production",
        "transaction": "/checkout",
        "user": {"id": f"user-{i}"},
        "exception": {
            "values": [
                {
                    "type": "ConnectionPoolExhausted",
                    "value": "all 10 connections are in use",
                    "stacktrace": {"frames": frames},
                }
            ]
        },
    }


def _repo(name: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    subprocess.run(["cp", "-r", f"{REPOS / name}/.", str(dest)], check=True)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "checkout service (js)")
    return dest


def _trajectory(tmp: Path, files: dict[str, str]) -> Path:
    """A scripted model: read the issue, write ``files``, finish."""
    usage = {"input_tokens": 100, "output_tokens": 10, "cache_read_input_tokens": 0}
    calls = [
        {"name": "sandbox.write_file", "input": {"path": p, "content": c}} for p, c in files.items()
    ]
    finish = {
        "name": "finish",
        "input": {
            "root_cause": "the pool is hard-coded at 10 connections",
            "fix": "a pool of 50",
            "tests_run": ["the suite"],
            "confidence": "high",
        },
    }
    turns = [
        {"tool_calls": [{"name": "errors.get_issue", "input": {"issue_id": "${issue_id}"}}]},
        *({"tool_calls": [call]} for call in calls),
        {"tool_calls": [finish]},
    ]
    path = tmp / "node-fix.yaml"
    path.write_text(
        yaml.safe_dump({"turns": [{**t, "usage": usage} for t in turns]}, sort_keys=False)
    )
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_node_repository_fix_is_delivered_with_regression_proof_by_id(
    tmp_path: Path, node_errors_db: Path, no_leaks: None, name: str
) -> None:
    source, test_file, test_text = CASES[name]
    repo = _repo(name, tmp_path / name)
    policy = write_policy(tmp_path / "nf", repo, node_errors_db, 2)
    env = Env(tmp_path / "nf", repo, policy)
    fixed = (REPOS / name / source).read_text().replace("size: number = 10", "size: number = 50")
    fixed = fixed.replace("size = 10", "size = 50")
    assert "= 50" in fixed
    env.watch(_trajectory(tmp_path, {test_file: test_text, source: fixed}))
    [run] = env.runs()
    assert (run["status"], run["stop_reason"]) == ("delivered", "completed"), run
    [pull] = env.pulls()
    regression_id = f"{test_file} > pool > serves 11 concurrent checkouts"
    assert regression_id in pull["body"], pull["body"]
    assert "fails with the production error's own exception" in pull["body"], pull["body"]
    changed = git(repo, "diff", "--name-only", "main", pull["head"]).split()
    assert changed == sorted([test_file, source])
    trace = env.trace(run["run_id"])
    names = [e.get("name") for e in trace if e["type"] == "event"]
    assert "verification_passed" in names, names
