"""Push triggers end to end: `nightfix watch --listen` as a subprocess, the real collector fed
by the real sentry-sdk, the three MCP servers over stdio, Docker sandboxes, a scripted model.

The watcher polls once at start (the issue does not exist yet) and then only every hour, so a
run that starts within the test came from a push (or, in the last test, from the start poll
catching up on an issue that arrived while nothing listened).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from autonomy_support import NIGHTFIX, TRAJECTORY, Env
from demo_env import Collector, drive_traffic, free_port, make_repo, wait_for_issue

from nightfix.autonomy.push_security import sign

pytestmark = [pytest.mark.docker, pytest.mark.e2e]
SECRET = "e2e-webhook-secret"
HOUR = {"trigger": {"poll_interval_s": 3600}}
GIVE_UP = """\
turns:
- tool_calls:
  - name: errors.get_issue
    input: {issue_id: '${issue_id}'}
  usage: {input_tokens: 100, output_tokens: 10, cache_read_input_tokens: 0}
- tool_calls:
  - name: finish
    input:
      root_cause: not reproduced (a scripted model that stops at once)
      fix: none
      tests_run: []
      confidence: low
  usage: {input_tokens: 100, output_tokens: 10, cache_read_input_tokens: 0}
"""


def secret_env() -> dict[str, str]:
    return {**os.environ, "NIGHTFIX_WEBHOOK_SECRET": SECRET}


@contextmanager
def watching(env: Env, port: int, trajectory: Path) -> Iterator[Path]:
    """`nightfix watch --listen` in the background; yields its log once the start poll ended."""
    log = env.dir / "watch.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [NIGHTFIX, "watch", "--listen", f"127.0.0.1:{port}", "--model", f"replay:{trajectory}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**secret_env(), "NIGHTFIX_POLICY": str(env.policy)},
        )
    try:
        wait_for(lambda: "watch: poll done" in log.read_text(), 120, log, proc)
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for(ready: Any, seconds: float, log: Path, proc: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"watch exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds}s; watch log:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


def post(
    url: str, body: bytes, signature: str, resource: str = "issue", request_id: str | None = None
) -> int:
    headers = {
        "Content-Type": "application/json",
        "Request-ID": request_id or str(uuid.uuid4()),
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Timestamp": str(int(time.time())),
        "Sentry-Hook-Signature": signature,
    }
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def counters(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def finished(env: Env) -> bool:
    runs = env.runs()
    return bool(runs) and all(r["status"] not in ("running", "delivering") for r in runs)


def give_up_trajectory(tmp_path: Path) -> Path:
    path = tmp_path / "give-up.yaml"
    path.write_text(GIVE_UP)
    return path


def traffic(tmp_path: Path, collector: Collector) -> str:
    """The checkout bug reported by the real sentry-sdk; returns the issue's id."""
    drive_traffic(make_repo(tmp_path / "traffic-repo"), collector.dsn, min_errors=8)
    return str(wait_for_issue(collector.db, min_events=5)["id"])


def test_signed_sentry_webhook_starts_a_run_once(tmp_path, no_leaks):
    with Collector(tmp_path / "errors.db") as collector:
        env = Env.make(tmp_path, collector.db, 2, **HOUR)
        port = free_port()
        url = f"http://127.0.0.1:{port}/webhook"
        with watching(env, port, TRAJECTORY) as log:
            issue_id = traffic(tmp_path, collector)
            body = json.dumps(
                {"action": "created", "data": {"issue": {"id": issue_id}}, "actor": {"id": "s"}}
            ).encode()
            # forged: signed with another secret -> 401, counted, no run
            assert post(url, body, sign(b"guessed", body)) == 401
            time.sleep(1)
            assert env.runs() == [] and counters(port)["bad_signature"] == 1
            # signed: the run starts within seconds, not at the next poll an hour away
            assert post(url, body, sign(SECRET.encode(), body), request_id="req-1") == 202
            wait_for(lambda: len(env.runs()) == 1, 60, log, None)
            # the same issue again (an issue alert), and the first delivery replayed
            alert = json.dumps(
                {"action": "triggered", "data": {"event": {"issue_id": issue_id}}}
            ).encode()
            assert post(url, alert, sign(SECRET.encode(), alert), "event_alert") == 202
            assert post(url, body, sign(SECRET.encode(), body), request_id="req-1") == 409
            wait_for(lambda: finished(env), 600, log, None)
            seen = counters(port)
        text = log.read_text()
    [run] = env.runs()
    assert run["issue_id"] == issue_id
    assert run["status"] == "delivered" and run["stop_reason"] == "completed", text[-3000:]
    assert len(env.pulls()) == 1
    assert f"issue {issue_id}: pushed (issue created)" in text
    assert "CRITICAL — " in text
    assert seen["accepted"] == 1 and seen["duplicate_issue"] == 1 and seen["replayed"] == 1
    assert seen["bad_signature"] == 1


def test_collector_notification_starts_a_run(tmp_path, no_leaks):
    port = free_port()
    notify = [
        "--notify",
        f"http://127.0.0.1:{port}/webhook",
        "--notify-min-events",
        "5",
        "--workers",
        "1",
    ]
    db = tmp_path / "errors.db"
    with Collector(db, args=notify, env=secret_env()) as collector:
        env = Env.make(tmp_path, db, 1, **HOUR)
        with watching(env, port, give_up_trajectory(tmp_path)) as log:
            issue_id = traffic(tmp_path, collector)  # nobody calls the webhook but the collector
            wait_for(lambda: len(env.runs()) == 1, 60, log, None)
            wait_for(lambda: finished(env), 300, log, None)
            seen = counters(port)
        with urllib.request.urlopen(f"{collector.url}/healthz", timeout=10) as answer:
            collected = json.loads(answer.read())
        text = log.read_text()
    [run] = env.runs()
    assert run["issue_id"] == issue_id
    assert f"issue {issue_id}: pushed (issue created)" in text
    assert seen["accepted"] == 1 and seen["bad_signature"] == 0
    assert collected["notified"] == 1 and collected["notify_failed"] == 0


def test_poll_catches_an_issue_that_arrived_while_the_listener_was_down(tmp_path, no_leaks):
    port = free_port()  # nothing listens here while the error happens
    notify = [
        "--notify",
        f"http://127.0.0.1:{port}/webhook",
        "--notify-min-events",
        "5",
        "--workers",
        "1",
    ]
    db = tmp_path / "errors.db"
    with Collector(db, args=notify, env=secret_env()) as collector:
        issue_id = traffic(tmp_path, collector)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{collector.url}/healthz", timeout=10) as answer:
                collected = json.loads(answer.read())
            if collected["notify_failed"]:
                break
            time.sleep(0.3)
        assert collected["notify_failed"] == 1 and collected["notified"] == 0
    env = Env.make(tmp_path, db, 1, **HOUR)
    trajectory = give_up_trajectory(tmp_path)
    listen = ["--listen", f"127.0.0.1:{port}"]
    done = subprocess.run(
        [NIGHTFIX, "watch", "--once", *listen, "--model", f"replay:{trajectory}"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**secret_env(), "NIGHTFIX_POLICY": str(env.policy)},
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    [run] = env.runs()
    assert run["issue_id"] == issue_id
    assert f"issue {issue_id}: CRITICAL" in done.stdout
