"""The client's own overhead per tool call, against calling the same MCP tool directly.

Both paths call `errors.list_issues` on a real `nightfix-errors serve` over stdio:

- direct: the `mcp` SDK's `ClientSession.call_tool`, nothing else;
- nightfix: `Gateway.call` — kill switch, budget and allowlist checks, the audit line written
  (and flushed) *before* the call, the trace lines, result validation/redaction/framing.

Each path gets its own server process; calls alternate in blocks so both see the same machine
load. Prints p50/p95 per call, the ratio of total time over 500 calls (target < 1.5x), the
median of per-block ratios, and the client's own work per call measured against a stub server
that answers instantly (what nightfix adds, without the server and pipe noise).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent, Tool

from nightfix.gateway import Gateway
from nightfix.models import ToolCall
from nightfix.policy import Policy
from nightfix.run_context import RunContext
from nightfix.servers import ServerPool
from nightfix.stop_reasons import Kind, StopReason

CALLS, BLOCK, WARMUP, STUB_CALLS = 500, 25, 20, 5000
BIN = Path(sys.executable).parent


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


class StubPool:
    """A pool whose server answers instantly: what remains is nightfix's own work per call."""

    def __init__(self) -> None:
        self.tools: dict[str, list[Tool]] = {}

    result = CallToolResult(
        content=[TextContent(type="text", text='{"issues": [], "next_cursor": null}')],
        structured_content={"issues": [], "next_cursor": None},
    )

    def tool(self, server: str, tool: str) -> Tool | None:
        return None

    async def call_raw(self, *args: Any, **kwargs: Any) -> CallToolResult:
        return self.result


async def stub_cost(policy: Policy, tmp: Path) -> float:
    stub = StubPool()
    stub.tools = {"errors": [Tool(name="list_issues", input_schema={"type": "object"})]}
    ctx = RunContext(policy, "bench-stub", "bench")
    gateway = Gateway(ctx, stub, None)  # type: ignore[arg-type]
    start = time.perf_counter()
    for i in range(STUB_CALLS):
        await gateway.call(ToolCall(f"s{i}", "errors.list_issues", {"limit": 5}))
    elapsed = time.perf_counter() - start
    ctx.finish(StopReason(Kind.COMPLETED))
    return elapsed / STUB_CALLS * 1e6


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-client-"))
    db = tmp / "errors.db"
    subprocess.run(
        [str(BIN / "nightfix-errors"), "project", "create", "bench", "--db", str(db)],
        check=True,
        capture_output=True,
    )
    argv = [str(BIN / "nightfix-errors"), "serve", "--db", str(db)]
    policy = Policy.model_validate(
        {
            "servers": {"errors": {"command": argv}},
            "tools": {"allow": ["errors.*"]},
            "budgets": {"max_tool_calls": 100_000, "max_steps": 100, "max_seconds": 3600},
            "kill_switch": {"file": str(tmp / "STOP"), "env": "NIGHTFIX_BENCH_KILL"},
            "audit": {"path": str(tmp / "audit.jsonl")},
            "traces": {"dir": str(tmp / "traces")},
            "state": {"db": str(tmp / "state.db")},
        }
    )
    args = {"limit": 5}
    params = StdioServerParameters(command=argv[0], args=argv[1:])
    direct_times: list[float] = []
    client_times: list[float] = []
    with open(tmp / "servers.log", "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            await session.list_tools()
            async with ServerPool({"errors": policy.servers["errors"]}, errlog=errlog) as pool:
                ctx = RunContext(policy, "bench", "bench")
                gateway = Gateway(ctx, pool, None)
                for _ in range(WARMUP):
                    await session.call_tool("list_issues", args)
                    await gateway.call(ToolCall("w", "errors.list_issues", args))
                n = 0
                while n < CALLS:
                    for _ in range(BLOCK):
                        start = time.perf_counter()
                        result = await session.call_tool("list_issues", args)
                        direct_times.append(time.perf_counter() - start)
                        assert not result.is_error
                    for i in range(BLOCK):
                        start = time.perf_counter()
                        checked = await gateway.call(
                            ToolCall(f"c{n + i}", "errors.list_issues", args)
                        )
                        client_times.append(time.perf_counter() - start)
                        assert not checked.is_error
                    n += BLOCK
                ctx.finish(StopReason(Kind.COMPLETED))
    audit_lines = len((tmp / "audit.jsonl").read_text().splitlines())
    ratio = sum(client_times) / sum(direct_times)
    print(f"tool calls per path: {CALLS} (errors.list_issues over stdio, after {WARMUP} warm-up)")
    for label, times in (
        ("direct mcp ClientSession", direct_times),
        ("nightfix Gateway.call   ", client_times),
    ):
        print(
            f"{label} : p50 {p(times, 50):.3f} ms  p95 {p(times, 95):.3f} ms"
            f"  total {sum(times):.3f} s"
        )
    blocks = [
        sum(client_times[i : i + BLOCK]) / sum(direct_times[i : i + BLOCK])
        for i in range(0, CALLS, BLOCK)
    ]
    print(
        f"per-block ratio (median of {len(blocks)} blocks of {BLOCK}): "
        f"{statistics.median(blocks):.2f}x"
    )
    stub = await stub_cost(policy, tmp)
    print(f"client work alone (stub server, {STUB_CALLS} calls): {stub:.1f} µs/call")
    overhead = p(client_times, 50) - p(direct_times, 50)
    print(f"overhead per call (p50)  : {overhead:.3f} ms   audit lines written: {audit_lines}")
    verdict = "OK" if ratio < 1.5 else "MISSED"
    print(f"ratio nightfix/direct    : {ratio:.2f}x  (target < 1.5x) -> {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
