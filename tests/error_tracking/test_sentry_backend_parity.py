"""`--backend sentry` answers with the same shapes and facts as the sqlite store.

The same sample events go into the collector's store (its own scrub + normalize + writer path)
and into the fake Sentry (as Sentry's ingest would hold them); the tools must then tell the same
story through either backend, in process and over stdio with the real MCP client.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

sys.path.insert(0, str(Path(__file__).parent))
from fake_sentry import FakeSentry

from nightfix_errors.backends.sentry import SentryStore
from nightfix_errors.backends.sqlite import SqliteStore
from nightfix_errors.db import connect_rw
from nightfix_errors.ingest import WriterStats, write_batch
from nightfix_errors.models import IssueFilter
from nightfix_errors.normalize import normalize_event, stored_fields
from nightfix_errors.projects import create_project
from nightfix_errors.scrub import Scrubber
from nightfix_errors.server import build_server
from nightfix_errors.service import ErrorService

# The steering repository's shared/ folder sits beside this checkout (locally and in CI).
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "sentry-samples"
TOKEN = "sntrys_parity_token_abcdef0123456789"
# Fields that name things differently in each system by design.
_IDS = {"id", "issue_id", "fingerprint", "permalink"}


def _events() -> list[dict[str, Any]]:
    """Sample events sent `seconds` ago, each with its own id."""
    now = int(time.time())
    out = []
    for n, (name, age) in enumerate(
        [("python-modern.json", 600), ("python-modern.json", 120), ("pii.json", 300)]
    ):
        raw = json.loads((SAMPLES / name).read_text())
        raw["timestamp"] = now - age
        raw["event_id"] = f"{n + 1:032x}"
        if name == "python-modern.json":
            frame = raw["exception"]["values"][0]["stacktrace"]["frames"][-1]
            frame["vars"]["password"] = "'s3cret-parity-pw'"
            raw["request"] = {
                "method": "GET",
                "url": "https://shop.example/cart",
                "headers": {"Authorization": "Bearer parity-secret-token-1234", "X-Id": "7"},
            }
            raw["user"] = {"id": str(n), "email": f"u{n}@example.com"}
            raw["release"] = "shop@1.0.0"
        out.append(raw)
    return out


@pytest.fixture
def both(tmp_path: Path) -> Any:
    events = _events()
    db_path = tmp_path / "errors.db"
    db = connect_rw(db_path)
    project = create_project(db, "backend")
    scrubber = Scrubber()
    for raw in events:
        ev = normalize_event(scrubber.scrub(stored_fields(copy.deepcopy(raw))))  # as the collector
        write_batch(db, [(project.id, ev)], WriterStats())
    db.close()
    fake = FakeSentry(token=TOKEN, org="acme")
    fake.start()
    for raw in events:
        fake.ingest(copy.deepcopy(raw), "backend")
    sqlite_store = SqliteStore(db_path=db_path)
    sentry_store = SentryStore(org="acme", project="backend", token=TOKEN, base_url=fake.url)
    yield ErrorService(sqlite_store), ErrorService(sentry_store), fake, db_path
    sqlite_store.close()
    sentry_store.close()
    fake.stop()


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _IDS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _same_issue_detail(local: dict[str, Any], remote: dict[str, Any]) -> None:
    local_tags = local["latest_event"].pop("tags")
    remote_tags = remote["latest_event"].pop("tags")
    # Sentry adds tags of its own (level, server_name...): every tag the SDK sent is there.
    assert local_tags.items() <= remote_tags.items()
    assert _strip(local) == _strip(remote)


def _pairs(local: ErrorService, remote: ErrorService) -> list[tuple[str, str]]:
    a = local.list_issues(IssueFilter(sort="first_seen"), 25, None).issues
    b = remote.list_issues(IssueFilter(sort="first_seen"), 25, None).issues
    assert [i.title for i in a] == [i.title for i in b]
    return [(x.id, y.id) for x, y in zip(a, b, strict=True)]


def test_get_issue_tells_the_same_story_from_sqlite_and_from_sentry(both: Any) -> None:
    local, remote, _fake, _db = both
    pairs = _pairs(local, remote)
    assert len(pairs) == 2
    for local_id, remote_id in pairs:
        a = local.get_issue(local_id, "full").model_dump()
        b = remote.get_issue(remote_id, "full").model_dump()
        assert a["traceback"] == b["traceback"] and "raise" in a["traceback"] + "crash"
        _same_issue_detail(a, b)
        a_short, b_short = local.get_issue(local_id), remote.get_issue(remote_id)
        assert a_short.traceback == b_short.traceback and a_short.latest_event is None
        assert _strip(a_short.model_dump()) == _strip(b_short.model_dump())
        assert ErrorService.issue_text(a_short) == ErrorService.issue_text(b_short)
    a = local.get_issue(pairs[1][0])
    assert a.issue.count == 2 and a.issue.user_count == 2 and a.issue.releases == ["shop@1.0.0"]


def test_events_pages_and_single_events_match(both: Any) -> None:
    local, remote, _fake, _db = both
    for local_id, remote_id in _pairs(local, remote):
        a = local.list_issue_events(local_id, 10, None).model_dump()
        b = remote.list_issue_events(remote_id, 10, None).model_dump()
        assert _strip(a) == _strip(b)
        assert [e["id"] for e in a["events"]] == [e["id"] for e in b["events"]]
        event_id = a["events"][0]["id"]
        ea = local.get_event(event_id).model_dump()
        eb = remote.get_event(event_id).model_dump()
        assert ea["event"]["tags"].items() <= eb["event"]["tags"].items()
        ea["event"].pop("tags")
        eb["event"].pop("tags")
        assert _strip(ea) == _strip(eb)


def test_issue_stats_match(both: Any) -> None:
    local, remote, _fake, _db = both
    for local_id, remote_id in _pairs(local, remote):
        for period, buckets in (("1h", 12), ("24h", 24), ("7d", 7)):
            a = local.get_issue_stats(local_id, period, buckets).model_dump()
            b = remote.get_issue_stats(remote_id, period, buckets).model_dump()
            assert _strip(a) == _strip(b)


def test_secrets_never_leave_either_backend(both: Any) -> None:
    local, remote, _fake, _db = both
    text = ""
    for service in (local, remote):
        for issue in service.list_issues(IssueFilter(), 25, None).issues:
            text += service.get_issue(issue.id).model_dump_json()
            text += service.get_issue(issue.id, "full").model_dump_json()
    assert "[Filtered]" in text
    assert "s3cret-parity-pw" not in text and "parity-secret-token-1234" not in text


async def _call_all(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    exe = shutil.which("nightfix-errors", path=str(Path(sys.executable).parent))
    assert exe, "nightfix-errors console script is installed in the venv"
    params = StdioServerParameters(command=exe, args=args, env={**os.environ, **env})
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        listed = await session.call_tool("list_issues", {"sort": "first_seen"})
        assert not listed.is_error, listed.content
        issues = listed.structured_content["issues"]
        detail = await session.call_tool(
            "get_issue", {"issue_id": issues[-1]["id"], "detail": "full"}
        )
        summary = await session.call_tool("get_issue", {"issue_id": issues[-1]["id"]})
        missing = await session.call_tool("get_issue", {"issue_id": "424242"})
        return {
            "annotations": {t.name: t.annotations for t in tools},
            "issues": issues,
            "detail": detail.structured_content,
            "summary": (summary.structured_content, [c.text for c in summary.content]),
            "missing": (
                missing.is_error,
                " ".join(getattr(c, "text", "") for c in missing.content),
            ),
        }


@pytest.mark.e2e
async def test_serve_backend_sentry_over_stdio_matches_serve_sqlite(both: Any) -> None:
    _local, _remote, fake, db_path = both
    remote = await _call_all(
        ["serve", "--backend", "sentry", "--org", "acme", "--project", "backend"],
        {"SENTRY_URL": fake.url, "SENTRY_AUTH_TOKEN": TOKEN},
    )
    local = await _call_all(["serve", "--db", str(db_path)], {})
    assert set(remote["annotations"]) == {
        "list_issues",
        "get_issue",
        "list_issue_events",
        "get_event",
        "get_issue_stats",
    }
    for name, ann in remote["annotations"].items():
        assert ann.read_only_hint is True, name
        assert ann.destructive_hint is False, name
        assert ann.open_world_hint is True, name  # it reaches out to Sentry
    for ann in local["annotations"].values():
        assert ann.read_only_hint is True
    assert [i["title"] for i in remote["issues"]] == [i["title"] for i in local["issues"]]
    assert remote["detail"]["latest_event"]["exceptions"][0]["frames"][-1]["context_line"] == (
        "    raise Exception('This is an example Python exception')"
    )
    remote["detail"]["latest_event"].pop("tags")
    local["detail"]["latest_event"].pop("tags")
    assert _strip(remote["detail"]) == _strip(local["detail"])
    assert _strip(remote["summary"][0]) == _strip(local["summary"][0])
    assert (
        remote["summary"][1] == local["summary"][1] and "raise Exception(" in local["summary"][1][0]
    )
    assert remote["missing"][0] and "424242" not in TOKEN
    assert TOKEN not in json.dumps(remote["detail"]) + remote["missing"][1]


def test_sqlite_store_file_is_untouched_by_sentry_mode(both: Any) -> None:
    """Sanity: the parity fixture's store really holds the events the comparison relies on."""
    _local, _remote, _fake, db_path = both
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 3


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SENTRY_AUTH_TOKEN": ""}, "SENTRY_AUTH_TOKEN"),
        ({"SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_URL": "http://sentry.example"}, "use https"),
    ],
)
def test_serve_backend_sentry_misconfigured_fails_with_one_clear_line(
    env: dict[str, str], words: str
) -> None:
    exe = shutil.which("nightfix-errors", path=str(Path(sys.executable).parent))
    assert exe
    done = subprocess.run(
        [exe, "serve", "--backend", "sentry", "--org", "acme", "--project", "backend"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert words in done.stderr and "Traceback" not in done.stderr
    assert TOKEN not in done.stderr + done.stdout
    assert done.stdout == ""  # stdout is the MCP protocol: nothing else goes there


async def test_every_tool_answers_through_the_sentry_backend_in_memory(both: Any) -> None:
    _local, _remote, fake, _db = both
    mcp = build_server(
        lambda: SentryStore(org="acme", project="backend", token=TOKEN, base_url=fake.url),
        open_world=True,
    )
    async with Client(mcp) as client:
        page = (await client.call_tool("list_issues", {"limit": 1})).structured_content
        assert len(page["issues"]) == 1 and page["next_cursor"]
        second = await client.call_tool("list_issues", {"limit": 1, "cursor": page["next_cursor"]})
        assert second.structured_content["issues"][0]["id"] != page["issues"][0]["id"]
        issue_id = next(i.id for i in fake.issues.values() if len(i.events) == 2)
        events = await client.call_tool("list_issue_events", {"issue_id": issue_id, "limit": 1})
        assert events.structured_content["next_cursor"]
        event_id = events.structured_content["events"][0]["id"]
        event = (await client.call_tool("get_event", {"event_id": event_id})).structured_content
        assert event["event"]["id"] == event_id and "Traceback" in event["traceback"]
        stats = await client.call_tool("get_issue_stats", {"issue_id": issue_id, "period": "1h"})
        assert stats.structured_content["total"] == 2
        detail = (await client.call_tool("get_issue", {"issue_id": issue_id})).structured_content
        assert detail["issue"]["count"] == 2 and detail["events_last_24h"] == 2
        with pytest.raises(ToolError, match="not a Sentry id"):
            await client.call_tool("get_issue", {"issue_id": "../../projects"})
        with pytest.raises(ToolError, match="next_cursor"):
            await client.call_tool("list_issues", {"cursor": "forged"})
        fake.fail_next(429, {"Retry-After": "30"})
        with pytest.raises(ToolError, match="retry in 30 s"):
            await client.call_tool("list_issues", {"status": "resolved"})
