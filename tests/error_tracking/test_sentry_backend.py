"""`SentryStore` against a local server that speaks Sentry's documented REST API."""

from __future__ import annotations

import copy
import json
import logging
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_sentry import FakeSentry

from nightfix_errors.backends import backend_class
from nightfix_errors.backends.sentry import SentryStore, next_cursor
from nightfix_errors.errors import (
    BackendError,
    ConfigError,
    InvalidArgumentError,
    InvalidCursorError,
    NotFoundError,
)
from nightfix_errors.models import IssueFilter
from nightfix_errors.text import parse_iso

# The steering repository's shared/ folder sits beside this checkout (locally and in CI).
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
SAMPLES = REFERENCE / "sentry-samples"
TOKEN = "sntrys_local_test_token_0123456789abcdef"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def leaky_event() -> dict[str, Any]:
    """A Python event with a password local and an Authorization header, as an SDK sends it
    when the Sentry organization has server-side scrubbing turned off."""
    event = copy.deepcopy(sample("python-modern.json"))
    event["exception"]["values"][0]["value"] = "card declined"
    frame = event["exception"]["values"][0]["stacktrace"]["frames"][-1]
    frame["vars"]["password"] = "'hunter2-correct-horse'"
    event["request"] = {
        "url": "https://shop.example/checkout",
        "method": "POST",
        "headers": {"Authorization": "Bearer abcdefghijklmnop1234", "Accept": "text/html"},
        "query_string": "step=2",
        "data": {"card": "4111 1111 1111 1111", "qty": "1"},
    }
    event["user"] = {"id": "42", "email": "ann@example.com"}
    event["release"] = "shop@1.2.3"
    event["transaction"] = "/checkout"
    event["fingerprint"] = ["checkout-leak"]
    return event


def at(event: dict[str, Any], when: datetime) -> dict[str, Any]:
    """`event` as the SDK would send it at `when` (its own `timestamp`)."""
    return {**event, "timestamp": when.timestamp()}


@pytest.fixture
def fake() -> Any:
    server = FakeSentry(token=TOKEN, org="acme")
    server.start()
    now = datetime.now(UTC)
    server.ingest(at(sample("python-modern.json"), now - timedelta(hours=3)), "backend")
    server.ingest(at(sample("python-modern.json"), now - timedelta(minutes=5)), "backend")
    server.ingest(at(sample("pii.json"), now - timedelta(hours=30)), "backend")
    server.ingest(at(sample("javascript.json"), now - timedelta(minutes=50)), "backend")
    server.ingest(at(leaky_event(), now - timedelta(minutes=1)), "backend")
    server.ingest(at(sample("pii.json"), now - timedelta(minutes=1)), "other-team")
    yield server
    server.stop()


@pytest.fixture
def store(fake: FakeSentry) -> Any:
    s = SentryStore(org="acme", project="backend", token=TOKEN, base_url=fake.url)
    yield s
    s.close()


def issue_id_of(fake: FakeSentry, title_start: str, project: str = "backend") -> str:
    return next(
        i.id
        for i in fake.issues.values()
        if i.title.startswith(title_start) and i.project == project
    )


def test_backend_map_resolves_sentry_to_this_class() -> None:
    assert backend_class("sentry") is SentryStore


def test_list_issues_returns_the_projects_issues_newest_first(store: SentryStore) -> None:
    page = store.list_issues(IssueFilter(), limit=25, cursor=None)
    assert [i.project for i in page.issues] == ["backend"] * 4
    last_seen = [i.last_seen for i in page.issues]
    assert last_seen == sorted(last_seen, reverse=True)
    top = next(i for i in page.issues if i.title.startswith("Exception: This is an example"))
    assert top.count == 2
    assert top.status == "unresolved" and top.substatus == "new"
    assert top.environments == [] and top.permalink and top.permalink.endswith(f"/{top.id}/")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", top.first_seen)
    assert page.next_cursor is None


def test_list_issues_sort_by_frequency_and_first_seen(store: SentryStore) -> None:
    freq = store.list_issues(IssueFilter(sort="freq"), limit=25, cursor=None).issues
    assert freq[0].count == max(i.count for i in freq) == 2
    first = store.list_issues(IssueFilter(sort="first_seen"), limit=25, cursor=None).issues
    assert first[-1].title.startswith("RuntimeError")  # pii.json, first seen 30 h ago


