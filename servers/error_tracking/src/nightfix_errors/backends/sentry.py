"""`--backend sentry`: the same tools, read from a real Sentry over its REST API.

Only documented, read-only operations are sent (all `GET`, each one named below after its
OpenAPI `operationId`). The auth token travels in the `Authorization` header only: it is never
logged, never put in an error message, and never sent over plain HTTP to a host other than this
machine (`check_base_url`). Ids go into URL paths only after `check_sentry_id`, so an id like
`../../projects` cannot reach another endpoint. Pagination follows Sentry's `Link` header;
our cursor is Sentry's own cursor string, checked for shape before it is sent.
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

from nightfix_errors.backends import sentry_mapping as mapping
from nightfix_errors.errors import (
    BackendError,
    ConfigError,
    InvalidArgumentError,
    InvalidCursorError,
    NotFoundError,
)
from nightfix_errors.models import (
    PERIOD_SECONDS,
    EventDetail,
    EventPage,
    IssueFilter,
    IssuePage,
    IssueStats,
    IssueSummary,
    Period,
    StatsBucket,
)
from nightfix_errors.text import parse_iso

log = logging.getLogger(__name__)

DEFAULT_URL = "https://sentry.io"
TIMEOUT = httpx2.Timeout(15.0, connect=5.0)
CACHE_SECONDS = 5.0
CACHE_ENTRIES = 64
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_EVENT_ID_RE = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F-]{36}|latest|oldest|recommended")
_CURSOR_RE = re.compile(r"-?\d+(\.\d+)?:\d{1,9}:[01]")
_LINK_RE = re.compile(r'<([^>]*)>((?:\s*;\s*[a-z]+="[^"]*")*)')
_PARAM_RE = re.compile(r'([a-z]+)="([^"]*)"')
_SORTS = {"recent": "date", "freq": "freq", "first_seen": "new"}


def check_base_url(url: str) -> str:
    """Refuse a Sentry URL that would send the token in clear text (http to a remote host)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"SENTRY_URL {url!r} is not an http(s) URL; e.g. {DEFAULT_URL}")
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        raise ConfigError(
            f"SENTRY_URL {url!r} uses plain http to a remote host, which would expose the token;"
            " use https"
        )
    return url.rstrip("/")


def check_sentry_id(value: str, what: str) -> str:
    """An organization/project/issue id safe to put in a URL path, or `InvalidArgumentError`."""
    if not _ID_RE.fullmatch(value):
        raise InvalidArgumentError(
            f"{what} {value[:60]!r} is not a Sentry id (letters, digits, '-' and '_' only)"
        )
    return value


def _check_event_id(value: str) -> str:
    if not _EVENT_ID_RE.fullmatch(value):
        raise InvalidArgumentError(
            f"event id {value[:60]!r} is not a Sentry event id (32 hex digits); "
            "take one from list_issue_events"
        )
    return value.replace("-", "").lower() if len(value) == 36 else value


def _check_cursor(cursor: str | None) -> str | None:
    if cursor is not None and not _CURSOR_RE.fullmatch(cursor):
        raise InvalidCursorError(
            f"cursor {cursor[:60]!r} was not produced by this server; "
            "pass the next_cursor of the previous page, or none for the first page"
        )
    return cursor


def next_cursor(link_header: str | None) -> str | None:
    """The `next` cursor of a Sentry `Link` header, when Sentry says more results exist."""
    for _url, params in _LINK_RE.findall(link_header or ""):
        attrs = dict(_PARAM_RE.findall(params))
        if attrs.get("rel") == "next" and attrs.get("results") == "true":
            return attrs.get("cursor")
    return None


