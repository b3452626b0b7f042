"""`serve --transport http`: the same tools over streamable HTTP, with a real client."""

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fastmcp import Client

SCRIPT = str(Path(sys.executable).parent / "nightfix-github")
pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_streamable_http_transport_serves_read_tools(repo: Path) -> None:
    port = free_port()
    args = [
        "serve",
        "--transport",
        "http",
        "--port",
        str(port),
        "--read-only",
        "--local",
        str(repo),
    ]
    proc = subprocess.Popen([SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(120):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                await asyncio.sleep(0.25)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            names = {t.name for t in await client.list_tools()}
            info = await client.call_tool("repo_info", {})
        assert "read_file" in names and "commit_files" not in names
        assert info.structured_content["default_branch"] == "main"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
