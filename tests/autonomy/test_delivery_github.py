"""Delivery against the real repository server (local backend over stdio): re-running a
delivery — as after a crash between any two steps — never duplicates a branch, a commit or a
pull request."""

import subprocess
from pathlib import Path

import pytest
from autonomy_support import GITHUB
from demo_env import SERVICE, git, make_repo

from nightfix.autonomy import delivery
from nightfix.autonomy.watch_state import WatchState
from nightfix.policy import ServerSpec, parse_policy
from nightfix.servers import ServerPool

# A file with a BOM, terminal escapes, a zero-width space and a bidi override: what a model
# reads of it is cleaned, what ships must be exactly what the fix wrote.
HIDDEN_FILE = "\ufeffbanner: \x1b[1mbold\x1b[0m zero\u200bwidth \u202eltr\n"
BANNER = (
    "diff --git a/checkout/banner.txt b/checkout/banner.txt\nnew file mode 100644\n"
    f"--- /dev/null\n+++ b/checkout/banner.txt\n@@ -0,0 +1 @@\n+{HIDDEN_FILE}"
)
FIX = (SERVICE / "fix.patch").read_text() + BANNER


def fixed_files(repo: Path, tmp: Path) -> dict[str, str | None]:
    work = tmp / "work"
    git(repo, "worktree", "add", "-q", "--detach", str(work))
    (tmp / "fix.patch").write_text(FIX)
    git(work, "apply", str(tmp / "fix.patch"))
    files = {p: (work / p).read_text() for p in ("checkout/db.py", "tests/test_pool.py")}
    git(repo, "worktree", "remove", "--force", str(work))
    return files


@pytest.mark.e2e
async def test_delivering_twice_leaves_one_branch_one_commit_one_pull_request(tmp_path):
    repo = make_repo(tmp_path / "checkout-service")
    base = git(repo, "rev-parse", "HEAD")
    state = WatchState.open(tmp_path / "state.db")
    state.claim(
        "r1",
        "7",
        "fp",
        max_concurrent=1,
        max_runs_per_day=5,
        trust_phase=2,
        decision="12 events in 10 min",
    )
    state.update(
        "r1",
        diff=FIX,
        base_commit=base,
        issue={"id": "7", "title": "ConnectionPoolExhausted"},
    )
    policy = parse_policy("trust_phase: 2\napprovals: {require: []}\n")
    spec = ServerSpec(
        command=[GITHUB, "serve", "--local", str(repo), "--branch-prefix", "nightfix/"]
    )
    async with ServerPool({"github": spec}) as pool:
        tree = await delivery.Delivery(pool, policy, state).preview(FIX, base)
        state.update("r1", tree=tree)
        first = await delivery.Delivery(pool, policy, state).deliver("r1")
        state.update("r1", pr_number=None)  # as if the watcher died before recording the PR
        second = await delivery.Delivery(pool, policy, state).deliver("r1")
    state.close()
    assert first.pull_request["number"] == second.pull_request["number"] == 1
    assert first.pull_request["created"] is True and second.pull_request["created"] is False
    assert git(repo, "rev-list", "--count", f"{base}..nightfix/issue-7") == "1"
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main", "nightfix/issue-7"]
    assert git(repo, "diff", "--name-only", "main", "nightfix/issue-7").split() == [
        "checkout/banner.txt",
        "checkout/db.py",
        "tests/test_pool.py",
    ]
    assert git(repo, "status", "--porcelain") == ""  # the working tree was never touched
    # what was committed is the verified diff applied to the base, byte for byte
    assert git(repo, "rev-parse", "nightfix/issue-7^{tree}") == tree
    shipped = subprocess.run(
        ["git", "-C", str(repo), "show", "nightfix/issue-7:checkout/banner.txt"],
        capture_output=True,
        check=True,
    ).stdout
    assert shipped == HIDDEN_FILE.encode()
    for path, text in fixed_files(repo, tmp_path).items():
        assert git(repo, "show", f"nightfix/issue-7:{path}") == (text or "").strip()
