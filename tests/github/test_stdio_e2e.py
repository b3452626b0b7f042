"""End to end over stdio: the real `mcp` ClientSession against the installed console script."""

import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SCRIPT = str(Path(sys.executable).parent / "nightfix-github")
WRITE_TOOLS = {
    "create_branch",
    "commit_files",
    "commit_patch",
    "open_pull_request",
    "comment_on_pull_request",
    "merge_pull_request",
}

pytestmark = pytest.mark.e2e


async def _tools_and_call(args: list[str], tool: str, arguments: dict):  # type: ignore[no-untyped-def]
    params = StdioServerParameters(command=SCRIPT, args=args)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        result = await session.call_tool(tool, arguments)
        return tools, result


async def test_read_only_over_stdio_sees_no_write_tool(repo: Path) -> None:
    tools, result = await _tools_and_call(
        ["serve", "--read-only", "--local", str(repo)], "read_file", {"path": "app/cart.py"}
    )
    names = {t.name for t in tools}
    assert names == {
        "repo_info",
        "read_file",
        "list_directory",
        "search_code",
        "list_commits",
        "blame",
        "get_pull_request",
        "list_pull_requests",
        "list_pull_request_feedback",
        "preview_patch",
    }
    assert not names & WRITE_TOOLS
    assert all(t.annotations and t.annotations.read_only_hint for t in tools)
    assert result.is_error is False
    assert "i.price" in result.structured_content["content"]


async def test_write_tools_over_stdio_refuse_by_rule(repo: Path) -> None:
    tools, result = await _tools_and_call(
        ["serve", "--local", str(repo), "--allow-merge"],
        "create_branch",
        {"name": "refs/heads/main", "from_ref": "main"},
    )
    names = {t.name for t in tools}
    assert names >= WRITE_TOOLS
    merge = next(t for t in tools if t.name == "merge_pull_request")
    assert merge.annotations is not None and merge.annotations.destructive_hint is True
    assert result.is_error is True
    assert "refused by rule protected_branch" in result.content[0].text


async def test_stdio_serves_github_repo_from_environment(fake_github) -> None:  # type: ignore[no-untyped-def]
    """`--repo` with GITHUB_TOKEN and GITHUB_API_URL from the environment, over stdio."""
    from fake_github import TOKEN

    params = StdioServerParameters(
        command=SCRIPT,
        args=["serve", "--read-only", "--repo", "acme/shop"],
        env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake_github.base_url},
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("read_file", {"path": "app/cart.py"})
    assert result.is_error is False
    assert "i.price" in result.structured_content["content"]
    assert ("GET", "/repos/acme/shop/contents/app/cart.py") in [
        (r.method, r.path) for r in fake_github.requests
    ]
    assert fake_github.writes == []


async def test_allow_base_flag_over_stdio(repo: Path, run_git) -> None:  # type: ignore[no-untyped-def]
    """`--allow-base staging` opens staging as a base; `--protected 'release/*'` still wins."""
    run_git(repo, "branch", "staging", "main")
    run_git(repo, "branch", "release/1.0", "main")
    args = ["serve", "--local", str(repo), "--allow-base", "staging", "--allow-base", "release/*"]
    params = StdioServerParameters(command=SCRIPT, args=[*args, "--protected", "release/*"])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.call_tool("create_branch", {"name": "nightfix/a", "from_ref": "main"})
        pr = {"branch": "nightfix/a", "title": "t", "body": "b"}
        refused = await session.call_tool("open_pull_request", {**pr, "base": "release/1.0"})
        opened = await session.call_tool("open_pull_request", {**pr, "base": "staging"})
    assert refused.is_error is True
    assert "refused by rule pull_request_base" in refused.content[0].text
    assert opened.is_error is False and opened.structured_content["base"] == "staging"
