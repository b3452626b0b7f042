"""Each MCP tool through the in-memory FastMCP client, over a real store."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import fill_store, js_event, python_event

from nightfix_errors.backends.sqlite import SqliteStore
from nightfix_errors.server import build_server

HOUR = 3600.0


def _value_error(n: int, ts: float, env: str = "production") -> dict[str, Any]:
    e = python_event(timestamp=ts, environment=env, user={"id": f"u{n % 3}"})
    e["exception"]["values"][0].update(type="ValueError", value=f"bad value {n}")
    e["exception"]["values"][0]["stacktrace"]["frames"][0]["function"] = "parse"
    return e


@pytest.fixture
def store_db(db_path: Path) -> Path:
    now = time.time()
    events = [_value_error(n, now - (n + 1) * HOUR - 60) for n in range(30)]  # one issue
    events.append(python_event(timestamp=now - 10, environment="staging", level="warning"))
    events.append(js_event(timestamp=now - 5))
    fill_store(db_path, events)
    fill_store(db_path, [python_event(timestamp=now - 9 * 86400)], project="other")
    return db_path


@pytest.fixture
async def client(store_db: Path) -> Any:
    async with Client(build_server(lambda: SqliteStore(db_path=store_db))) as c:
        yield c


async def call(client: Client, name: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    return dict(result.structured_content)


async def test_list_issues_sorts_by_frequency_recency_and_first_seen(client: Client) -> None:
    freq = (await call(client, "list_issues", sort="freq"))["issues"]
    assert [i["count"] for i in freq] == sorted((i["count"] for i in freq), reverse=True)
    assert freq[0]["title"] == "ValueError: bad value 0" and freq[0]["count"] == 30
    assert freq[0]["user_count"] == 3
    recent = (await call(client, "list_issues"))["issues"]
    assert recent[0]["title"].startswith("TypeError")
    first = (await call(client, "list_issues", sort="first_seen"))["issues"]
    assert first[0]["title"].startswith("TypeError") and first[-1]["project"] == "other"


async def test_list_issues_filters(client: Client) -> None:
    assert {
        i["project"] for i in (await call(client, "list_issues", project="other"))["issues"]
    } == {"other"}
    warn = (await call(client, "list_issues", level="warning"))["issues"]
    assert [i["environments"] for i in warn] == [["staging"]]
    staging = (await call(client, "list_issues", environment="staging"))["issues"]
    assert len(staging) == 1
    recent = (await call(client, "list_issues", since="2000-01-01T00:00:00Z"))["issues"]
    assert len(recent) == 4
    none = await call(client, "list_issues", since="2999-01-01T00:00:00Z")
    assert none == {"issues": [], "next_cursor": None}
    assert (await call(client, "list_issues", status="resolved"))["issues"] == []


async def test_substatus_is_new_then_ongoing_after_a_week(client: Client) -> None:
    issues = (await call(client, "list_issues"))["issues"]
    by_project = {i["project"]: i for i in issues}
    assert by_project["app"]["substatus"] == "new"
    assert by_project["other"]["substatus"] == "ongoing"  # first seen 9 days ago


async def test_list_issues_paginates_with_a_cursor(client: Client) -> None:
    page1 = await call(client, "list_issues", limit=3)
    assert len(page1["issues"]) == 3 and page1["next_cursor"]
    page2 = await call(client, "list_issues", limit=3, cursor=page1["next_cursor"])
    assert len(page2["issues"]) == 1 and page2["next_cursor"] is None
    ids = [i["id"] for i in page1["issues"] + page2["issues"]]
    assert len(set(ids)) == 4


async def test_cursor_from_another_query_or_forged_is_a_tool_error(client: Client) -> None:
    page1 = await call(client, "list_issues", limit=1)
    with pytest.raises(ToolError, match="another query"):
        await call(client, "list_issues", limit=1, sort="freq", cursor=page1["next_cursor"])
    with pytest.raises(ToolError, match="call again without `cursor`"):
        await call(client, "list_issues", cursor="not-a-cursor")


async def test_bad_since_and_out_of_range_limit_are_refused(client: Client) -> None:
    with pytest.raises(ToolError, match="ISO 8601"):
        await call(client, "list_issues", since="yesterday")
    with pytest.raises(ToolError):
        await call(client, "list_issues", limit=1000)
    with pytest.raises(ToolError):
        await call(client, "list_issues", level="catastrophic")


async def test_get_issue_summary_is_a_compact_traceback_with_the_facts(client: Client) -> None:
    issue = (await call(client, "list_issues", sort="freq"))["issues"][0]
    result = await client.call_tool("get_issue", {"issue_id": issue["id"]})
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    detail = dict(result.structured_content)
    assert detail["latest_event"] is None and detail["events_last_24h"] == 23
    assert text.startswith("error, unresolved/new: 30 events (23 in 24h), 3 users, first seen ")
    assert "last seen " in text and text.endswith(detail["traceback"])
    trace = detail["traceback"]
    assert trace.startswith("<<<UNTRUSTED ERROR DATA")
    assert "Traceback" not in trace and "/Users/user/test/" not in trace  # compact: short paths
    assert "  main.py:28 parse: main()" in trace
    failing = next(
        ln for ln in trace.splitlines() if ln.endswith(" <-- failing") or "<-- failing;" in ln
    )
    assert failing.startswith(
        "  main.py:26 main: raise Exception('This is an example Python exception')"
    )
    assert "; locals: " in failing and "str_var = 'Hello, world!'" in failing
    assert trace.splitlines()[-2] == "ValueError: bad value 0"


async def test_get_issue_full_renders_python_traceback_with_failing_frame(client: Client) -> None:
    issue = (await call(client, "list_issues", sort="freq"))["issues"][0]
    detail = await call(client, "get_issue", issue_id=issue["id"], detail="full")
    assert detail["issue"]["id"] == issue["id"]
    assert detail["events_last_24h"] == 23
    trace = detail["traceback"]
    assert trace.startswith("<<<UNTRUSTED ERROR DATA")
    assert "Traceback (most recent call last):" in trace
    assert 'File "/Users/user/test/main.py", line 28, in parse' in trace
    assert "in main  <-- failing in-app frame" in trace
    assert "raise Exception('This is an example Python exception')" in trace
    assert "ValueError: bad value 0" in trace
    assert detail["latest_event"]["exceptions"][0]["type"] == "ValueError"


async def test_get_issue_renders_javascript_in_its_own_format(client: Client) -> None:
    js = next(
        i
        for i in (await call(client, "list_issues"))["issues"]
        if i["title"].startswith("TypeError")
    )
    summary = (await call(client, "get_issue", issue_id=js["id"]))["traceback"].splitlines()
    assert summary[1] == "TypeError: Object [object Object] has no method 'updateFrom'"
    assert summary[2] == "  [1 library frame: raven]"
    assert summary[3].startswith("  at poll (") and "views.js:389:46): " in summary[3]
    assert " <-- failing" in summary[3] and "Traceback" not in "\n".join(summary)
    trace = (await call(client, "get_issue", issue_id=js["id"], detail="full"))["traceback"]
    lines = trace.splitlines()
    assert lines[1] == "TypeError: Object [object Object] has no method 'updateFrom'"
    assert lines[2] == "    [... 1 library frame collapsed: raven ...]"
    assert lines[3].startswith("    at poll (") and "views.js:389:46)" in lines[3]
    assert lines[3].endswith("<-- failing in-app frame")
    assert "Traceback" not in trace


async def test_unknown_ids_are_tool_errors_that_say_what_to_do(client: Client) -> None:
    for tool, args in (
        ("get_issue", {"issue_id": "999"}),
        ("get_issue", {"issue_id": "../../etc"}),
        ("list_issue_events", {"issue_id": "999"}),
        ("get_issue_stats", {"issue_id": "999"}),
        ("get_event", {"event_id": "f" * 32}),
    ):
        with pytest.raises(ToolError, match="list_issue"):
            await call(client, tool, **args)


async def test_list_issue_events_newest_first_paginated_and_get_event(client: Client) -> None:
    issue = (await call(client, "list_issues", sort="freq"))["issues"][0]
    page = await call(client, "list_issue_events", issue_id=issue["id"], limit=20)
    assert len(page["events"]) == 20 and page["next_cursor"]
    stamps = [e["timestamp"] for e in page["events"]]
    assert stamps == sorted(stamps, reverse=True)
    rest = await call(
        client, "list_issue_events", issue_id=issue["id"], limit=20, cursor=page["next_cursor"]
    )
    assert len(rest["events"]) == 10 and rest["next_cursor"] is None
    assert page["events"][0]["user"] == "u0" and page["events"][0]["environment"] == "production"
    last = rest["events"][-1]
    full = await call(client, "get_event", event_id=last["id"])
    assert full["event"]["id"] == last["id"]
    assert "ValueError: bad value 29" in full["traceback"]
    assert "untrusted" in full["untrusted"].lower()


async def test_get_issue_stats_counts_events_in_buckets(client: Client) -> None:
    issue = (await call(client, "list_issues", sort="freq"))["issues"][0]
    day = await call(client, "get_issue_stats", issue_id=issue["id"], period="24h", buckets=24)
    assert day["interval_seconds"] == 3600 and len(day["buckets"]) == 24
    assert day["total"] == sum(b["count"] for b in day["buckets"])
    assert 22 <= day["total"] <= 23  # hourly events; bucket edges align to whole hours
    week = await call(client, "get_issue_stats", issue_id=issue["id"], period="7d", buckets=7)
    assert week["total"] == 30 and len(week["buckets"]) == 7
    starts = [b["start"] for b in week["buckets"]]
    assert starts == sorted(starts)


async def test_tools_are_all_annotated_read_only(client: Client) -> None:
    tools = await client.list_tools()
    assert len(tools) == 5
    for t in tools:
        a = t.annotations
        assert a is not None
        assert (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint) == (
            True,
            False,
            True,
            False,
        )


async def test_get_issue_shows_the_failing_frame_and_get_event_the_whole_stack(
    client: Client,
) -> None:
    js = next(
        i
        for i in (await call(client, "list_issues"))["issues"]
        if i["title"].startswith("TypeError")
    )
    assert (await call(client, "get_issue", issue_id=js["id"]))["latest_event"] is None
    detail = await call(client, "get_issue", issue_id=js["id"], detail="full")
    frames = detail["latest_event"]["exceptions"][-1]["frames"]
    assert frames and all(f["in_app"] for f in frames)
    assert [f["function"] for f in frames] == ["poll"]  # the failing one; the rest: traceback
    assert frames[-1]["context_line"] and not frames[-1]["pre_context"]  # source: in traceback
    full = await call(client, "get_event", event_id=detail["latest_event"]["id"])
    all_frames = full["event"]["exceptions"][-1]["frames"]
    assert [f["function"] for f in all_frames][:3] == ["member", "merge", "poll"]
    assert len(all_frames) == 4 and not all_frames[-1]["in_app"]
    assert all_frames[2]["pre_context"]