def test_list_issues_filters_status_level_since_and_project(
    fake: FakeSentry, store: SentryStore
) -> None:
    fake.issues[issue_id_of(fake, "RuntimeError")].status = "resolved"
    resolved = store.list_issues(IssueFilter(status="resolved"), limit=25, cursor=None)
    assert [i.title[:12] for i in resolved.issues] == ["RuntimeError"]
    unresolved = store.list_issues(IssueFilter(status="unresolved"), limit=25, cursor=None)
    assert len(unresolved.issues) == 3
    assert store.list_issues(IssueFilter(level="fatal"), limit=25, cursor=None).issues == []
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = store.list_issues(IssueFilter(since=since), limit=25, cursor=None).issues
    assert len(recent) == 3  # the 30-hour-old issue is left out
    other = store.list_issues(IssueFilter(project="other-team"), limit=25, cursor=None)
    assert other.issues == []  # this server is scoped to --project backend


def test_issues_listed_for_an_environment_say_they_were_seen_there(
    store: SentryStore,
) -> None:
    # listOrganizationIssues inlines no environments; a watcher filtering by environment
    # must not read that as "seen in none" (it refused every Sentry issue before)
    listed = store.list_issues(IssueFilter(environment="production"), limit=25, cursor=None)
    assert [i.title[:9] for i in listed.issues] == ["Exception"] * 2  # python-modern.json's
    assert all(i.environments == ["production"] for i in listed.issues)
    unfiltered = store.list_issues(IssueFilter(), limit=25, cursor=None).issues
    assert all(i.environments == [] for i in unfiltered)  # nothing claimed without the filter


def test_list_issues_paginates_with_sentry_link_cursors(store: SentryStore) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = store.list_issues(IssueFilter(), limit=1, cursor=cursor)
        seen += [i.id for i in page.issues]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 4


def test_a_forged_cursor_is_refused_before_any_request(
    fake: FakeSentry, store: SentryStore
) -> None:
    before = len(fake.requests)
    with pytest.raises(InvalidCursorError, match="next_cursor"):
        store.list_issues(IssueFilter(), limit=5, cursor="../../x")
    assert len(fake.requests) == before


def test_get_issue_fills_releases_environments_and_transaction(
    fake: FakeSentry, store: SentryStore
) -> None:
    issue = store.get_issue(issue_id_of(fake, "Exception: This is an example", "backend"))
    assert issue.environments == ["production"]
    leak = store.get_issue(issue_id_of(fake, "Exception: card declined"))
    assert leak.releases == ["shop@1.2.3"] and leak.transaction == "/checkout"


def test_latest_event_has_frames_with_source_context(fake: FakeSentry, store: SentryStore) -> None:
    event = store.get_latest_event(issue_id_of(fake, "Exception: This is an example"))
    assert event is not None
    (exc,) = event.exceptions
    assert exc.type == "Exception" and exc.mechanism == {"type": "excepthook", "handled": False}
    frame = exc.frames[-1]
    assert frame.function == "main" and frame.lineno == 26 and frame.in_app
    assert frame.context_line == "    raise Exception('This is an example Python exception')"
    assert frame.pre_context[-1] == "    list_var = [1, 2, 3]"
    assert frame.post_context == ["", "main()"]
    assert frame.vars["str_var"] == "'Hello, world!'"
    assert json.loads(frame.vars["list_var"]) == ["1", "2", "3"]
    assert event.environment == "production" and event.level == "error"
    assert event.contexts["runtime"]["name"] == "CPython"


def test_javascript_event_with_legacy_interface_maps_frames(
    fake: FakeSentry, store: SentryStore
) -> None:
    issue_id = next(i.id for i in fake.issues.values() if i.platform == "other")
    event = store.get_latest_event(issue_id)
    assert event is not None and event.exceptions
    names = [f.function for f in event.exceptions[-1].frames]
    assert "member" in names


def test_list_issue_events_paginates_newest_first(fake: FakeSentry, store: SentryStore) -> None:
    issue_id = issue_id_of(fake, "Exception: This is an example")
    first = store.list_issue_events(issue_id, limit=1, cursor=None)
    assert len(first.events) == 1 and first.next_cursor
    second = store.list_issue_events(issue_id, limit=1, cursor=first.next_cursor)
    assert len(second.events) == 1 and second.next_cursor is None
    assert first.events[0].timestamp > second.events[0].timestamp
    assert first.events[0].message == "Exception: This is an example Python exception"
    assert first.events[0].issue_id == issue_id


