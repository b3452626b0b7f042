"""The real MCP client over stdio launches `nightfix-errors serve` and reads real SDK issues.

Also: the password of a local variable and an `Authorization` header sent by the real SDK
(its own scrubber off) never reach the database file (WAL included) nor any tool output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import BIN, HERE, Collector, start_collector, stop_collector

pytestmark = pytest.mark.e2e

PASSWORD = "tr0ub4dor-and-3-horses"
AUTH_HEADER = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXNlc3Npb24tdG9rZW4"
TOOLS = {"list_issues", "get_issue", "list_issue_events", "get_event", "get_issue_stats"}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """A store with two real SDK issues: a ZeroDivisionError, and a leak of secrets."""
    c = start_collector(tmp_path_factory.mktemp("store") / "errors.db")
    env = {
        **os.environ,
        "DSN": c.dsn,
        "SAMPLE_DB_PASSWORD": PASSWORD,
        "SAMPLE_AUTH_HEADER": AUTH_HEADER,
    }
    try:
        for bug in ("divide", "divide", "leak"):
            subprocess.run(
                [sys.executable, str(HERE / "sample_app.py"), bug], env=env, check=True, timeout=60
            )
        c.wait_committed(3)
        yield c
    finally:
        stop_collector(c)  # the db stays, with its WAL file, for the byte-level checks


async def _session_calls(db: Path) -> tuple[list[Any], dict[str, Any]]:
    params = StdioServerParameters(command=str(BIN), args=["serve", "--db", str(db)])
    results: dict[str, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        listed = await session.call_tool("list_issues", {"sort": "freq"})
        results["list_issues"] = listed
        for issue in listed.structured_content["issues"]:
            iid = issue["id"]
            results[f"get_issue:{iid}"] = await session.call_tool("get_issue", {"issue_id": iid})
            results[f"get_issue_full:{iid}"] = await session.call_tool(
                "get_issue", {"issue_id": iid, "detail": "full"}
            )
            events = await session.call_tool("list_issue_events", {"issue_id": iid})
            results[f"list_issue_events:{iid}"] = events
            for ev in events.structured_content["events"]:
                results[f"get_event:{ev['id']}"] = await session.call_tool(
                    "get_event", {"event_id": ev["id"]}
                )
            results[f"get_issue_stats:{iid}"] = await session.call_tool(
                "get_issue_stats", {"issue_id": iid, "period": "1h", "buckets": 6}
            )
    return tools, results


@pytest.fixture(scope="module")
def session_results(filled: Collector) -> tuple[list[Any], dict[str, Any]]:
    import anyio

    return anyio.run(_session_calls, filled.db)


def test_stdio_client_lists_tools_with_read_only_annotations(session_results: Any) -> None:
    tools, _ = session_results
    assert {t.name for t in tools} == TOOLS
    for tool in tools:
        a = tool.annotations
        assert (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint) == (
            True,
            False,
            True,
            False,
        ), tool.name
        assert tool.output_schema is not None


def test_stdio_client_reads_the_source_line_that_raised_and_function_names(
    session_results: Any,
) -> None:
    _, results = session_results
    issues = results["list_issues"].structured_content["issues"]
    divide = next(i for i in issues if i["title"].startswith("ZeroDivisionError"))
    assert divide["count"] == 2 and divide["culprit"] == "__main__ in average"
    assert divide["environments"] == ["production"] and divide["releases"] == ["shop@1.0.0"]
    # The summary (default): what a model reads is the text content, a compact traceback.
    summary = results[f"get_issue:{divide['id']}"]
    text = "\n".join(c.text for c in summary.content)
    assert text.startswith("error, unresolved/new: 2 events, ")  # counts, outside the frame
    assert "first seen " in text and ", last seen " in text
    for trace in (text, summary.structured_content["traceback"]):
        assert "return total / len(values)" in trace
        assert " main: " in trace and " average: return total / len(values) <-- failing" in trace
        assert "values = []" in trace  # the failing frame's locals
        assert "production, release shop@1.0.0" in trace
        assert trace.rstrip().endswith(
            "ZeroDivisionError: division by zero\n<<<END UNTRUSTED ERROR DATA>>>".rstrip()
        )
        assert trace.index("<<<UNTRUSTED ERROR DATA") < trace.index("production")
    assert summary.structured_content["latest_event"] is None
    assert summary.structured_content["events_last_24h"] == 2
    # detail="full": the whole traceback and the structured latest event.
    detail = results[f"get_issue_full:{divide['id']}"].structured_content
    trace = detail["traceback"]
    assert "return total / len(values)" in trace
    assert "in main" in trace and "in average  <-- failing in-app frame" in trace
    assert trace.rstrip().endswith(
        "ZeroDivisionError: division by zero\n<<<END UNTRUSTED ERROR DATA>>>".rstrip()
    )
    frames = detail["latest_event"]["exceptions"][-1]["frames"]
    failing = [f for f in frames if f["in_app"]][-1]
    assert failing["function"] == "average"
    assert failing["context_line"].strip() == "return total / len(values)"
    assert "values = []" in trace  # the failing frame's locals, in the traceback
    assert "untrusted" in detail["untrusted"].lower()
    assert detail["events_last_24h"] == 2
    stats = results[f"get_issue_stats:{divide['id']}"].structured_content
    assert stats["total"] == 2 and len(stats["buckets"]) == 6


def test_password_and_authorization_header_never_reach_any_tool_output(
    session_results: Any,
) -> None:
    _, results = session_results
    everything = json.dumps(
        {k: [r.model_dump(mode="json") for r in [v]] for k, v in results.items()}
    )
    assert "cannot reach payment db" in everything  # the leaky issue was read back ...
    assert PASSWORD not in everything  # ... without its secrets
    assert "c2VjcmV0LXNlc3Npb24tdG9rZW4" not in everything
    assert "4111 1111 1111 1111" not in everything
    assert "[Filtered]" in everything


def test_password_and_authorization_header_never_reach_the_database_file(
    filled: Collector,
) -> None:
    files = [p for p in filled.db.parent.iterdir() if p.name.startswith(filled.db.name)]
    assert filled.db in files
    blob = b"".join(p.read_bytes() for p in files)
    assert b"payment db" in blob  # the leaky event was stored ...
    for secret in (PASSWORD, "c2VjcmV0LXNlc3Npb24tdG9rZW4", "4111 1111 1111 1111"):
        assert secret.encode() not in blob  # ... and its secrets were not
