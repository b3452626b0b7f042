"""The shared untrusted-text vectors through the errors server's real tools.

An event whose message carries every vector is stored the way the collector stores it
(scrub, normalize, writer); `get_event`, `list_issues` and `get_issue` (its text for a model and
its structured content) show it as `tests/untrusted_text_vectors.py` says.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fastmcp import Client

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: the shared vectors
from nfe_harness import fill_store, python_event
from untrusted_text_vectors import CLEAN_TEXT, HIDDEN_PAYLOAD, RAW_TEXT, VECTORS

from nightfix_errors.backends.sqlite import SqliteStore
from nightfix_errors.server import build_server


async def test_event_message_with_hidden_text_reaches_a_model_as_the_vectors_say(
    db_path: Path,
) -> None:
    event = python_event(message=RAW_TEXT, environment="prod\u202eduction")
    event.pop("exception")
    fill_store(db_path, [event])
    async with Client(build_server(lambda: SqliteStore(db_path=db_path))) as client:
        answer = await client.call_tool("get_event", {"event_id": event["event_id"]})
        got: dict[str, Any] = dict(answer.structured_content)
        issues = (await client.call_tool("list_issues", {})).structured_content["issues"]
        issue = await client.call_tool("get_issue", {"issue_id": issues[0]["id"]})
    assert got["event"]["message"] == CLEAN_TEXT
    assert got["event"]["environment"] == "prod\ufffdduction"
    assert issues[0]["title"] == VECTORS[0][2]  # the first line, cleaned
    summary = "".join(getattr(c, "text", "") for c in issue.content)
    for seen in (str(got), str(issues), summary, str(issue.structured_content)):
        assert HIDDEN_PAYLOAD not in seen
        assert not any(ch in seen for ch in ("\x1b", "\u202e", "\U000e0069", "\x9b", "\u200b"))


async def test_sdk_name_and_repository_paths_reach_a_model_cleaned(db_path: Path) -> None:
    """The SDK's name and a frame path the collector rewrote are the app's words too."""
    from nfe_harness import js_event
    from untrusted_text_vectors import HIDDEN_CHARS

    _, raw, clean = VECTORS[0]
    event = js_event(platform="node")
    event["sdk"] = {"name": raw, "version": "1", "integrations": ["Dedupe"]}
    frame = {"filename": f"/srv/app/src/{raw}.ts", "function": "?", "lineno": 3, "in_app": True}
    event["exception"]["values"][-1]["stacktrace"] = {"frames": [frame]}
    fill_store(db_path, [event])
    async with Client(build_server(lambda: SqliteStore(db_path=db_path))) as client:
        answer = await client.call_tool("get_event", {"event_id": event["event_id"]})
        got: dict[str, Any] = dict(answer.structured_content)
        issues = (await client.call_tool("list_issues", {})).structured_content["issues"]
        issue = await client.call_tool("get_issue", {"issue_id": issues[0]["id"]})
    assert got["event"]["sdk"] == {"name": clean, "version": "1", "deduplicates": True}
    assert got["event"]["exceptions"][-1]["frames"][0]["filename"] == f"src/{clean}.ts"
    summary = "".join(getattr(c, "text", "") for c in issue.content)
    assert f"src/{clean}.ts:3" in summary
    for seen in (str(got), summary, str(issue.structured_content)):
        assert not HIDDEN_CHARS & set(seen)
