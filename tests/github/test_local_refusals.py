"""Every boundary rule refuses, names itself, and the default branch never moves."""

from pathlib import Path

import pytest
from fastmcp.exceptions import ToolError

from nightfix_github.backends.local import LocalBackend
from nightfix_github.config import Boundary
from nightfix_github.errors import RefusedError
from nightfix_github.models import FileChange


@pytest.fixture(autouse=True)
def default_branch_unchanged(repo: Path, run_git):  # type: ignore[no-untyped-def]
    before = run_git(repo, "rev-parse", "refs/heads/main")
    yield
    assert run_git(repo, "rev-parse", "refs/heads/main") == before


async def refused(client, rule: str, tool: str, **args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ToolError, match=f"refused by rule {rule}:"):
        await client.call_tool(tool, args)


def change(path: str, content: str | None = "x\n") -> list[dict[str, str | None]]:
    return [{"path": path, "content": content}]


async def test_refuses_push_to_default_branch(client) -> None:
    await refused(client, "protected_branch", "create_branch", name="main", from_ref="main")
    await refused(
        client, "protected_branch", "commit_files", branch="main", changes=change("a"), message="m"
    )
    await refused(
        client, "protected_branch", "open_pull_request", branch="main", title="t", body=""
    )


async def test_refuses_refs_heads_main_alias(client) -> None:
    for alias in ("refs/heads/main", "heads/main", "MAIN", "HEAD"):
        await refused(
            client,
            "protected_branch",
            "commit_files",
            branch=alias,
            changes=change("a"),
            message="m",
        )


async def test_refuses_protected_pattern(repo: Path, run_git) -> None:
    boundary = Boundary(branch_prefix="release/", protected=("release/1.*",))
    backend = LocalBackend(repo, boundary)
    with pytest.raises(RefusedError, match="rule protected_branch"):
        backend.create_branch("release/1.2", run_git(repo, "rev-parse", "main"))
    assert backend.create_branch("release/2.0", run_git(repo, "rev-parse", "main")) is True


async def test_refuses_branch_outside_prefix(client) -> None:
    await refused(client, "branch_prefix", "create_branch", name="feature/x", from_ref="main")
    await refused(client, "branch_prefix", "create_branch", name="refs/tags/v1", from_ref="main")
    await refused(client, "branch_prefix", "create_branch", name="nightfix/", from_ref="main")


async def test_refuses_invalid_branch_names(client) -> None:
    for name in ("nightfix/a..b", "nightfix/x.lock", "nightfix/.hidden", "nightfix/a b"):
        with pytest.raises(ToolError, match="refused by rule"):
            await client.call_tool("create_branch", {"name": name, "from_ref": "main"})


async def test_refuses_ref_beginning_with_dash(client) -> None:
    await refused(client, "option_injection", "read_file", path="README.md", ref="--output=/tmp/x")
    await refused(client, "option_injection", "list_commits", ref="-n1")
    await refused(client, "option_injection", "create_branch", name="-b", from_ref="main")
    await refused(client, "option_injection", "create_branch", name="nightfix/x", from_ref="--all")
    await refused(client, "option_injection", "read_file", path="--help")


async def test_refuses_control_characters_in_names(client) -> None:
    await refused(
        client, "control_characters", "create_branch", name="nightfix/a\nb", from_ref="main"
    )
    await refused(client, "control_characters", "read_file", path="app/\u202ecart.py")


async def test_refuses_path_with_dotdot(client) -> None:
    await client.call_tool("create_branch", {"name": "nightfix/x", "from_ref": "main"})
    for path in ("../outside.txt", "app/../../x", "app/./cart.py"):
        await refused(
            client,
            "unsafe_path",
            "commit_files",
            branch="nightfix/x",
            changes=change(path),
            message="m",
        )
    await refused(client, "unsafe_path", "read_file", path="../etc/passwd")


async def test_refuses_absolute_path(client) -> None:
    await refused(client, "unsafe_path", "read_file", path="/etc/passwd")
    await refused(client, "unsafe_path", "list_directory", path="/")
    await refused(client, "unsafe_path", "search_code", query="x", path_glob="../**")


async def test_refuses_git_dir(client) -> None:
    await client.call_tool("create_branch", {"name": "nightfix/x", "from_ref": "main"})
    for path in (".git/config", "sub/.GIT/hooks/pre-commit"):
        await refused(
            client,
            "git_dir",
            "commit_files",
            branch="nightfix/x",
            changes=change(path),
            message="m",
        )
    await refused(client, "git_dir", "read_file", path=".git/config")


