"""Branches, commits and pull requests on a real repository: real git objects, idempotent."""

from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from nightfix_github.backends.local import LocalBackend
from nightfix_github.config import Boundary
from nightfix_github.errors import ConflictError
from nightfix_github.models import FileChange
from nightfix_github.server import build_server
from nightfix_github.service import RepoService


async def call(client, tool: str, **args):  # type: ignore[no-untyped-def]
    return (await client.call_tool(tool, args)).structured_content


async def test_create_branch_is_idempotent(client, repo: Path, run_git) -> None:
    main = run_git(repo, "rev-parse", "main")
    first = await call(client, "create_branch", name="nightfix/fix-1", from_ref="main")
    again = await call(client, "create_branch", name="nightfix/fix-1", from_ref="main")
    assert first == {"name": "nightfix/fix-1", "commit": main, "created": True}
    assert again == {"name": "nightfix/fix-1", "commit": main, "created": False}
    assert run_git(repo, "rev-parse", "refs/heads/nightfix/fix-1") == main


async def test_create_branch_at_another_commit_is_a_conflict(client) -> None:
    await call(client, "create_branch", name="nightfix/fix-1", from_ref="main")
    with pytest.raises(ToolError, match="already exists at"):
        await client.call_tool("create_branch", {"name": "nightfix/fix-1", "from_ref": "main~1"})


async def test_commit_files_adds_modifies_deletes_in_one_commit(
    client, repo: Path, run_git
) -> None:
    status_before = run_git(repo, "status", "--porcelain")
    index_before = (repo / ".git" / "index").read_bytes()
    await call(client, "create_branch", name="nightfix/fix-1", from_ref="main")
    out = await call(
        client,
        "commit_files",
        branch="nightfix/fix-1",
        message="fix: total of empty cart",
        changes=[
            {"path": "app/cart.py", "content": "def total(items):\n    return 0\n"},
            {"path": "tests/test_cart.py", "content": "def test_empty():\n    assert True\n"},
            {"path": "README.md", "content": None},
            {"path": "run.sh", "content": "#!/bin/sh\necho fixed\n"},
        ],
    )
    head = run_git(repo, "rev-parse", "refs/heads/nightfix/fix-1")
    assert out["commit"] == head and out["parent"] == run_git(repo, "rev-parse", "main")
    assert out["created"] is True
    assert run_git(repo, "rev-parse", f"{head}^") == out["parent"]
    assert run_git(repo, "show", f"{head}:app/cart.py") == "def total(items):\n    return 0"
    assert "tests/test_cart.py" in run_git(repo, "ls-tree", "-r", "--name-only", head)
    assert "README.md" not in run_git(repo, "ls-tree", "--name-only", head)
    assert run_git(repo, "ls-tree", head, "run.sh").startswith("100755")
    assert (
        run_git(repo, "log", "-1", "--format=%s|%an", head) == "fix: total of empty cart|nightfix"
    )
    # the user's working tree and index are untouched
    assert run_git(repo, "status", "--porcelain") == status_before
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert (repo / "README.md").exists()


async def test_commit_retry_with_same_content_makes_no_new_commit(
    client, repo: Path, run_git
) -> None:
    await call(client, "create_branch", name="nightfix/fix-1", from_ref="main")
    args = {
        "branch": "nightfix/fix-1",
        "message": "fix",
        "changes": [{"path": "app/cart.py", "content": "x = 1\n"}],
    }
    first = await call(client, "commit_files", **args)
    again = await call(client, "commit_files", **args)
    assert again["commit"] == first["commit"] and again["created"] is False
    assert run_git(repo, "rev-list", "--count", "refs/heads/nightfix/fix-1") == "3"


async def test_commit_is_fast_forward_only(repo: Path, boundary: Boundary, run_git) -> None:
    backend = LocalBackend(repo, boundary)
    stale = run_git(repo, "rev-parse", "main~1")
    backend.create_branch("nightfix/fix-1", run_git(repo, "rev-parse", "main"))
    with pytest.raises(ConflictError, match="moved"):
        backend.commit_files("nightfix/fix-1", stale, [FileChange(path="a", content="a")], "m")
    assert run_git(repo, "rev-parse", "refs/heads/nightfix/fix-1") == run_git(
        repo, "rev-parse", "main"
    )


