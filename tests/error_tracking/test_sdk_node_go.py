"""The real @sentry/node and sentry-go, driven by the example services' own traffic drivers,
against the real collector: frames at repository paths, read well by `get_issue`, and a
default-settings Node service reaches a run through the real trigger code.

@sentry/node (11.x) comes from the npm registry into ~/.cache/nightfix (installed on first
use); sentry-go from Debian (`scripts/ensure-sdk-tools.sh`, run by `.ci/run` and `make test`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import demo_env
import sdk_tools
from nfe_harness import Collector, run_cli

from nightfix.autonomy import trigger
from nightfix.policy import TriggerPolicy
from nightfix_errors.backends.sqlite import SqliteStore
from nightfix_errors.server import build_server

pytestmark = pytest.mark.e2e
TS = demo_env.service_dir("checkout-service-ts")
GO = demo_env.service_dir("inventory-service-go")


class InMemoryCaller:
    """The trigger's `ToolCaller` over the real MCP server, in memory."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        assert server == "errors"
        return dict((await self.client.call_tool(tool, args)).structured_content)


async def only_issue(db: Path) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(issue summary, the summary text a model reads, the full answer) of the one issue."""
    async with Client(build_server(lambda: SqliteStore(db_path=db))) as client:
        issues = (await client.call_tool("list_issues", {})).structured_content["issues"]
        assert len(issues) == 1, issues
        summary = await client.call_tool("get_issue", {"issue_id": issues[0]["id"]})
        full = await client.call_tool("get_issue", {"issue_id": issues[0]["id"], "detail": "full"})
        return issues[0], summary.content[0].text, dict(full.structured_content)


def failing_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.endswith("<-- failing"))


def node_traffic(repo: Path, dsn: str, source_maps: bool = True) -> str:
    cmd, env = demo_env.traffic_command(repo, TS, 5)
    if not source_maps:
        cmd.remove("--enable-source-maps")
    env.update({"SENTRY_DSN": dsn, "SENTRY_ENVIRONMENT": "production"})
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def total_errors(output: str) -> int:
    return int(output.strip().splitlines()[-1].rsplit("total errors ", 1)[1].rstrip(")"))


async def test_typescript_service_reports_frames_at_its_ts_sources(
    collector: Collector, tmp_path: Path
) -> None:
    repo = demo_env.make_repo(tmp_path / "checkout-service-ts", service=TS)
    output = node_traffic(repo, collector.dsn)
    collector.wait_committed(1)
    issue, text, full = await only_issue(collector.db)

    assert issue["title"] == "ConnectionPoolExhausted: all 10 database connections are in use"
    assert issue["culprit"] == "src/db/connection.ts in ConnectionPool.acquire"
    throw = next(
        n for n, line in enumerate((repo / "src/db/connection.ts").read_text().splitlines(), 1)
        if "throw new ConnectionPoolExhausted" in line
    )  # fmt: skip
    assert failing_line(text).startswith(
        f"  at ConnectionPool.acquire (src/db/connection.ts:{throw}:"
    )
    assert "  at CheckoutService.checkout (src/checkout.ts:" in text
    assert "  at Server.<anonymous> (src/server.ts:" in text  # the SDK's `Server.?`
    assert str(tmp_path) not in text  # no deploy path where a repository path belongs
    assert ".js:" not in text and "build output" not in text
    assert f"(src/db/connection.ts:{throw}:" in full["traceback"]
    # Default settings: the Dedupe integration dropped all but one of the identical failures.
    assert total_errors(output) >= 5 and issue["count"] == 1
    assert issue["sdk_deduplicates"] is True
    assert "note: the SDK drops repeated identical errors" in text


async def test_compiled_javascript_without_source_maps_is_named_so(
    collector: Collector, tmp_path: Path
) -> None:
    repo = demo_env.make_repo(tmp_path / "checkout-service-ts", service=TS)
    node_traffic(repo, collector.dsn, source_maps=False)
    collector.wait_committed(1)
    _, text, _ = await only_issue(collector.db)
    assert failing_line(text).startswith("  at ConnectionPool.acquire (dist/db/connection.js:")
    assert "note: frames point at build output (.js)" in text
    assert "--enable-source-maps" in text


async def test_default_node_sdk_five_identical_failures_make_the_trigger_say_critical(
    collector: Collector, tmp_path: Path
) -> None:
    repo = demo_env.make_repo(tmp_path / "checkout-service-ts", service=TS)
    output = node_traffic(repo, collector.dsn)
    assert total_errors(output) >= 5
    collector.wait_committed(1)
    policy = TriggerPolicy()  # the shipped defaults: min_events 5
    async with Client(build_server(lambda: SqliteStore(db_path=collector.db))) as client:
        decisions = await trigger.poll(InMemoryCaller(client), policy, now=datetime.now(UTC))
    assert len(decisions) == 1
    decision = decisions[0]
    assert decision.critical, decision.reason
    assert decision.events_in_window == 1
    assert "the SDK drops repeated identical errors" in decision.reason
    # Without the rule the same issue would never qualify: one event, fewer than 5.
    strict = TriggerPolicy(min_events_deduplicated=5)
    assert not trigger.decide(decision.issue, 1, strict).critical


async def test_go_service_reports_frames_at_its_repository_paths(
    collector: Collector, tmp_path: Path
) -> None:
    repo = demo_env.make_repo(tmp_path / "inventory-service-go", service=GO)
    output = demo_env.drive_traffic(repo, collector.dsn, min_errors=3, service=GO)
    failures = total_errors(output)
    collector.wait_committed(failures)
    issue, text, full = await only_issue(collector.db)

    assert issue["title"].startswith(
        "runtime.boundsError: runtime error: slice bounds out of range"
    )
    assert issue["culprit"] == "example.com/inventory/stock in (*Inventory).TopSellers"
    assert issue["count"] == failures and issue["sdk_deduplicates"] is False
    slicing = next(
        n for n, line in enumerate((repo / "stock/stock.go").read_text().splitlines(), 1)
        if "return all[:n]" in line
    )  # fmt: skip
    assert failing_line(text).startswith(f"  stock/stock.go:{slicing} (*Inventory).TopSellers:")
    assert "  api/api.go:" in text
    assert "traffic.go" not in text  # the driver's recover wrapper is not the service's code
    assert "library frames: main, net/http]" in text  # stdlib and the wrapper, collapsed
    assert str(tmp_path) not in text
    assert f'File "stock/stock.go", line {slicing}, in (*Inventory).TopSellers' in full["traceback"]


def test_a_project_path_map_rewrites_deploy_paths_the_rules_cannot(
    collector: Collector, tmp_path: Path
) -> None:
    from nfe_harness import envelope, js_event

    done = run_cli("project", "paths", "app", "--map", "/opt/deploy/current/=", db=collector.db)
    assert "/opt/deploy/current/ -> (stripped)" in done.stderr
    bad = run_cli(
        "project", "paths", "app", "--map", "no-equals-sign", db=collector.db, check=False
    )
    assert bad.returncode == 1 and "FROM=TO" in bad.stderr
    event = js_event()
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    frame.update(abs_path="/opt/deploy/current/server/orders.js", filename=None, in_app=True)
    demo_env.time.sleep(2.5)  # the collector rereads path maps every 2 s (not a timed assert)
    assert collector.post(envelope(event)).status_code == 200
    collector.wait_committed(1)
    import json
    import sqlite3

    with sqlite3.connect(collector.db) as conn:
        data = json.loads(conn.execute("SELECT data FROM events").fetchone()[0])
    last = data["exceptions"][-1]["frames"][-1]
    assert (last["filename"], last["abs_path"]) == (
        "server/orders.js",
        "/opt/deploy/current/server/orders.js",
    )


def test_sdk_tools_are_where_the_tests_expect_them() -> None:
    assert (sdk_tools.sentry_node_modules() / "@sentry" / "node" / "package.json").exists()
    assert sdk_tools.SENTRY_GO.is_dir(), "run scripts/ensure-sdk-tools.sh"
    assert os.access(sdk_tools.venv_tool("node"), os.X_OK)