def test_get_event_by_id_and_unknown_ids(fake: FakeSentry, store: SentryStore) -> None:
    issue_id = issue_id_of(fake, "RuntimeError")
    event_id = store.list_issue_events(issue_id, limit=5, cursor=None).events[0].id
    event = store.get_event(event_id)
    assert event.id == event_id and event.issue_id == issue_id
    assert event.exceptions[0].frames[-1].function == "crash"
    with pytest.raises(NotFoundError, match="check the id"):
        store.get_event("0" * 32)
    with pytest.raises(NotFoundError):
        store.get_issue("999999")


def test_an_issue_of_another_project_is_not_served(fake: FakeSentry, store: SentryStore) -> None:
    with pytest.raises(NotFoundError, match="not in project 'backend'"):
        store.get_issue(issue_id_of(fake, "RuntimeError", "other-team"))


def test_issue_stats_count_the_events_in_each_bucket(fake: FakeSentry, store: SentryStore) -> None:
    issue_id = issue_id_of(fake, "Exception: This is an example")
    stats = store.get_issue_stats(issue_id, "24h", 24)
    assert stats.interval_seconds == 3600 and len(stats.buckets) == 24
    assert stats.total == 2 == sum(b.count for b in stats.buckets)
    for event in fake.issues[issue_id].events:  # 3 hours and 5 minutes ago
        moment = event["_created"].timestamp()
        (bucket,) = [
            b
            for b in stats.buckets
            if parse_iso(b.start) <= moment < parse_iso(b.start) + stats.interval_seconds
        ]
        assert bucket.count == 1
    short = store.get_issue_stats(issue_id, "1h", 6)
    assert short.total == 1 and short.interval_seconds == 600
    assert store.count_events_since(issue_id, time.time() - 86400) == 2


def test_path_traversal_in_an_issue_id_is_refused_before_any_request(
    fake: FakeSentry, store: SentryStore
) -> None:
    before = len(fake.requests)
    for bad in ("../../projects", "1/../2", "1?x=1", ""):
        with pytest.raises(InvalidArgumentError):
            store.get_issue(bad)
    with pytest.raises(InvalidArgumentError, match="32 hex"):
        store.get_event("../latest")
    assert len(fake.requests) == before


def test_secrets_in_sentry_data_are_scrubbed_on_the_way_out(
    fake: FakeSentry, store: SentryStore
) -> None:
    issue_id = issue_id_of(fake, "Exception: card declined")
    event = store.get_latest_event(issue_id)
    assert event is not None and event.request is not None
    dumped = event.model_dump_json()
    assert "hunter2" not in dumped and "abcdefghijklmnop1234" not in dumped
    assert "4111" not in dumped
    assert event.request.headers["Authorization"] == "[Filtered]"
    assert event.exceptions[0].frames[-1].vars["password"] == "[Filtered]"
    assert event.request.method == "POST" and event.request.query_string == "step=2"
    assert event.user == {"id": "42", "email": "ann@example.com"}


def test_plain_http_to_a_remote_host_is_refused_so_the_token_never_travels_in_clear() -> None:
    with pytest.raises(ConfigError, match="use https"):
        SentryStore(org="acme", project="backend", token=TOKEN, base_url="http://sentry.example")
    with pytest.raises(ConfigError, match="not an http"):
        SentryStore(org="acme", project="backend", token=TOKEN, base_url="file:///etc/passwd")
    SentryStore(org="acme", project="backend", token=TOKEN, base_url="https://sentry.io").close()


def test_missing_token_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigError, match="SENTRY_AUTH_TOKEN"):
        SentryStore(org="acme", project="backend", token="", base_url="https://sentry.io")


def test_wrong_token_gives_401_message_without_the_token(fake: FakeSentry) -> None:
    bad = SentryStore(org="acme", project="backend", token="wrong-token-xyz", base_url=fake.url)
    with pytest.raises(BackendError, match="401") as info:
        bad.list_issues(IssueFilter(), limit=5, cursor=None)
    assert "wrong-token-xyz" not in str(info.value)
    bad.close()


@pytest.mark.parametrize(
    ("status", "headers", "error", "words"),
    [
        (403, {}, BackendError, "event:read"),
        (404, {}, NotFoundError, "check the id"),
        (429, {"Retry-After": "17"}, BackendError, "retry in 17 s"),
        (500, {}, BackendError, "HTTP 500"),
        (503, {}, BackendError, "try again later"),
        (400, {}, InvalidArgumentError, "refused the query"),
    ],
)
def test_http_errors_become_clear_domain_errors(
    fake: FakeSentry,
    store: SentryStore,
    status: int,
    headers: dict[str, str],
    error: type[Exception],
    words: str,
) -> None:
    fake.fail_next(status, headers)
    with pytest.raises(error, match=re.escape(words)):
        store.list_issues(IssueFilter(), limit=5, cursor=None)
    assert store.list_issues(IssueFilter(), limit=5, cursor=None).issues  # next call works


