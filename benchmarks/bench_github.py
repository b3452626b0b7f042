"""Benchmark: nightfix-github vs mcp-server-git over stdio on the same local repository.

`read_file` (nightfix) against `git_show REV:PATH` (mcp-server-git), and `list_commits`
against `git_log`, 200 calls each after a warm-up, one MCP client session per server, both
servers started the same way (a console script over stdio) and running at the same time, calls
alternating between them so machine load affects both alike. Prints p50/p95 in milliseconds.

Run: `.venv/bin/python benchmarks/bench_github.py` (installs mcp-server-git from PyPI if
missing). Exit code 1 if a server answers wrongly.
"""

import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

CALLS = 200
WARMUP = 20
BIN = Path(sys.executable).parent
ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def ensure_peer() -> None:
    if importlib.util.find_spec("mcp_server_git") is None:
        print("installing mcp-server-git from PyPI ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "mcp-server-git"], check=True)


def make_repo(root: Path) -> tuple[Path, str]:
    """A repository with 300 commits and a 400-line module that changes in each."""
    repo = root / "bench-repo"
    repo.mkdir()
    env = {**os.environ, **ENV}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)

    git("init", "-q", "-b", "main")
    (repo / "src").mkdir()
    module = repo / "src" / "orders.py"
    for n in range(300):
        lines = [
            f"def handler_{i}(order):  # revision {n if i == n % 400 else 0}\n" for i in range(400)
        ]
        module.write_text("".join(lines))
        git("add", "-A")
        git("commit", "-q", "-m", f"change {n}: tune handler_{n % 400}")
    return repo, module.read_text()


@dataclass
class Server:
    name: str
    params: StdioServerParameters
    calls: dict[str, tuple[str, dict[str, Any]]]
    check: dict[str, Callable[[Any], bool]]
    times: dict[str, list[float]] = field(default_factory=dict)


async def measure(servers: list[Server]) -> None:
    """Both servers up at once; calls alternate between them so load noise hits both alike."""
    async with AsyncExitStack() as stack:
        sessions = []
        for server in servers:
            read, write = await stack.enter_async_context(stdio_client(server.params))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            sessions.append(session)
        for label in servers[0].calls:
            for server, session in zip(servers, sessions, strict=True):
                tool, args = server.calls[label]
                for _ in range(WARMUP):
                    result = await session.call_tool(tool, args)
                if result.is_error or not server.check[label](result):
                    text = result.content[0].text if result.content else result
                    raise SystemExit(f"{server.name} {tool} answered wrongly: {str(text)[:300]}")
                server.times[label] = []
            for _ in range(CALLS):
                for server, session in zip(servers, sessions, strict=True):
                    tool, args = server.calls[label]
                    start = time.perf_counter()
                    await session.call_tool(tool, args)
                    server.times[label].append((time.perf_counter() - start) * 1000)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def main() -> int:
    ensure_peer()
    with tempfile.TemporaryDirectory() as tmp:
        repo, content = make_repo(Path(tmp))
        path = "src/orders.py"

        def text(r: Any) -> str:
            return str(r.content[0].text) if r.content else ""

        ours = Server(
            "nightfix-github",
            StdioServerParameters(
                command=str(BIN / "nightfix-github"),
                args=["--log-level", "warning", "serve", "--read-only", "--local", str(repo)],
            ),
            {
                "read_file": ("read_file", {"path": path, "ref": "main"}),
                "list_commits": ("list_commits", {"limit": 10}),
            },
            {
                "read_file": lambda r: r.structured_content["content"] == content,
                "list_commits": lambda r: len(r.structured_content["commits"]) == 10,
            },
        )
        peer = Server(
            "mcp-server-git",
            StdioServerParameters(
                command=str(BIN / "mcp-server-git"), args=["--repository", str(repo)]
            ),
            {
                "read_file": ("git_show", {"repo_path": str(repo), "revision": f"main:{path}"}),
                "list_commits": ("git_log", {"repo_path": str(repo), "max_count": 10}),
            },
            {
                "read_file": lambda r: text(r).rstrip("\n") == content.rstrip("\n"),
                "list_commits": lambda r: text(r).count("Commit:") == 10,
            },
        )
        await measure([ours, peer])
    print(f"nightfix-github vs mcp-server-git, stdio, {CALLS} calls each (ms)")
    print(f"{'operation':<14}{'server':<18}{'p50':>8}{'p95':>8}")
    for label in ("read_file", "list_commits"):
        for server in (ours, peer):
            data = server.times[label]
            print(f"{label:<14}{server.name:<18}{pct(data, 50):>8.2f}{pct(data, 95):>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
