"""The MCP surface: in memory through fastmcp's Client, and over stdio with the real client."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import docker
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from nightfix_sandbox.backends.docker_backend import OWNER, DockerBackend
from nightfix_sandbox.config import LABEL, Limits, SandboxConfig
from nightfix_sandbox.server import build_server

pytestmark = pytest.mark.docker

BIN = Path(sys.executable).parent / "nightfix-sandbox"
TOOLS = {
    "create_sandbox",
    "exec",
    "read_file",
    "export_file",
    "write_file",
    "apply_patch",
    "list_files",
    "search",
    "diff",
    "run_tests",
    "destroy_sandbox",
    "list_sandboxes",
}


def _server(repo: Path, image: str) -> Any:
    config = SandboxConfig(
        sources={"calc": str(repo)}, image=image, pool_size=0, limits=Limits(memory_mb=512)
    )
    return build_server(config)


async def test_tools_carry_honest_annotations(calc_repo: Path, sandbox_image: str) -> None:
    async with Client(_server(calc_repo, sandbox_image)) as client:
        tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) == TOOLS
    hints = {n: t.annotations for n, t in tools.items()}
    for name in ("read_file", "export_file", "list_files", "search", "diff", "list_sandboxes"):
        assert hints[name].read_only_hint is True, name
    for name in ("exec", "write_file", "apply_patch", "run_tests", "create_sandbox"):
        assert hints[name].read_only_hint is False, name
    assert hints["destroy_sandbox"].destructive_hint is True
    assert hints["exec"].destructive_hint is False  # confined to a throwaway sandbox
    assert all(h.open_world_hint is False for h in hints.values())


def _unpooled_here() -> set[str]:
    """Containers this test process owns that did not come from a warm pool."""
    mine = {"label": f"{LABEL}.owner={OWNER}"}
    found = docker.from_env().containers.list(all=True, ignore_removed=True, filters=mine)
    return {c.id for c in found if "nightfix.sandbox.pool" not in c.labels}


async def test_tool_errors_are_one_clear_line(calc_repo: Path, sandbox_image: str) -> None:
    before = _unpooled_here()
    async with Client(_server(calc_repo, sandbox_image)) as client:
        with pytest.raises(ToolError, match="unknown source '/etc'; known sources: calc"):
            await client.call_tool("create_sandbox", {"source": "/etc"})
        with pytest.raises(ToolError, match="malformed"):
            await client.call_tool("exec", {"sandbox_id": "../x", "command": "id"})
        with pytest.raises(ToolError):  # beyond the operator's --max-timeout (600)
            await client.call_tool(
                "exec", {"sandbox_id": "sbx-000000000000", "command": "id", "timeout_s": 100000}
            )
        made = await client.call_tool("create_sandbox", {"source": "calc"})
        sid = made.structured_content["sandbox_id"]
        with pytest.raises(ToolError, match="absolute path"):
            await client.call_tool("read_file", {"sandbox_id": sid, "path": "/etc/passwd"})
        listed = await client.call_tool("list_sandboxes", {})
        assert [s["sandbox_id"] for s in listed.structured_content["sandboxes"]] == [sid]
        assert len(_unpooled_here() - before) == 1  # the sandbox's container
    # leaving the lifespan destroyed the sandbox it still held: its container is gone
    assert _unpooled_here() - before == set()


async def _stdio_cycle(repo: Path, fix_patch: str) -> dict[str, Any]:
    params = StdioServerParameters(
        command=str(BIN), args=["serve", "--source", f"calc={repo}", "--pool-size", "1"]
    )
    out: dict[str, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        out["tools"] = {t.name for t in (await session.list_tools()).tools}
        made = await session.call_tool("create_sandbox", {"source": "calc", "ref": "main"})
        sid = made.structured_content["sandbox_id"]
        out["created"] = made.structured_content
        out["owner"] = _server_owner(repo)
        args = {"sandbox_id": sid}
        out["first"] = (await session.call_tool("run_tests", args)).structured_content
        out["patch"] = await session.call_tool("apply_patch", {**args, "patch": fix_patch})
        out["second"] = (await session.call_tool("run_tests", args)).structured_content
        out["diff"] = (await session.call_tool("diff", args)).structured_content
        out["bad"] = await session.call_tool("read_file", {**args, "path": "../../etc/passwd"})
        out["destroy"] = (await session.call_tool("destroy_sandbox", args)).structured_content
        out["after"] = (await session.call_tool("list_sandboxes", {})).structured_content
    return out


@pytest.mark.e2e
async def test_stdio_client_drives_create_test_fix_test_destroy(
    calc_repo: Path, sandbox_image: str, fix_patch: str
) -> None:
    out = await _stdio_cycle(calc_repo, fix_patch)
    assert out["tools"] == TOOLS
    assert out["created"]["source"] == "calc" and len(out["created"]["commit"]) == 40
    assert (out["first"]["failed"], out["first"]["passed"]) == (1, 1)
    assert out["first"]["failures"][0]["test_id"] == "tests/test_calc.py::test_add"
    assert out["patch"].structured_content == {"files_changed": ["calc.py"]}
    assert (out["second"]["failed"], out["second"]["passed"]) == (0, 2)
    assert out["diff"]["files_changed"] == ["calc.py"]
    assert "+    return a + b" in out["diff"]["diff"]
    assert out["bad"].is_error and "'..'" in out["bad"].content[0].text
    assert out["destroy"]["destroyed"] is True
    assert out["after"] == {"sandboxes": []}
    # The server process is gone. Its lifespan removed its containers; one its warm pool
    # was still starting when the client killed it (2 s grace) may survive: that is an
    # orphan, and the next server start removes it. After that, nothing is left behind.
    client = docker.from_env()
    DockerBackend(client, Limits()).remove_orphans()
    mine = {"label": f"{LABEL}.owner={out['owner']}"}
    assert client.containers.list(all=True, ignore_removed=True, filters=mine) == []
    assert client.volumes.list(filters=mine) == []


def _server_owner(repo: Path) -> str:
    """The owner label of the stdio server serving `repo` (found through its containers)."""
    for c in docker.from_env().containers.list(
        all=True, ignore_removed=True, filters={"label": LABEL}
    ):
        owner = c.labels.get(f"{LABEL}.owner", "")
        pid = owner.split(":")[1]  # namespace:pid:start
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "serve" in cmdline and f"calc={repo}" in cmdline:
            return owner
    raise AssertionError("no container of the stdio server found")
