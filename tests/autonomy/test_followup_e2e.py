"""Issue 14: review feedback on a nightfix pull request becomes a follow-up run, end to end
through `nightfix watch --once` — the real collector, the three MCP servers over stdio, real
Docker sandboxes, the local forge (a person acts with `nightfix-github local ...`) and scripted
model trajectories."""

import subprocess
from pathlib import Path

import pytest
from autonomy_support import GITHUB, Env
from demo_env import git

from nightfix.autonomy import followup_state

pytestmark = [pytest.mark.docker, pytest.mark.e2e]
TRAJECTORIES = Path(__file__).parent / "trajectories"
DOCUMENT = TRAJECTORIES / "followup_document.yaml"
DROP_TEST = TRAJECTORIES / "followup_drop_test.yaml"
WEAKEN_TEST = TRAJECTORIES / "followup_weaken_test.yaml"
BRANCH = "nightfix/issue-1"


def forge(env: Env, *args: str) -> str:
    done = subprocess.run(
        [GITHUB, "local", *args, "--local", str(env.repo)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def comments(env: Env) -> list[dict]:
    [pull] = env.pulls()
    return list(pull.get("comments", []))


def followup_runs(env: Env) -> list[dict]:
    return [r for r in env.runs() if r.get("followup_of")]


def head(env: Env) -> str:
    return git(env.repo, "rev-parse", BRANCH)


def test_review_comment_leads_to_a_second_commit_on_the_same_pull_request(
    tmp_path, errors_db, no_leaks
):
    env = Env.make(tmp_path, errors_db, 2, delivery={"max_followups_per_pr": 4})
    env.watch()
    [first] = env.runs()
    assert first["status"] == "delivered" and first["pr_number"] == 1
    first_head = head(env)
    forge(env, "collaborator", "add", "alice", "--permission", "write")
    forge(env, "collaborator", "add", "rita", "--permission", "read")
    # someone without write access asks first: ignored, recorded, no run
    forge(env, "comment", "1", "@nightfix please delete the tests", "--author", "rita")
    forge(env, "comment", "1", "@nightfix please also document CHECKOUT_DB_POOL_SIZE",
          "--author", "alice")  # fmt: skip
    out = env.watch(DOCUMENT).stdout
    assert "comment-1 ignored — rita has permission read, not write" in out
    [follow] = followup_runs(env)
    assert follow["status"] == "delivered" and follow["stop_reason"] == "completed", follow
    assert follow["feedback_id"] == "comment-2" and follow["followup_of"] == first["run_id"]
    # a second commit on the same branch and pull request, on top of the first
    assert git(env.repo, "rev-parse", f"{BRANCH}~1") == first_head
    assert git(env.repo, "diff", "--name-only", first_head, BRANCH).split() == ["docs/pool.md"]
    changed = git(env.repo, "diff", "--name-only", "main", BRANCH).split()
    assert changed == ["checkout/db.py", "docs/pool.md", "tests/test_pool.py"]
    assert len(env.pulls()) == 1
    # the gate ran on the whole change, and the reply carries the evidence
    names = [e.get("name") for e in env.trace(follow["run_id"]) if e["type"] == "event"]
    assert "verification_passed" in names and "commit" in names
    [reply] = [c for c in comments(env) if c.get("author") == "nightfix"]
    assert "new commit on this pull request" in reply["body"]
    assert "regression test tests/test_pool.py" in reply["body"] and "docs/pool.md" in reply["body"]
    assert env.audit_verifies()

    # the same comment seen again, and nightfix's own reply: no run
    again = env.watch(DOCUMENT).stdout
    assert "follow-up run" not in again and len(followup_runs(env)) == 1

    # a follow-up that drops the regression test is refused by the gate; the branch stays
    forge(env, "comment", "1", "@nightfix the pool test is flaky, just delete it",
          "--author", "alice")  # fmt: skip
    env.watch(DROP_TEST)
    dropped = followup_runs(env)[-1]
    assert dropped["status"] == "stopped", dropped
    assert dropped["stop_reason"] == "verification_failed:regression_test", dropped
    second_head = head(env)
    assert git(env.repo, "rev-parse", f"{BRANCH}~1") == first_head  # still the two commits
    assert "did not change this pull request" in comments(env)[-1]["body"]

    # ... and so is one that weakens it until it passes on the original code too
    forge(env, "comment", "1", "@nightfix make the pool test faster", "--author", "alice")
    env.watch(WEAKEN_TEST)
    weakened = followup_runs(env)[-1]
    assert weakened["stop_reason"] == "verification_failed:regression_test", weakened
    assert head(env) == second_head

    # someone else pushes to the branch: the next follow-up is refused before any model runs
    (env.repo / "NOTES.md").write_text("mine\n")
    git(env.repo, "checkout", "-q", BRANCH)
    git(env.repo, "add", "NOTES.md")
    git(env.repo, "commit", "-q", "-m", "a person's commit")
    git(env.repo, "checkout", "-q", "main")
    moved = head(env)
    assert moved != second_head
    forge(env, "comment", "1", "--author", "alice", "--request-changes",
          "@nightfix rename the variable")  # fmt: skip
    env.watch(DOCUMENT)
    refused = followup_runs(env)[-1]
    assert refused["stop_reason"] == "delivery_failed:branch_moved", refused
    assert head(env) == moved
    assert "the branch moved" in comments(env)[-1]["body"]

    # the limit (4) is reached: no run, one reply — and only one, however often asked
    forge(env, "comment", "1", "@nightfix one more thing", "--author", "alice")
    forge(env, "comment", "1", "@nightfix and another", "--author", "alice")
    out = env.watch(DOCUMENT).stdout
    assert "follow-up limit is reached (4 of 4)" in out
    assert len(followup_runs(env)) == 4 and head(env) == moved
    limit_replies = [c for c in comments(env) if "follow-up limit" in c["body"]]
    assert len(limit_replies) == 1
    # every decision is on record with its reason, each comment once
    st = env.state()
    try:
        decided = [(d["feedback_id"], d["decision"]) for d in followup_state.decisions(st, 1)]
    finally:
        st.close()
    assert len(decided) == len({fid for fid, _ in decided})
    assert ("comment-1", "ignored") in decided and ("comment-2", "run") in decided
    assert [d for _, d in decided].count("run") == 4
    assert [d for _, d in decided].count("limit") == 2
    assert env.audit_verifies()  # the watcher's own reply is in the chain too
