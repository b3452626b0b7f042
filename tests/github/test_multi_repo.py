"""Several repositories in one server: `repo` is required and only served names are reached."""

from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from gh_repos import git, make_repo

from nightfix_github.backends.local import LocalBackend
from nightfix_github.config import Boundary
from nightfix_github.server import build_server
from nightfix_github.service import RepoService


async def test_two_repositories_need_repo_and_stay_apart(tmp_path: Path) -> None:
    boundary = Boundary()
    shop, billing = make_repo(tmp_path, "shop"), make_repo(tmp_path, "billing")
    (billing / "README.md").write_text("# billing\n")
    backends = {b.name: b for b in (LocalBackend(shop, boundary), LocalBackend(billing, boundary))}
    async with Client(build_server(RepoService(backends, boundary))) as c:
        with pytest.raises(ToolError, match="refused by rule repo_required"):
            await c.call_tool("repo_info", {})
        out = await c.call_tool("read_file", {"path": "README.md", "repo": "shop"})
        assert out.structured_content["content"] == "# shop\n"
        await c.call_tool(
            "create_branch", {"name": "nightfix/x", "from_ref": "main", "repo": "billing"}
        )
        with pytest.raises(ToolError, match="refused by rule repo_not_served"):
            await c.call_tool("repo_info", {"repo": "../billing"})
    assert git(billing, "branch", "--list", "nightfix/*") == "nightfix/x"
    assert git(shop, "branch", "--list", "nightfix/*") == ""