class SentryStore:
    """`ErrorStore` over Sentry's REST API, scoped to one organization and one project."""

    def __init__(
        self,
        org: str,
        project: str,
        token: str,
        base_url: str = DEFAULT_URL,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        if not token:
            raise ConfigError(
                "no Sentry auth token: set SENTRY_AUTH_TOKEN to a token with the "
                "event:read, project:read and org:read scopes"
            )
        self.org = check_sentry_id(org, "organization")
        self.project = check_sentry_id(project, "project")
        self.base_url = check_base_url(base_url)
        self._http = httpx2.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=TIMEOUT,
            follow_redirects=False,
            transport=transport,
        )
        self._cache: dict[str, tuple[float, Any]] = {}

    def close(self) -> None:
        self._http.close()

    # -- HTTP --------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx2.Response:
        started = time.monotonic()
        try:
            response = self._http.get(path, params=params)
        except httpx2.TimeoutException:
            raise BackendError(
                f"Sentry at {self.base_url} did not answer in time; try again later"
            ) from None
        except httpx2.HTTPError as exc:
            raise BackendError(
                f"cannot reach Sentry at {self.base_url} ({type(exc).__name__}); "
                "check SENTRY_URL and the network"
            ) from None
        log.debug(
            "sentry GET %s -> %s in %.0f ms",
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        self._raise_for_status(response, path)
        return response

    def _raise_for_status(self, response: httpx2.Response, path: str) -> None:
        status = response.status_code
        if status < 300:
            return
        if status == 401:
            raise BackendError(
                "Sentry refused the auth token (401); set SENTRY_AUTH_TOKEN to a valid token"
            )
        if status == 403:
            raise BackendError(
                f"the Sentry token may not read organization {self.org!r} (403); it needs the "
                "event:read, project:read and org:read scopes"
            )
        if status == 404:
            raise NotFoundError(
                f"Sentry has no such resource in organization {self.org!r} ({path}); "
                "check the id (list_issues shows valid ones)"
            )
        if status == 429:
            wait = response.headers.get("Retry-After", "a few")
            raise BackendError(f"Sentry is rate limiting this token (429); retry in {wait} s")
        if status == 400:
            detail = _detail(response)
            if "cursor" in detail.lower():
                raise InvalidCursorError(f"Sentry refused the cursor: {detail}")
            raise InvalidArgumentError(f"Sentry refused the query (400): {detail}")
        raise BackendError(f"Sentry answered HTTP {status} for {path}; try again later")

    def _json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """A JSON body, reused for `CACHE_SECONDS` (one tool call reads an issue twice)."""
        key = f"{path}?{sorted((params or {}).items())}"
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        response = self._get(path, params)
        try:
            body = response.json()
        except ValueError:
            raise BackendError(f"Sentry answered non-JSON for {path}") from None
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.clear()
        self._cache[key] = (time.monotonic(), body)
        return body

    def _org_path(self, *parts: str) -> str:
        tail = "".join(f"{quote(p, safe='')}/" for p in parts)
        return f"/api/0/organizations/{quote(self.org, safe='')}/{tail}"

    # -- ErrorStore --------------------------------------------------------------------
    def list_issues(self, filters: IssueFilter, limit: int, cursor: str | None) -> IssuePage:
        """`listOrganizationIssues`, restricted to the configured project."""
        if filters.project not in (None, self.project):
            return IssuePage(issues=[], next_cursor=None)
        terms = []
        if filters.status:
            terms.append(f"is:{filters.status}")
        if filters.level:
            terms.append(f"level:{filters.level}")
        params: dict[str, Any] = {
            "project": self.project,
            "query": " ".join(terms),
            "sort": _SORTS[filters.sort],
            "limit": limit,
        }
        if filters.environment:
            params["environment"] = filters.environment
        if filters.since:
            params["start"] = _parse_since(filters.since)
            params["end"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        else:
            params["statsPeriod"] = "90d"
        if _check_cursor(cursor):
            params["cursor"] = cursor
        response = self._get(self._org_path("issues"), params)
        issues = [mapping.issue_summary(i) for i in _json_list(response)]
        if filters.environment:
            issues = [_seen_in(i, filters.environment) for i in issues]
        return IssuePage(issues=issues, next_cursor=next_cursor(response.headers.get("Link")))

    def _issue_payload(self, issue_id: str) -> dict[str, Any]:
        payload: dict[str, Any] = self._json(
            self._org_path("issues", check_sentry_id(issue_id, "issue id"))
        )
        slug = (payload.get("project") or {}).get("slug")
        if slug != self.project:
            raise NotFoundError(
                f"issue {issue_id} is not in project {self.project!r}; "
                "list_issues shows the issues this server serves"
            )
        return payload

    def get_issue(self, issue_id: str) -> IssueSummary:
        """`getOrganizationIssue`, + `getOrganizationIssueTag` for environments and releases,
        + the latest event's transaction."""
        payload = self._issue_payload(issue_id)
        latest = self._latest_event_payload(issue_id)
        transaction = mapping.event_detail(latest).transaction if latest else None
        return mapping.issue_summary(
            payload,
            transaction=transaction,
            environments=self._tag_values(issue_id, "environment"),
            releases=self._tag_values(issue_id, "release"),
        )

    def _tag_values(self, issue_id: str, key: str) -> list[str]:
        path = self._org_path("issues", check_sentry_id(issue_id, "issue id"), "tags", key)
        try:
            return mapping.tag_values(self._json(path))
        except NotFoundError:  # no event of this issue carries the tag
            return []

    def _latest_event_payload(self, issue_id: str) -> dict[str, Any] | None:
        path = self._org_path("issues", check_sentry_id(issue_id, "issue id"), "events", "latest")
        try:
            payload: dict[str, Any] = self._json(path)
        except NotFoundError:
            return None
        return payload

    def get_latest_event(self, issue_id: str) -> EventDetail | None:
        """`getOrganizationIssueEvent` with `event_id=latest`."""
        self._issue_payload(issue_id)
        latest = self._latest_event_payload(issue_id)
        return mapping.event_detail(latest) if latest else None

    def count_events_since(self, issue_id: str, since_epoch: float) -> int | None:
        """Sum of `listOrganizationEventsTimeseries` for the issue since `since_epoch`.

        Sentry aligns buckets to their interval; one-minute buckets (hourly past a day) keep the
        sum within a minute (an hour) of `since_epoch`.
        """
        end = math.ceil(time.time())
        interval = 60 if end - since_epoch <= 86400 + 60 else 3600
        series = self._timeseries(issue_id, since_epoch, end, interval)
        return sum(int(v.get("value") or 0) for v in series if v["timestamp"] >= since_epoch - 1)

    def list_issue_events(self, issue_id: str, limit: int, cursor: str | None) -> EventPage:
        """`listOrganizationIssueEvents`, newest first."""
        self._issue_payload(issue_id)
        params: dict[str, Any] = {"per_page": limit}
        if _check_cursor(cursor):
            params["cursor"] = cursor
        path = self._org_path("issues", check_sentry_id(issue_id, "issue id"), "events")
        response = self._get(path, params)
        events = [mapping.event_summary(e, issue_id) for e in _json_list(response)]
        return EventPage(events=events, next_cursor=next_cursor(response.headers.get("Link")))

    def get_event(self, event_id: str) -> EventDetail:
        """`getProjectEvent` in the configured project."""
        event_id = _check_event_id(event_id)
        path = (
            f"/api/0/projects/{quote(self.org, safe='')}/{quote(self.project, safe='')}"
            f"/events/{quote(event_id, safe='')}/"
        )
        return mapping.event_detail(self._json(path))

    def get_issue_stats(self, issue_id: str, period: Period, buckets: int) -> IssueStats:
        """`listOrganizationEventsTimeseries` (errors dataset), cut like the sqlite store's."""
        self._issue_payload(issue_id)
        interval = math.ceil(PERIOD_SECONDS[period] / buckets)
        end = math.ceil(time.time() / interval) * interval
        start = end - buckets * interval
        counts = [0] * buckets
        for point in self._timeseries(issue_id, start, end, interval):
            index = int((point["timestamp"] - start) // interval)
            if 0 <= index < buckets:
                counts[index] += int(point.get("value") or 0)
        return IssueStats(
            issue_id=issue_id,
            period=period,
            interval_seconds=interval,
            buckets=[
                StatsBucket(start=mapping.iso_utc(start + i * interval), count=c)
                for i, c in enumerate(counts)
            ],
            total=sum(counts),
        )

    def _timeseries(
        self, issue_id: str, start: float, end: float, interval: int
    ) -> list[dict[str, Any]]:
        """Points `{timestamp (epoch s), value}` of the issue's event count in [start, end)."""
        body = self._json(
            self._org_path("events-timeseries"),
            {
                "dataset": "errors",
                "project": self.project,
                "query": f"issue.id:{check_sentry_id(issue_id, 'issue id')}",
                "start": _iso_seconds(start),
                "end": _iso_seconds(end),
                "interval": interval,
                "yAxis": "count()",
            },
        )
        points: list[dict[str, Any]] = []
        for series in body.get("timeSeries") or []:
            for value in series.get("values") or []:
                points.append({"timestamp": value["timestamp"] / 1000, "value": value["value"]})
        return points


def _iso_seconds(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_since(since: str) -> str:
    """`since` as Sentry's `start`; parsed and refused exactly as the SQLite backend does."""
    try:
        return _iso_seconds(parse_iso(since))
    except ValueError as exc:
        raise InvalidArgumentError(f"since: {exc}") from None


def _json_list(response: httpx2.Response) -> list[dict[str, Any]]:
    """The JSON array of objects a list endpoint answers, or a clear `BackendError`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, list) or not all(isinstance(x, dict) for x in body):
        raise BackendError(
            f"Sentry answered something other than a list for {response.url.path}; "
            "check that SENTRY_URL points at a Sentry server"
        )
    return body


def _detail(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:200]
    return str(body)[:200]


def _seen_in(issue: IssueSummary, environment: str) -> IssueSummary:
    """An issue Sentry listed for ``environment=NAME`` has events there: say so.

    `listOrganizationIssues` inlines no environments, so without this every listed issue
    would show none, and a caller filtering by environment (the watcher's trigger rules) would
    refuse each one as "seen in no environment".
    """
    if environment in issue.environments:
        return issue
    return issue.model_copy(update={"environments": [*issue.environments, environment]})
