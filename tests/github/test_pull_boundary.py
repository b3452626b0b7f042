"""Issue 11: pull-request bases, fork pull requests and the default forbidden paths, one attack
per test, through the real server (in-memory MCP client); the server keeps serving afterwards.
"""

import json
from pathlib import Path

import pytest
from fake_github import FakeGitHub
from fastmcp import Client
from fastmcp.exceptions import ToolError

from nightfix_github.backends.local import LocalBackend
from nightfix_github.config import Boundary
from nightfix_github.server import build_server
from nightfix_github.service import RepoService


async def call(client, tool: str, **args):  # type: ignore[no-untyped-def]
    return (await client.call_tool(tool, args)).structured_content


async def refused(client, rule: str, tool: str, **args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ToolError, match=f"refused by rule {rule}:"):
        await client.call_tool(tool, args)


async def still_serving(client) -> None:  # type: ignore[no-untyped-def]
    assert (await call(client, "repo_info"))["default_branch"] == "main"


async def _agent_branch(client, name: str = "nightfix/fix-1") -> None:  # type: ignore[no-untyped-def]
    await call(client, "create_branch", name=name, from_ref="main")
    await call(
        client,
        "commit_files",
        branch=name,
        message="fix",
        changes=[{"path": "app/cart.py", "content": "fixed\n"}],
    )


# -- bases ----------------------------------------------------------------------------------
async def test_pull_request_into_protected_release_branch_is_refused(
    client, repo: Path, run_git
) -> None:
    """open_pull_request(base=release/1.0) then merge moved a `--protected 'release/*'` branch."""
    run_git(repo, "branch", "release/1.0", "main~1")
    release = run_git(repo, "rev-parse", "release/1.0")
    await _agent_branch(client)
    for base in ("release/1.0", "refs/heads/release/1.0", "RELEASE/1.0"):
        await refused(
            client, "pull_request_base", "open_pull_request",
            branch="nightfix/fix-1", title="t", body="b", base=base,
        )  # fmt: skip
    await refused(
        client, "pull_request_base", "open_pull_request",
        branch="nightfix/fix-1", title="t", body="b", base="feature/other",
    )  # fmt: skip
    assert (await call(client, "list_pull_requests", state="all"))["pull_requests"] == []
    assert run_git(repo, "rev-parse", "release/1.0") == release
    await still_serving(client)


async def test_merge_after_base_retargeted_to_protected_branch_is_refused(
    client, repo: Path, run_git
) -> None:
    """Opened into main, then retargeted to release/1.0: the merge re-reads the base and refuses."""
    run_git(repo, "branch", "release/1.0", "main~1")
    run_git(repo, "checkout", "-q", "--detach")
    release = run_git(repo, "rev-parse", "release/1.0")
    await _agent_branch(client)
    pr = await call(client, "open_pull_request", branch="nightfix/fix-1", title="t", body="b")
    record = repo / ".git" / "nightfix" / "pulls" / f"{pr['number']}.json"
    data = json.loads(record.read_text())
    data["base"] = "release/1.0"
    record.write_text(json.dumps(data))
    await refused(client, "pull_request_base", "merge_pull_request", number=pr["number"])
    await refused(
        client, "pull_request_base", "comment_on_pull_request", number=pr["number"], body="x"
    )
    assert run_git(repo, "rev-parse", "release/1.0") == release
    # the backend re-checks on its own too (a caller that skips the service)
    backend = LocalBackend(repo, Boundary(protected=("release/*",), allow_merge=True))
    from nightfix_github.errors import RefusedError

    with pytest.raises(RefusedError, match="pull_request_base"):
        backend.merge_pull(pr["number"])
    assert run_git(repo, "rev-parse", "release/1.0") == release
    await still_serving(client)


async def test_allow_base_opens_a_base_but_never_a_protected_one(repo: Path, run_git) -> None:
    run_git(repo, "branch", "staging", "main")
    run_git(repo, "branch", "release/1.0", "main")
    boundary = Boundary(protected=("release/*",), allow_base=("staging", "release/*"))
    backend = LocalBackend(repo, boundary)
    async with Client(build_server(RepoService({backend.name: backend}, boundary))) as c:
        await _agent_branch(c)
        pr = await call(c, "open_pull_request", branch="nightfix/fix-1", title="t", body="b",
                        base="staging")  # fmt: skip
        assert pr["base"] == "staging" and pr["head_repo"] == "shop"
        await _agent_branch(c, "nightfix/fix-2")
        await refused(
            c, "pull_request_base", "open_pull_request",
            branch="nightfix/fix-2", title="t", body="b", base="release/1.0",
        )  # fmt: skip
        await still_serving(c)
    backend.close()