async def test_refuses_workflow_write(client, repo: Path, run_git) -> None:
    await client.call_tool("create_branch", {"name": "nightfix/x", "from_ref": "main"})
    for path, content in [
        (".github/workflows/ci.yml", "on: push\njobs: {}\n"),
        (".github/workflows/new/deep.yaml", "x"),
        (".GitHub/Workflows/ci.yml", "x"),
        (".github/workflows/ci.yml", None),
        (".github/workflows", "x"),
    ]:
        await refused(
            client,
            "forbidden_path",
            "commit_files",
            branch="nightfix/x",
            changes=[{"path": "ok.txt", "content": "fine"}, {"path": path, "content": content}],
            message="m",
        )
    # nothing of a refused commit landed, not even its allowed half
    assert run_git(repo, "rev-parse", "refs/heads/nightfix/x") == run_git(repo, "rev-parse", "main")
    # reading workflows is fine
    await client.call_tool("read_file", {"path": ".github/workflows/ci.yml"})


async def test_refuses_too_many_files_and_oversized_file(repo: Path, run_git) -> None:
    from nightfix_github.service import RepoService

    boundary = Boundary(max_files_per_commit=2, max_file_bytes=10)
    backend = LocalBackend(repo, boundary)
    service = RepoService({backend.name: backend}, boundary)
    service.create_branch(None, "nightfix/x", "main")
    many = [FileChange(path=f"f{i}", content="1") for i in range(3)]
    with pytest.raises(RefusedError, match="rule max_files_per_commit"):
        service.commit_files(None, "nightfix/x", many, "m")
    with pytest.raises(RefusedError, match="rule max_file_bytes"):
        service.commit_files(None, "nightfix/x", [FileChange(path="big", content="é" * 6)], "m")


async def test_refuses_repository_not_served(client) -> None:
    await refused(client, "repo_not_served", "repo_info", repo="other/repo")
    await refused(
        client, "repo_not_served", "create_branch", name="nightfix/x", from_ref="main", repo="x"
    )


async def test_backend_rechecks_the_boundary_itself(
    repo: Path, boundary: Boundary, run_git
) -> None:
    """A caller that skips the service still cannot write the default branch or workflows."""
    backend = LocalBackend(repo, boundary)
    main = run_git(repo, "rev-parse", "main")
    with pytest.raises(RefusedError, match="protected_branch"):
        backend.create_branch("refs/heads/main", main)
    with pytest.raises(RefusedError, match="protected_branch"):
        backend.commit_files("main", main, [FileChange(path="a", content="a")], "m")
    backend.create_branch("nightfix/x", main)
    with pytest.raises(RefusedError, match="forbidden_path"):
        backend.commit_files(
            "nightfix/x", main, [FileChange(path=".github/workflows/a.yml", content="a")], "m"
        )
    with pytest.raises(RefusedError, match="option_injection"):
        backend.resolve("--all")


async def test_comment_only_on_the_agents_pull_requests(repo: Path, client) -> None:
    pulls = repo / ".git" / "nightfix" / "pulls"
    pulls.mkdir(parents=True)
    (pulls / "1.json").write_text(
        '{"number": 1, "title": "human", "body": "", "head": "feature/x", "base": "main",'
        ' "state": "open", "draft": false, "created_at": "2026-01-01T00:00:00Z", "comments": []}'
    )
    await refused(client, "branch_prefix", "comment_on_pull_request", number=1, body="hi")
    await refused(client, "branch_prefix", "merge_pull_request", number=1)


async def test_refuses_symbolic_ref_alias_to_main(client, repo: Path, run_git) -> None:
    """A branch under the prefix that is a symref to main would write main through it."""
    run_git(repo, "symbolic-ref", "refs/heads/nightfix/alias", "refs/heads/main")
    await refused(
        client,
        "protected_branch",
        "commit_files",
        branch="nightfix/alias",
        changes=change("a.txt"),
        message="m",
    )
    await refused(
        client, "protected_branch", "create_branch", name="nightfix/alias", from_ref="main~1"
    )


async def test_refuses_protected_pattern_case_folded(repo: Path, run_git) -> None:
    boundary = Boundary(protected=("nightfix/keep-*",))
    backend = LocalBackend(repo, boundary)
    with pytest.raises(RefusedError, match="rule protected_branch"):
        backend.create_branch("nightfix/KEEP-this", run_git(repo, "rev-parse", "main"))
