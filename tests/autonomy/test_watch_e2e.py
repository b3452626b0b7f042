"""`nightfix watch` end to end: the real collector fed by the real sentry-sdk, the three real
MCP servers over stdio, real Docker sandboxes, a local git repository, a scripted model."""

import json
import sqlite3

import pytest
from autonomy_support import Env
from demo_env import git

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def only_run(env: Env) -> dict:
    [run] = env.runs()
    return run


def test_phase_2_trigger_to_draft_pull_request_with_webhook(tmp_path, errors_db, webhook, no_leaks):
    env = Env.make(tmp_path, errors_db, 2, notify={"webhook_url": webhook.url})
    out = env.watch().stdout
    assert "CRITICAL — " in out and "events in 10 min on transaction /checkout" in out
    run = only_run(env)
    assert run["status"] == "delivered" and run["stop_reason"] == "completed"
    [pull] = env.pulls()
    assert pull["draft"] is True and pull["state"] == "open"
    assert pull["head"] == "nightfix/issue-1" and pull["base"] == "main"
    body = pull["body"]
    for needle in (
        "ConnectionPoolExhausted",
        "Root cause",
        "1 failed, 0 errors",
        "tests/test_pool.py",
        "6 passed",
        "stop reason `completed`",
        "Why now",
    ):
        assert needle in body, needle
    # the PR branch carries exactly the verified change, one commit on top of main
    changed = git(env.repo, "diff", "--name-only", "main", "nightfix/issue-1").split()
    assert changed == ["checkout/db.py", "tests/test_pool.py"]
    assert git(env.repo, "rev-list", "--count", "main..nightfix/issue-1") == "1"
    # the notification reached the webhook, Slack-shaped
    [note] = [p for p in webhook.received if "opened a pull request" in p["text"]]
    assert any("Pull request" in f["text"] for b in note["blocks"] for f in b.get("fields", []))
    trace = env.trace(run["run_id"])
    names = [e.get("name") for e in trace if e["type"] == "event"]
    assert "verification_passed" in names and "pull_request" in names
    assert trace[-1]["type"] == "stop" and trace[-1]["reason"] == "completed"
    assert env.audit_verifies()
    # a second poll neither re-runs the issue nor opens anything new
    again = env.watch().stdout
    assert "no new run — pull request #1 from nightfix/issue-1 is open" in again
    assert len(env.runs()) == 1 and len(env.pulls()) == 1
    # even with the state db lost, the repository's open pull request prevents a new run
    for suffix in ("", "-wal", "-shm"):
        (env.dir / f"state.db{suffix}").unlink(missing_ok=True)
    assert "no new run — pull request #1" in env.watch().stdout
    assert env.runs() == [] and len(env.pulls()) == 1


def test_phase_3_waits_for_approval_then_opens_a_ready_pull_request(
    tmp_path, errors_db, webhook, no_leaks
):
    env = Env.make(tmp_path, errors_db, 3, notify={"webhook_url": webhook.url})
    env.watch()
    run = only_run(env)
    assert run["status"] == "awaiting_approval" and env.pulls() == []
    [asked] = webhook.received
    assert asked["text"].startswith(":hourglass: nightfix waits for your approval")
    assert f"nightfix approve {run['run_id']}" in str(asked["blocks"])
    assert "+++ b/checkout/db.py" in str(asked["blocks"])  # the diff to review
    assert env.branches() == ["main"]  # nothing written before the approval
    listed = env.nightfix("approvals").stdout
    assert run["run_id"] in listed and "+++ b/checkout/db.py" in listed
    approved = env.nightfix("approve", run["run_id"][:12], "--by", "alice")
    assert approved.returncode == 0, approved.stderr
    env.watch()
    run = only_run(env)
    assert run["status"] == "delivered" and run["stop_reason"] == "completed"
    [pull] = env.pulls()
    assert pull["draft"] is False and pull["state"] == "open"
    assert "opened a pull request" in webhook.received[-1]["text"]
    stops = [e["reason"] for e in env.trace(run["run_id"]) if e["type"] == "stop"]
    assert stops == ["awaiting_approval", "completed"]
    assert env.audit_verifies()
    events = [json.loads(line)["event"] for line in (env.dir / "audit.jsonl").open()]
    asked, given = events.index("approval_requested"), events.index("approval_given")
    assert asked < given < events.index("approval_ok") < events.index("pull_request")


def test_phase_3_denied(tmp_path, errors_db, no_leaks):
    env = Env.make(tmp_path, errors_db, 3)
    env.watch()
    run_id = only_run(env)["run_id"]
    denied = env.nightfix("deny", run_id, "--by", "bob")
    assert denied.returncode == 0, denied.stderr
    run = only_run(env)
    assert run["status"] == "stopped" and run["stop_reason"] == "approval_denied"
    assert env.pulls() == [] and env.branches() == ["main"]
    assert env.nightfix("approve", run_id).returncode == 2  # nothing waits any more
    assert env.audit_verifies()
    events = [json.loads(line)["event"] for line in (env.dir / "audit.jsonl").open()]
    assert "approval_requested" in events and "approval_denied" in events


def test_phase_3_diff_changed_after_approval_is_refused(tmp_path, errors_db, no_leaks):
    env = Env.make(tmp_path, errors_db, 3)
    env.watch()
    run_id = only_run(env)["run_id"]
    assert env.nightfix("approve", run_id).returncode == 0
    # the change waiting for delivery is altered after the person approved it
    db = sqlite3.connect(env.dir / "state.db")
    db.execute("UPDATE watch_runs SET diff = diff || '+# sneaky\n' WHERE run_id=?", (run_id,))
    db.commit()
    db.close()
    env.watch()
    run = only_run(env)
    assert run["status"] == "stopped" and run["stop_reason"] == "approval_stale"
    assert "differs from the one approved" in run["notes"]
    assert env.pulls() == [] and env.branches() == ["main"]


def test_phase_4_opens_then_merges_after_merge_approval(tmp_path, errors_db, no_leaks):
    env = Env.make(tmp_path, errors_db, 4)
    env.watch()
    run = only_run(env)
    assert run["status"] == "awaiting_approval"
    [pull] = env.pulls()
    assert pull["state"] == "open" and pull["draft"] is False
    assert env.nightfix("approve", run["run_id"]).returncode == 0
    env.watch()
    run = only_run(env)
    assert run["status"] == "delivered" and run["merged"] == 1
    [pull] = env.pulls()
    assert pull["state"] == "merged"
    assert "tests/test_pool.py" in git(env.repo, "ls-tree", "-r", "--name-only", "main")


def test_repository_server_refusal_ends_the_run_delivery_failed(tmp_path, errors_db, no_leaks):
    # the policy's branch prefix disagrees with the server's --branch-prefix nightfix/
    env = Env.make(tmp_path, errors_db, 2, delivery={"branch_prefix": "hotfix/"})
    out = env.watch().stdout
    run = only_run(env)
    assert run["status"] == "stopped" and run["stop_reason"] == "delivery_failed"
    assert "refused by rule" in run["notes"] and "delivery_failed" in out
    assert env.pulls() == [] and env.branches() == ["main"]
    assert env.trace(run["run_id"])[-1]["reason"] == "delivery_failed"
