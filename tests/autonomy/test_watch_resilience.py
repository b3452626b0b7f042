"""Killing `watch` mid-run, and a flaky error server."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from autonomy_support import NIGHTFIX, TRAJECTORY, Env

from nightfix.autonomy.watch_state import WatchState

HERE = Path(__file__).parent


def wait_for(predicate, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def trace_mentions(env: Env, needle: str) -> bool:
    traces = list((env.dir / "traces").glob("*.jsonl"))
    return any(needle in t.read_text() for t in traces)


@pytest.mark.docker
@pytest.mark.e2e
@pytest.mark.parametrize("kill_at", ['"sandbox.write_file"', '"verification_sandbox"'])
def test_watch_killed_mid_run_and_restarted_opens_one_pull_request(
    tmp_path, errors_db, kill_at, no_leaks
):
    env = Env.make(tmp_path, errors_db, 2)
    proc = subprocess.Popen(
        [
            NIGHTFIX,
            "watch",
            "--once",
            "--policy",
            str(env.policy),
            "--model",
            f"replay:{TRAJECTORY}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for(lambda: trace_mentions(env, kill_at), what=kill_at)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    [run] = env.runs()
    assert run["status"] == "running"  # as the killed watcher left it
    assert env.pulls() == []
    env.watch()
    runs = {r["run_id"]: r for r in env.runs()}
    assert runs[run["run_id"]]["stop_reason"] == "interrupted"
    [done] = [r for r in runs.values() if r["run_id"] != run["run_id"]]
    assert done["status"] == "delivered"
    assert len(env.pulls()) == 1
    assert env.branches() == ["main", "nightfix/issue-1"]
    env.watch()  # and again: nothing new
    assert len(env.runs()) == 2 and len(env.pulls()) == 1
    # the sandbox server of the killed watcher went away with its containers
    wait_for(
        lambda: not any("nightfix-sandbox" in line for line in _children(proc.pid)),
        timeout=30,
        what="the orphaned sandbox server to exit",
    )


def _children(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "ppid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[0] == str(pid)]


def flaky_env(tmp_path: Path, failures: int) -> tuple[Path, Path]:
    state = tmp_path / "calls"
    policy = {
        "trust_phase": 2,
        "servers": {
            "errors": {
                "command": [sys.executable, str(HERE / "flaky_errors.py")],
                "env": {"FLAKY_STATE": str(state), "FLAKY_FAILURES": str(failures)},
            }
        },
        "state": {"db": str(tmp_path / "state.db")},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "traces": {"dir": str(tmp_path / "traces")},
        "watch": {"backoff_initial_s": 60, "backoff_max_s": 600},
    }
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path, state


def watch_once(policy: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NIGHTFIX, "watch", "--once", "--policy", str(policy), "--model", "replay:/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e
def test_flaky_error_server_bounded_retries_and_recorded_backoff(tmp_path):
    policy, calls = flaky_env(tmp_path, failures=100)
    first = watch_once(policy)
    assert first.returncode == 75, first.stdout + first.stderr
    assert calls.read_text() == "3"  # three attempts in the poll, then it stopped
    assert "backing off" in first.stdout
    st = WatchState.open(tmp_path / "state.db")
    [entry] = st.backoff_log()
    assert entry["server"] == "errors" and 30 <= entry["delay_s"] <= 90
    assert "database is locked" in entry["error"]
    st.close()
    # while backing off, the next poll does not call the server at all
    second = watch_once(policy)
    assert second.returncode == 75 and calls.read_text() == "3"
    assert "backing off until" in second.stdout
    # once the back-off has passed and the server recovers, polling resumes and clears it
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("UPDATE backoff SET until='2000-01-01T00:00:00+00:00'")
    db.commit()
    db.close()
    policy.write_text(policy.read_text().replace("FLAKY_FAILURES: '100'", "FLAKY_FAILURES: '4'"))
    third = watch_once(policy)
    assert third.returncode == 0, third.stdout + third.stderr
    assert calls.read_text() == "5"  # one more failure (call 4), then success (call 5)
    st = WatchState.open(tmp_path / "state.db")
    assert st.failures("errors") == 0 and len(st.backoff_log()) == 1
    st.close()


@pytest.mark.docker
@pytest.mark.e2e
def test_sigterm_mid_run_shuts_down_cleanly_and_the_issue_runs_again_later(
    tmp_path, errors_db, no_leaks
):
    env = Env.make(tmp_path, errors_db, 2, trigger={"poll_interval_s": 3600})
    proc = subprocess.Popen(
        [NIGHTFIX, "watch", "--policy", str(env.policy), "--model", f"replay:{TRAJECTORY}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for(lambda: trace_mentions(env, '"sandbox.write_file"'), what="the run to start")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "watch: shutting down" in out and "watch: stopped (signal)" in out
    [run] = env.runs()
    assert run["status"] == "stopped" and run["stop_reason"] == "interrupted"
    trace = env.trace(run["run_id"])
    assert trace[-1]["type"] == "stop" and trace[-1]["reason"] == "interrupted"
    assert env.audit_verifies()
    assert env.pulls() == []
    env.watch()  # an interrupted run does not block its issue
    assert len(env.pulls()) == 1
