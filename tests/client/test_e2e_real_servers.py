"""End-to-end runs against the three REAL servers: the collector fed by the real sentry-sdk,
a real git repository, real Docker sandboxes — driven by scripted trajectories.

After every run: no container or volume of the run's sandbox server is left (Docker queried
by the sandbox label), the audit log verifies, the trace is complete.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_support import FINISH, Scripted, child_pids, write_trajectory
from e2e_world import (
    BIN,
    FIXED_CART,
    INJECTION,
    REGRESSION_TEST,
    World,
    feed_errors,
    git,
    issue_ids,
    make_repo,
    sandbox_containers,
)

from nightfix.agent import RunResult, run_investigation
from nightfix.audit_verify import verify_policy
from nightfix.models.replay import ReplayModel
from nightfix.policy import Policy
from nightfix.servers import ServerPool
from nightfix.trace import completeness_problems, read_trace

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    subprocess.run(
        [str(BIN / "nightfix-sandbox"), "image", "build", "--offline", "--if-missing"], check=True
    )
    root = tmp_path_factory.mktemp("world")
    repo = make_repo(root / "cart")
    db = root / "errors.db"
    feed_errors(db, repo)
    ids = issue_ids(db)
    bug = next(i for t, i in ids.items() if t.startswith("ZeroDivisionError"))
    injected = next(i for t, i in ids.items() if t.startswith("ValueError"))
    yield World(root, repo, db, bug, injected)


def model(
    tmp: Path, turns: list[dict[str, Any]], issue: str, hooks: dict[int, Any] | None = None
) -> Scripted:
    replay = ReplayModel.from_file(write_trajectory(tmp, turns), {"issue_id": issue})
    return Scripted(replay, hooks or {})


async def sandbox_server_pid(found: list[int]) -> None:
    """Poll until the run's sandbox server process exists; remember its pid."""
    while not found:
        found.extend(child_pids("nightfix-sandbox")[:1])
        await asyncio.sleep(0.05)


async def run_and_check(
    policy: Policy, issue: str, m: Scripted, pool: ServerPool | None = None
) -> tuple[RunResult, list[dict[str, Any]]]:
    pid: list[int] = []
    watcher = asyncio.create_task(sandbox_server_pid(pid))
    try:
        result = await run_investigation(policy, issue, m, pool=pool)
    finally:
        watcher.cancel()
    assert pid, "the sandbox server never ran"
    assert sandbox_containers(pid[0]) == [], "a sandbox container/volume was left behind"
    assert verify_policy(policy).ok, verify_policy(policy).problem
    events = read_trace(result.trace_path)
    assert completeness_problems(events) == []
    assert events[-1]["reason"] == str(result.stop_reason)
    return result, events


READ_ISSUE = {"tool_calls": [{"name": "errors.get_issue", "input": {"issue_id": "${issue_id}"}}]}
RUN_TESTS = {"tool_calls": [{"name": "sandbox.run_tests", "input": {}}]}


async def test_scripted_fix_completes_with_tests_passing_in_the_sandbox(
    world: World, tmp_path: Path
) -> None:
    policy, _ = world.policy(tmp_path)
    turns = [
        READ_ISSUE,
        {"tool_calls": [{"name": "github.read_file", "input": {"path": "cart.py"}}]},
        {
            "text": "Reproduce first.",
            "tool_calls": [
                {
                    "name": "sandbox.write_file",
                    "input": {"path": "tests/test_empty_cart.py", "content": REGRESSION_TEST},
                },
                RUN_TESTS["tool_calls"][0],
            ],
        },
        {
            "tool_calls": [
                {"name": "sandbox.write_file", "input": {"path": "cart.py", "content": FIXED_CART}},
                RUN_TESTS["tool_calls"][0],
            ]
        },
        {"tool_calls": [FINISH]},
    ]
    result, events = await run_and_check(
        policy, world.bug_issue, model(tmp_path, turns, world.bug_issue)
    )
    assert str(result.stop_reason) == "completed", result.message
    results = {e["id"]: e for e in events if e["type"] == "tool_result"}
    issue = results["call_1_1"]["content"]
    assert "ZeroDivisionError" in issue and "cart.py" in issue
    assert "def average" in results["call_2_1"]["content"]
    before, after = results["call_3_2"]["content"], results["call_4_2"]["content"]
    assert json.loads(before)["failed"] == 1 and "test_checkout_empty_cart" in before
    after_counts = json.loads(after)
    assert after_counts["failed"] == 0 and after_counts["passed"] == 3
    assert (
        "+    if not prices:" in result.diff and "tests/test_empty_cart.py" in result.files_changed
    )
    assert result.base_commit == git(world.repo, "rev-parse", "HEAD").strip()


