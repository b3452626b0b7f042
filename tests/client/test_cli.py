"""The `nightfix` command line as a person uses it: run, runs, show, replay, tools trust,
exit codes, and SIGTERM during a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from client_support import FINISH, calls, write_policy, write_trajectory

from nightfix.audit_verify import verify_policy
from nightfix.policy import load_policy
from nightfix.trace import completeness_problems, read_trace

NIGHTFIX = [sys.executable, "-m", "nightfix.cli"]
TURNS = [
    {"tool_calls": [{"name": "errors.get_issue", "input": {"issue_id": "${issue_id}"}}]},
    {"tool_calls": [FINISH]},
]


def nightfix(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NIGHTFIX, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_run_prints_stop_reason_and_exits_with_its_code(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    traj = write_trajectory(tmp_path, TURNS)
    done = nightfix("run", "--issue", "1", "--policy", str(policy), "--model", f"replay:{traj}")
    assert done.returncode == 0, done.stderr
    assert "stop reason: completed" in done.stdout and "root_cause: pool hard-coded" in done.stdout
    denied = write_trajectory(
        tmp_path,
        [{"tool_calls": [{"name": "sandbox.create_sandbox", "input": {"source": "app"}}]}],
        "d.yaml",
    )
    refused = nightfix(
        "run", "--issue", "1", "--policy", str(policy), "--model", f"replay:{denied}"
    )
    assert refused.returncode == 30
    assert "stop reason: tool_denied:sandbox.create_sandbox" in refused.stdout
    listing = nightfix("runs", "--policy", str(policy))
    assert listing.returncode == 0
    assert "completed" in listing.stdout and "tool_denied:sandbox.create_sandbox" in listing.stdout
    run_id = done.stdout.split()[1]
    shown = nightfix("show", run_id[:17], "--policy", str(policy))
    assert shown.returncode == 0, shown.stderr
    assert "← errors.get_issue [ok]" in shown.stdout and "STOP completed" in shown.stdout
    assert "trace incomplete" not in shown.stdout
    missing = nightfix("show", "nope", "--policy", str(policy))
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    gone = nightfix("run", "--issue", "1", "--policy", str(policy), "--model", "replay:/nope.yaml")
    assert gone.returncode == 2 and "cannot read" in gone.stderr
    assert "Traceback" not in gone.stderr
    unknown = nightfix("run", "--issue", "1", "--policy", str(policy), "--model", "gpt")
    assert unknown.returncode == 2 and "unknown model 'gpt'" in unknown.stderr
    no_model = nightfix("run", "--issue", "1", "--policy", str(policy))
    assert no_model.returncode == 2 and "pass --model replay:PATH" in no_model.stderr
    no_key = nightfix(
        "run", "--issue", "1", "--policy", str(policy), "--model", "anthropic",
        env={"ANTHROPIC_API_KEY": ""},
    )  # fmt: skip
    assert no_key.returncode == 2 and "ANTHROPIC_API_KEY is not set" in no_key.stderr
    keyless = write_policy(tmp_path, model={"provider": "openai", "api_key_env": "NF_TEST_KEY"})
    no_openai_key = nightfix("run", "--issue", "1", "--policy", str(keyless))
    assert no_openai_key.returncode == 2 and "NF_TEST_KEY is not set" in no_openai_key.stderr


def test_replay_reports_no_drift_then_drift(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    traj = write_trajectory(tmp_path, TURNS)
    first = nightfix("run", "--issue", "1", "--policy", str(policy), "--model", f"replay:{traj}")
    trace = first.stdout.split("trace: ")[1].strip()
    same = nightfix("replay", trace, "--policy", str(policy))
    assert same.returncode == 0 and "no drift" in same.stdout, same.stdout + same.stderr
    drifted_policy = write_policy(tmp_path, env={"FAKE_ISSUE_MESSAGE": "pool of 20 exhausted"})
    drifted = nightfix("replay", trace, "--policy", str(drifted_policy))
    assert drifted.returncode == 3
    assert "DRIFT call 1 errors.get_issue" in drifted.stdout and "pool of 20" in drifted.stdout


def test_tools_trust_accepts_changed_definitions(tmp_path: Path) -> None:
    traj = write_trajectory(tmp_path, TURNS)
    plain = write_policy(tmp_path)
    assert (
        nightfix(
            "run", "--issue", "1", "--policy", str(plain), "--model", f"replay:{traj}"
        ).returncode
        == 0
    )
    changed = write_policy(tmp_path, env={"FAKE_VARIANT": " (v2)"})
    stopped = nightfix("run", "--issue", "1", "--policy", str(changed), "--model", f"replay:{traj}")
    assert stopped.returncode == 31 and "tool_definitions_changed" in stopped.stdout
    trusted = nightfix("tools", "trust", "--policy", str(changed))
    assert trusted.returncode == 0 and "errors (changed: get_issue)" in trusted.stdout
    again = nightfix("run", "--issue", "1", "--policy", str(changed), "--model", f"replay:{traj}")
    assert again.returncode == 0


def test_sigterm_ends_the_run_interrupted_and_cleans_up(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    sleepy: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "sandbox.exec", "input": {"command": "sleep 60"}}]}
    ]
    traj = write_trajectory(tmp_path, sleepy)
    proc = subprocess.Popen(
        [*NIGHTFIX, "run", "--issue", "1", "--policy", str(policy), "--model", f"replay:{traj}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not [c for c in calls(tmp_path) if c["tool"] == "exec"]:
        assert time.monotonic() < deadline and proc.poll() is None, "the run never reached exec"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in out
    assert [c["tool"] for c in calls(tmp_path)].count("destroy_sandbox") == 1
    assert verify_policy(load_policy(policy)).ok
    trace = next((tmp_path / "traces").glob("*.jsonl"))
    events = read_trace(trace)
    assert completeness_problems(events) == [] and events[-1]["reason"] == "interrupted"
    assert json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])["event"] == "stop"
