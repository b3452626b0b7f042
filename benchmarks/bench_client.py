"""The client's own overhead per tool call, against calling the same MCP tool directly.

Both paths call `errors.list_issues` on a real `nightfix-errors serve` over stdio:

- direct: the `mcp` SDK's `ClientSession.call_tool`, nothing else;
- nightfix: `Gateway.call` — kill switch, budget and allowlist checks, the audit line written
  (and flushed) *before* the call, the trace lines, result validation/redaction/framing.

Each path gets its own server process; calls alternate in blocks so both see the same machine
load. Prints p50/p95 per call and the ratio of total time over 500 calls (target < 1.5x).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from nightfix.gateway import Gateway
from nightfix.models import ToolCall
from nightfix.policy import Policy
from nightfix.run_context import RunContext
from nightfix.servers import ServerPool
from nightfix.stop_reasons import Kind, StopReason

CALLS, BLOCK, WARMUP = 500, 50, 20
BIN = Path(sys.executable).parent


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


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
            "budgets": {"max_tool_calls": 100_000, "max_steps": 100},
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
    overhead = p(client_times, 50) - p(direct_times, 50)
    print(f"overhead per call (p50)  : {overhead:.3f} ms   audit lines written: {audit_lines}")
    verdict = "OK" if ratio < 1.5 else "MISSED"
    print(f"ratio nightfix/direct    : {ratio:.2f}x  (target < 1.5x) -> {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