async def test_commit_to_missing_branch_says_create_it(client) -> None:
    with pytest.raises(ToolError, match="call create_branch first"):
        await client.call_tool(
            "commit_files",
            {"branch": "nightfix/nope", "message": "m", "changes": [{"path": "a", "content": "a"}]},
        )


async def test_delete_of_missing_file_and_file_directory_clash(client) -> None:
    await call(client, "create_branch", name="nightfix/fix-1", from_ref="main")
    for change, message in [
        ({"path": "nope.txt", "content": None}, "does not exist"),
        ({"path": "app", "content": "x"}, "is a directory"),
        ({"path": "README.md/x", "content": "x"}, "lies under a file"),
    ]:
        with pytest.raises(ToolError, match=message):
            await client.call_tool(
                "commit_files", {"branch": "nightfix/fix-1", "message": "m", "changes": [change]}
            )


async def _branch_with_commit(client) -> None:  # type: ignore[no-untyped-def]
    await call(client, "create_branch", name="nightfix/fix-1", from_ref="main")
    await call(
        client,
        "commit_files",
        branch="nightfix/fix-1",
        message="fix",
        changes=[{"path": "app/cart.py", "content": "fixed\n"}],
    )


async def test_open_pull_request_once_per_branch(client, repo: Path) -> None:
    await _branch_with_commit(client)
    body = "Fixes the cart.\u202e hidden"
    first = await call(
        client,
        "open_pull_request",
        branch="nightfix/fix-1",
        title="Fix cart",
        body=body,
        draft=True,
    )
    again = await call(
        client, "open_pull_request", branch="nightfix/fix-1", title="Other", body="other"
    )
    assert first["number"] == 1 and first["created"] is True and first["draft"] is True
    assert (first["head"], first["base"], first["state"]) == ("nightfix/fix-1", "main", "open")
    assert first["body"] == "Fixes the cart.\ufffd hidden"  # untrusted.py marker
    assert again["number"] == 1 and again["created"] is False and again["title"] == "Fix cart"
    assert (repo / ".git" / "nightfix" / "pulls" / "1.json").is_file()
    listed = await call(client, "list_pull_requests")
    assert [p["number"] for p in listed["pull_requests"]] == [1]
    assert (await call(client, "list_pull_requests", head="nightfix/other"))["pull_requests"] == []
    got = await call(client, "get_pull_request", number=1)
    assert got["title"] == "Fix cart" and got["created"] is False
    comment = await call(client, "comment_on_pull_request", number=1, body="tests pass")
    assert comment["id"] == 1 and comment["body"] == "tests pass"


async def test_pull_request_numbers_are_allocated_in_order(client) -> None:
    for n in (1, 2, 3):
        name = f"nightfix/fix-{n}"
        await call(client, "create_branch", name=name, from_ref="main")
        pr = await call(client, "open_pull_request", branch=name, title=f"t{n}", body="b")
        assert pr["number"] == n


async def test_merge_own_pull_request_fast_forward(client, repo: Path, run_git) -> None:
    await _branch_with_commit(client)
    await call(client, "open_pull_request", branch="nightfix/fix-1", title="t", body="b")
    with pytest.raises(ToolError, match="checked out"):
        await client.call_tool("merge_pull_request", {"number": 1})
    run_git(repo, "checkout", "-q", "--detach")
    out = await call(client, "merge_pull_request", number=1)
    head = run_git(repo, "rev-parse", "refs/heads/nightfix/fix-1")
    assert out == {"number": 1, "merged": True, "commit": head}
    assert run_git(repo, "rev-parse", "main") == head
    assert (await call(client, "get_pull_request", number=1))["state"] == "merged"


async def test_no_merge_tool_without_allow_merge(repo: Path) -> None:
    boundary = Boundary()
    backend = LocalBackend(repo, boundary)
    async with Client(build_server(RepoService({backend.name: backend}, boundary))) as c:
        names = {t.name for t in await c.list_tools()}
    assert "merge_pull_request" not in names
    assert not any("delete" in n or "setting" in n for n in names)
    assert {"create_branch", "commit_files", "open_pull_request"} <= names