# -- forks (GitHub backend) ----------------------------------------------------------------
async def test_merge_of_fork_pull_request_with_agent_branch_name_is_refused(
    gh_client, fake_github: FakeGitHub
) -> None:
    """A fork's `nightfix/evil` has the agent's prefix; only the head repository tells."""
    main = fake_github.rev("refs/heads/main")
    tree = fake_github.rev(f"{main}^{{tree}}")
    evil = fake_github.git("commit-tree", tree, "-p", main, input=b"evil").strip()
    fake_github.add_fork_pull(1, "nightfix/evil", "mallory/shop", evil)
    # the agent even has a branch of the same name here: the name alone proves nothing
    await call(gh_client, "create_branch", name="nightfix/evil", from_ref="main")
    before = len(fake_github.writes)
    pr = await call(gh_client, "get_pull_request", number=1)
    assert pr["head"] == "nightfix/evil" and pr["head_repo"] == "mallory/shop"
    await refused(gh_client, "fork_pull_request", "merge_pull_request", number=1)
    await refused(gh_client, "fork_pull_request", "comment_on_pull_request", number=1, body="lgtm")
    assert len(fake_github.writes) == before
    assert fake_github.rev("refs/heads/main") == main
    await still_serving(gh_client)


async def test_github_pull_request_into_protected_base_is_refused(
    gh_client, fake_github: FakeGitHub
) -> None:
    fake_github.git("update-ref", "refs/heads/release/1.0", fake_github.rev("refs/heads/main"))
    await call(gh_client, "create_branch", name="nightfix/x", from_ref="main")
    before = len(fake_github.writes)
    await refused(
        gh_client, "pull_request_base", "open_pull_request",
        branch="nightfix/x", title="t", body="b", base="release/1.0",
    )  # fmt: skip
    assert len(fake_github.writes) == before
    # opened into main, then retargeted on GitHub: the merge re-reads the base
    pr = await call(gh_client, "open_pull_request", branch="nightfix/x", title="t", body="b")
    fake_github.pulls[pr["number"]]["base"] = "release/1.0"
    before = len(fake_github.writes)
    await refused(gh_client, "pull_request_base", "merge_pull_request", number=pr["number"])
    assert len(fake_github.writes) == before
    await still_serving(gh_client)


# -- forbidden paths -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        ".github/actions/setup/action.yml",
        ".github/CODEOWNERS",
        "CODEOWNERS",
        "docs/CODEOWNERS",
        ".github/workflows/ci.yml",
    ],
)
async def test_composite_action_and_codeowners_commit_is_refused(
    client, repo: Path, run_git, path: str
) -> None:
    await call(client, "create_branch", name="nightfix/x", from_ref="main")
    await refused(
        client, "forbidden_path", "commit_files",
        branch="nightfix/x", message="m", changes=[{"path": path, "content": "* @mallory\n"}],
    )  # fmt: skip
    assert run_git(repo, "rev-parse", "nightfix/x") == run_git(repo, "rev-parse", "main")
    await still_serving(client)


async def test_root_level_pem_commit_is_refused(repo: Path, run_git) -> None:
    """`--forbid '**/*.pem'` covers `deploy.pem` at the root (`**/` is zero or more dirs)."""
    boundary = Boundary(forbid=(*Boundary().forbid, "**/*.pem"))
    backend = LocalBackend(repo, boundary)
    async with Client(build_server(RepoService({backend.name: backend}, boundary))) as c:
        await call(c, "create_branch", name="nightfix/x", from_ref="main")
        for path in ("deploy.pem", "keys/deploy.pem"):
            await refused(
                c, "forbidden_path", "commit_files",
                branch="nightfix/x", message="m", changes=[{"path": path, "content": "KEY"}],
            )  # fmt: skip
        await still_serving(c)
    backend.close()