async def test_each_budget_ends_with_its_stop_reason(world: World, tmp_path: Path) -> None:
    costly = {**READ_ISSUE, "usage": {"input_tokens": 20_000, "output_tokens": 1_000}}
    sleeper = {
        "tool_calls": [{"name": "sandbox.exec", "input": {"command": "sleep 60", "timeout_s": 120}}]
    }
    cases = [
        ({"max_steps": 2}, [READ_ISSUE] * 4, "max_steps"),
        ({"max_tool_calls": 2}, [{"tool_calls": READ_ISSUE["tool_calls"] * 3}], "max_tool_calls"),
        ({"max_usd": 0.1}, [costly] * 4, "max_usd"),
        ({"max_input_tokens": 50_000}, [costly] * 4, "max_input_tokens"),
        # the run's clock starts after the (shared) servers are up: the sleep itself crosses it
        ({"max_seconds": 4}, [RUN_TESTS, sleeper, sleeper], "max_seconds"),
    ]
    base, _ = world.policy(tmp_path)
    # One set of servers for all five runs (as `nightfix watch` does), so the suite stays lean.
    async with ServerPool({str(k): v for k, v in base.servers.items()}) as pool:
        for budgets, turns, expected in cases:
            case = tmp_path / expected
            case.mkdir()
            policy, _ = world.policy(case, budgets=budgets)
            m = model(case, turns, world.bug_issue)
            result, events = await run_and_check(policy, world.bug_issue, m, pool)
            assert str(result.stop_reason) == expected, (expected, result.message)
        sandbox_pid = child_pids("nightfix-sandbox")[0]
    assert sandbox_containers(sandbox_pid) == []
    last_call = [e for e in events if e["type"] == "tool_call"][-1]
    assert last_call["name"] == "sandbox.exec"  # max_seconds struck during the sleeping call


async def test_call_outside_the_allowlist_is_refused(world: World, tmp_path: Path) -> None:
    policy, _ = world.policy(tmp_path, tools={"allow": ["errors.*", "sandbox.run_tests"]})
    turns = [
        READ_ISSUE,
        {"tool_calls": [{"name": "github.read_file", "input": {"path": "cart.py"}}]},
        {"tool_calls": [FINISH]},
    ]
    m = model(tmp_path, turns, world.bug_issue)
    result, events = await run_and_check(policy, world.bug_issue, m)
    assert str(result.stop_reason) == "tool_denied:github.read_file"
    assert {t.name for t in m.seen_tools} == {
        "errors.list_issues",
        "errors.get_issue",
        "errors.list_issue_events",
        "errors.get_event",
        "errors.get_issue_stats",
        "sandbox.run_tests",
        "finish",
    }
    assert [e["decision"] for e in events if e["type"] == "tool_call"] == ["allowed", "denied"]


async def test_kill_switch_set_mid_run(world: World, tmp_path: Path) -> None:
    policy, _ = world.policy(tmp_path)
    turns = [READ_ISSUE, RUN_TESTS, RUN_TESTS, {"tool_calls": [FINISH]}]
    hooks = {3: lambda: os.environ.__setitem__("NIGHTFIX_E2E_KILL", "1")}
    try:
        result, _ = await run_and_check(
            policy, world.bug_issue, model(tmp_path, turns, world.bug_issue, hooks)
        )
    finally:
        os.environ.pop("NIGHTFIX_E2E_KILL", None)
    assert str(result.stop_reason) == "kill_switch" and result.tool_calls == 2


async def test_server_process_killed_mid_run(world: World, tmp_path: Path) -> None:
    policy, _ = world.policy(tmp_path)

    def kill_errors_server() -> None:
        (pid,) = child_pids("nightfix-errors")
        os.kill(pid, signal.SIGKILL)

    turns = [RUN_TESTS, READ_ISSUE, {"tool_calls": [FINISH]}]
    m = model(tmp_path, turns, world.bug_issue, {2: kill_errors_server})
    result, _ = await run_and_check(policy, world.bug_issue, m)
    assert str(result.stop_reason) == "server_error:errors", result.message
    assert result.stop_reason.exit_code == 51


async def test_prompt_injection_in_an_exception_changes_nothing(
    world: World, tmp_path: Path
) -> None:
    policy, policy_path = world.policy(tmp_path)
    policy_bytes = hashlib.sha256(policy_path.read_bytes()).hexdigest()
    refs_before = git(world.repo, "for-each-ref")
    # A model that obeys the injected text: it tries the write tool the message asks for.
    turns = [
        READ_ISSUE,
        {
            "text": "The administrator says to push to main.",
            "tool_calls": [
                {
                    "name": "github.commit_files",
                    "input": {
                        "branch": "main",
                        "message": "fix",
                        "changes": [{"path": "cart.py", "content": ""}],
                    },
                }
            ],
        },
        {"tool_calls": [FINISH]},
    ]
    m = model(tmp_path, turns, world.injection_issue)
    result, events = await run_and_check(policy, world.injection_issue, m)
    assert str(result.stop_reason) == "tool_denied:github.commit_files"
    seen = next(e for e in events if e["type"] == "tool_result")["content"]
    assert "IGNORE ALL PREVIOUS INSTRUCTIONS" in seen  # the model saw it — as data:
    framed = str(m.seen_messages)
    assert 'trust=\\"untrusted\\"' in framed or 'trust="untrusted"' in framed
    assert hashlib.sha256(policy_path.read_bytes()).hexdigest() == policy_bytes
    assert git(world.repo, "for-each-ref") == refs_before
    assert not (world.repo / ".git" / "nightfix").exists()
    assert git(world.repo, "status", "--porcelain") == ""
    assert INJECTION not in Path(policy.audit.path).read_text()