def test_a_timeout_is_a_backend_error_not_a_hang() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("no answer", request=request)

    s = SentryStore(
        org="acme",
        project="backend",
        token=TOKEN,
        base_url="https://sentry.io",
        transport=httpx2.MockTransport(handler),
    )
    with pytest.raises(BackendError, match="did not answer in time"):
        s.get_issue("1")
    s.close()


def test_token_is_sent_as_bearer_and_never_logged(
    fake: FakeSentry, store: SentryStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store.list_issues(IssueFilter(), limit=5, cursor=None)
    issue_id = issue_id_of(fake, "RuntimeError")
    store.get_issue(issue_id)
    store.get_issue_stats(issue_id, "7d", 7)
    assert fake.requests and all(
        r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in fake.requests
    )
    assert caplog.records  # the backend does log its requests...
    assert TOKEN not in caplog.text  # ...but never the token


def test_next_cursor_reads_sentry_link_headers() -> None:
    link = (
        '<https://sentry.io/api/0/x/?cursor=0:0:1>; rel="previous"; results="false"; '
        'cursor="0:0:1", <https://sentry.io/api/0/x/?cursor=0:100:0>; rel="next"; '
        'results="true"; cursor="0:100:0"'
    )
    assert next_cursor(link) == "0:100:0"
    assert next_cursor(link.replace('results="true"', 'results="false"')) is None
    assert next_cursor(None) is None


# -- every request matches a documented operation -------------------------------------------


def _documented_operations() -> list[tuple[str, re.Pattern[str], set[str]]]:
    spec = json.loads((REFERENCE / "sentry-openapi-derefed.json").read_text())
    out = []
    for template, ops in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        for method, op in ops.items():
            if method in ("get", "put", "post", "delete", "patch"):
                params = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
                out.append((method.upper(), pattern, params))
    return out


def test_every_request_matches_a_documented_sentry_operation(
    fake: FakeSentry, store: SentryStore
) -> None:
    issue_id = issue_id_of(fake, "Exception: This is an example")
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = store.list_issues(
        IssueFilter(status="unresolved", level="error", environment="production", since=since),
        limit=1,
        cursor=None,
    )
    store.list_issues(IssueFilter(sort="freq"), limit=1, cursor=page.next_cursor)
    store.get_issue(issue_id)
    store.get_latest_event(issue_id)
    events = store.list_issue_events(issue_id, limit=1, cursor=None)
    store.list_issue_events(issue_id, limit=1, cursor=events.next_cursor)
    store.get_event(events.events[0].id)
    store.get_issue_stats(issue_id, "14d", 14)
    store.count_events_since(issue_id, time.time() - 3600)

    operations = _documented_operations()
    assert len(fake.requests) >= 9
    used_paths = set()
    for req in fake.requests:
        matches = [
            params
            for method, pattern, params in operations
            if method == req.method and pattern.match(req.path)
        ]
        assert matches, f"{req.method} {req.path} is not a documented Sentry operation"
        undocumented = set(req.query) - set().union(*matches)
        assert not undocumented, f"{req.path}: undocumented query params {undocumented}"
        assert req.method == "GET"  # read-only: nothing is ever changed in Sentry
        used_paths.add(re.sub(r"/\d+/|/[0-9a-f]{32}/", "/{id}/", req.path))
    assert len(used_paths) >= 6


def test_a_redirect_is_not_followed_so_the_token_stays_with_sentry(
    fake: FakeSentry, store: SentryStore
) -> None:
    thief = FakeSentry(token="nothing")
    thief.start()
    fake.fail_next(302, {"Location": f"{thief.url}/api/0/organizations/acme/issues/"})
    with pytest.raises(BackendError, match="HTTP 302"):
        store.list_issues(IssueFilter(), limit=5, cursor=None)
    thief.stop()
    assert thief.requests == []


def test_a_server_that_is_not_sentry_gives_a_clear_error(
    fake: FakeSentry, store: SentryStore
) -> None:
    fake.fail_next(200, {}, "<html>a login page</html>")
    with pytest.raises(BackendError, match="other than a list"):
        store.list_issues(IssueFilter(), limit=5, cursor=None)
    fake.fail_next(200, {}, "<html>a login page</html>")
    with pytest.raises(BackendError, match="non-JSON"):
        store.get_issue(issue_id_of(fake, "RuntimeError"))
