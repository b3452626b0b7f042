"""A local HTTP server that speaks the part of Sentry's REST API that `--backend sentry` reads.

Payloads are shaped after Sentry's own OpenAPI description
(`../shared/reference/sentry-openapi-derefed.json`, release 0.272.0): issues as
`listOrganizationIssues` / `getOrganizationIssue` return them, events with their `entries`
(camelCase frames, `context` as `[lineno, line]` pairs), cursor pagination through a `Link`
header written the way Sentry writes it, and `events-timeseries` for counts over time.

Events go in as the SDK sends them (`FakeSentry.ingest(raw_event)`), the way Sentry's own
ingest turns them into issues; every request is recorded so tests can check it against the
OpenAPI file. Failures (401, 403, 404, 429, 5xx) can be injected for the next request.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fake_sentry_shapes import (
    Issue,
    api_event,
    culprit_of,
    grouping_hash,
    iso,
    issue_tags,
    substatus_of,
    title_and_metadata,
)

ORG_ISSUES = re.compile(r"^/api/0/organizations/(?P<org>[^/]+)/issues/$")
ISSUE_TAG = re.compile(
    r"^/api/0/organizations/(?P<org>[^/]+)/issues/(?P<issue>[^/]+)/tags/(?P<key>[^/]+)/$"
)
ORG_ISSUE = re.compile(r"^/api/0/organizations/(?P<org>[^/]+)/issues/(?P<issue>[^/]+)/$")
ISSUE_EVENTS = re.compile(r"^/api/0/organizations/(?P<org>[^/]+)/issues/(?P<issue>[^/]+)/events/$")
ISSUE_EVENT = re.compile(
    r"^/api/0/organizations/(?P<org>[^/]+)/issues/(?P<issue>[^/]+)/events/(?P<event>[^/]+)/$"
)
PROJECT_EVENT = re.compile(
    r"^/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/events/(?P<event>[^/]+)/$"
)
TIMESERIES = re.compile(r"^/api/0/organizations/(?P<org>[^/]+)/events-timeseries/$")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FakeSentry:
    """In-memory Sentry: `ingest` SDK events, serve them over the REST API."""

    def __init__(self, token: str = "test-token", org: str = "acme") -> None:
        self.token = token
        self.org = org
        self.issues: dict[str, Issue] = {}
        self.requests: list[Recorded] = []
        self._next_failure: list[tuple[int, dict[str, str], str]] = []
        self._projects: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- data --------------------------------------------------------------------------
    def ingest(
        self, raw: dict[str, Any], project: str = "backend", received: datetime | None = None
    ) -> tuple[str, str]:
        received = received or datetime.now(UTC)
        pid = self._projects.setdefault(project, str(len(self._projects) + 1))
        fingerprint = grouping_hash(raw)
        with self._lock:
            issue = next(
                (
                    i
                    for i in self.issues.values()
                    if (i.project, i.fingerprint) == (project, fingerprint)
                ),
                None,
            )
            title, metadata = title_and_metadata(raw)
            if issue is None:
                issue = Issue(
                    id=str(1000 + len(self.issues) + 1),
                    project=project,
                    fingerprint=fingerprint,
                    title=title,
                    culprit=culprit_of(raw),
                    level=raw.get("level") or "error",
                    metadata=metadata,
                    platform=raw.get("platform") or "other",
                )
                self.issues[issue.id] = issue
            else:
                if issue.status == "resolved":
                    issue.status, issue.substatus = "unresolved", "regressed"
                issue.title, issue.metadata, issue.culprit = title, metadata, culprit_of(raw)
            event_id = str(raw.get("event_id") or uuid.uuid4().hex).replace("-", "")
            event = api_event(raw, issue, pid, event_id, received)
            issue.events.append(event)
        return issue.id, event_id

    def fail_next(self, status: int, headers: dict[str, str] | None = None, body: str = "") -> None:
        self._next_failure.append((status, headers or {}, body or json.dumps({"detail": "x"})))

    # -- API shapes --------------------------------------------------------------------
    def _project_obj(self, slug: str) -> dict[str, Any]:
        return {"id": self._projects[slug], "name": slug, "slug": slug, "platform": "python"}

    def issue_json(self, issue: Issue, detail: bool = False) -> dict[str, Any]:
        evs = issue.events
        users = {json.dumps(e["user"], sort_keys=True) for e in evs if e.get("user")}
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        hours = [now - timedelta(hours=23 - i) for i in range(24)]
        stats24 = [
            [int(h.timestamp()), sum(1 for e in evs if h <= e["_created"] < h + timedelta(hours=1))]
            for h in hours
        ]
        body: dict[str, Any] = {
            "id": issue.id,
            "shareId": None,
            "shortId": f"{issue.project.upper()}-{issue.id}",
            "title": issue.title,
            "culprit": issue.culprit,
            "permalink": f"https://sentry.example/organizations/{self.org}/issues/{issue.id}/",
            "logger": None,
            "level": issue.level,
            "status": issue.status,
            "statusDetails": {},
            "substatus": substatus_of(issue),
            "isPublic": False,
            "platform": issue.platform,
            "priority": "high",
            "priorityLockedAt": None,
            "project": self._project_obj(issue.project),
            "type": "error",
            "issueType": "error",
            "issueCategory": "error",
            "metadata": issue.metadata,
            "numComments": 0,
            "assignedTo": None,
            "isBookmarked": False,
            "isSubscribed": False,
            "subscriptionDetails": None,
            "hasSeen": False,
            "annotations": [],
            "isUnhandled": False,
            "count": str(len(evs)),
            "userCount": len(users),
            "firstSeen": iso(min(e["_created"] for e in evs)),
            "lastSeen": iso(max(e["_created"] for e in evs)),
            "stats": {"24h": stats24},
        }
        if detail:
            releases = sorted({e["release"]["version"] for e in evs if e.get("release")})
            body.update(
                {
                    "activity": [],
                    "seenBy": [],
                    "userReportCount": 0,
                    "participants": [],
                    "firstRelease": {"version": releases[0]} if releases else None,
                    "lastRelease": {"version": releases[-1]} if releases else None,
                    # As documented (getOrganizationIssue example): no top values inline.
                    "tags": [
                        {k: t[k] for k in ("key", "name", "totalValues")} for t in issue_tags(issue)
                    ],
                }
            )
        return body

    @staticmethod
    def public_event(event: dict[str, Any], full: bool = True) -> dict[str, Any]:
        out = {k: v for k, v in event.items() if not k.startswith("_")}
        if not full:
            keep = ("id", "groupID", "eventID", "projectID", "message", "title", "location")
            slim = {k: out[k] for k in keep}
            slim.update(
                {
                    "event.type": out["type"],
                    "culprit": out["culprit"],
                    "user": out["user"],
                    "tags": out["tags"],
                    "platform": out["platform"],
                    "dateCreated": out["dateCreated"],
                    "crashFile": None,
                    "metadata": out["metadata"],
                }
            )
            return slim
        return out

    # -- server ------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

            def do_PUT(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def do_DELETE(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        self.requests.append(Recorded(h.command, parts.path, query, dict(h.headers.items())))
        if self._next_failure:
            status, headers, body = self._next_failure.pop(0)
            return self._send(h, status, body, headers)
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(h, 401, {"detail": "Invalid token"})
        if h.command != "GET":
            return self._send(h, 405, {"detail": f'Method "{h.command}" not allowed.'})
        try:
            status, payload, headers = self._route(parts.path, query)
        except LookupError:
            return self._send(h, 404, {"detail": "The requested resource does not exist"})
        except ValueError as exc:
            return self._send(h, 400, {"detail": str(exc)})
        self._send(h, status, payload, headers)

    def _route(self, path: str, q: dict[str, list[str]]) -> tuple[int, Any, dict[str, str] | None]:
        if m := ORG_ISSUES.match(path):
            self._org(m["org"])
            return self._list_issues(path, q)
        if m := ISSUE_EVENT.match(path):
            self._org(m["org"])
            issue = self._issue(m["issue"])
            return 200, self.public_event(self._pick_event(issue, m["event"])), None
        if m := ISSUE_EVENTS.match(path):
            self._org(m["org"])
            issue = self._issue(m["issue"])
            events = sorted(issue.events, key=lambda e: e["_created"], reverse=True)
            full = q.get("full", ["false"])[0] in ("true", "1")
            limit = min(int(q.get("per_page", ["100"])[0]), 100)
            page, headers = self._paginate(path, q, events, limit)
            return 200, [self.public_event(e, full) for e in page], headers
        if m := ISSUE_TAG.match(path):
            self._org(m["org"])
            tags = {t["key"]: t for t in issue_tags(self._issue(m["issue"]))}
            if m["key"] not in tags:
                raise LookupError(m["key"])
            return 200, tags[m["key"]], None
        if m := ORG_ISSUE.match(path):
            self._org(m["org"])
            return 200, self.issue_json(self._issue(m["issue"]), detail=True), None
        if m := PROJECT_EVENT.match(path):
            self._org(m["org"])
            for issue in self.issues.values():
                if issue.project != m["project"]:
                    continue
                for e in issue.events:
                    if e["eventID"] == m["event"]:
                        return 200, self.public_event(e), None
            raise LookupError(m["event"])
        if m := TIMESERIES.match(path):
            self._org(m["org"])
            return 200, self._timeseries(q), None
        raise LookupError(path)

    def _org(self, org: str) -> None:
        if org != self.org:
            raise LookupError(org)

    def _issue(self, issue_id: str) -> Issue:
        if issue_id not in self.issues:
            raise LookupError(issue_id)
        return self.issues[issue_id]

    @staticmethod
    def _pick_event(issue: Issue, which: str) -> dict[str, Any]:
        by_time = sorted(issue.events, key=lambda e: e["_created"])
        if which == "latest":
            return by_time[-1]
        if which in ("oldest", "recommended"):
            return by_time[0]
        for e in issue.events:
            if e["eventID"] == which:
                return e
        raise LookupError(which)

    def _list_issues(
        self, path: str, q: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str] | None]:
        query = q.get("query", ["is:unresolved"])[0]
        issues = list(self.issues.values())
        for token in query.split():
            key, _, value = token.partition(":")
            if key == "is":
                issues = [i for i in issues if i.status == value]
            elif key == "level":
                issues = [i for i in issues if i.level == value]
            else:
                raise ValueError(f"unsupported search term in fake: {token}")
        if projects := q.get("project"):
            issues = [
                i for i in issues if i.project in projects or self._projects[i.project] in projects
            ]
        if envs := q.get("environment"):
            issues = [
                i
                for i in issues
                if any(
                    t["key"] == "environment" and t["value"] in envs
                    for e in i.events
                    for t in e["tags"]
                )
            ]
        if start := q.get("start"):
            since = datetime.fromisoformat(start[0].replace("Z", "+00:00"))
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            issues = [i for i in issues if max(e["_created"] for e in i.events) >= since]
        sort = q.get("sort", ["date"])[0]
        keys = {
            "date": lambda i: max(e["_created"] for e in i.events),
            "new": lambda i: min(e["_created"] for e in i.events),
            "freq": lambda i: len(i.events),
        }
        if sort not in keys:
            raise ValueError(f"unsupported sort in fake: {sort}")
        issues.sort(key=lambda i: (keys[sort](i), int(i.id)), reverse=True)
        limit = min(int(q.get("limit", ["100"])[0]), 100)
        page, headers = self._paginate(path, q, issues, limit)
        return 200, [self.issue_json(i) for i in page], headers

    def _paginate(
        self, path: str, q: dict[str, list[str]], items: list[Any], limit: int
    ) -> tuple[list[Any], dict[str, str]]:
        cursor = q.get("cursor", ["0:0:0"])[0]
        try:
            _value, offset_s, _prev = cursor.split(":")
            offset = int(offset_s)
        except ValueError as exc:
            raise ValueError(f"Invalid cursor parameter: {cursor}") from exc
        page = items[offset : offset + limit]
        base = f"{self.url}{path}"

        def link(off: int, rel: str, results: bool) -> str:
            params = {k: v for k, v in q.items() if k != "cursor"}
            c = f"0:{max(off, 0)}:{int(rel == 'previous')}"
            qs = urlencode({**params, "cursor": c}, doseq=True)
            return f'<{base}?{qs}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{c}"'

        prev_link = link(offset - limit, "previous", offset > 0)
        next_link = link(offset + limit, "next", offset + limit < len(items))
        return page, {"Link": f"{prev_link}, {next_link}"}

    def _timeseries(self, q: dict[str, list[str]]) -> dict[str, Any]:
        if q.get("dataset", [""])[0] != "errors":
            raise ValueError("dataset must be errors in this fake")
        m = re.fullmatch(r"issue\.id:(\d+)", q.get("query", [""])[0])
        if not m:
            raise ValueError("query must be issue.id:<id> in this fake")
        issue = self._issue(m[1])
        interval = int(q.get("interval", ["3600"])[0])
        if "start" in q and "end" in q:
            start = datetime.fromisoformat(q["start"][0]).replace(tzinfo=UTC).timestamp()
            end = datetime.fromisoformat(q["end"][0]).replace(tzinfo=UTC).timestamp()
        else:
            period = q.get("statsPeriod", ["24h"])[0]
            units = {"h": 3600, "d": 86400, "m": 60, "s": 1, "w": 604800}
            end = datetime.now(UTC).timestamp()
            start = end - int(period[:-1]) * units[period[-1]]
        start = start // interval * interval
        n = max(math.ceil((end - start) / interval), 1)
        values = []
        for i in range(n):
            lo = start + i * interval
            count = sum(1 for e in issue.events if lo <= e["_created"].timestamp() < lo + interval)
            values.append({"timestamp": lo * 1000, "value": count, "incomplete": i == n - 1})
        return {
            "timeSeries": [
                {
                    "values": values,
                    "yAxis": "count()",
                    "groupBy": [],
                    "meta": {"valueUnit": None, "valueType": "integer", "interval": interval},
                }
            ],
            "meta": {"dataset": "errors", "start": start * 1000, "end": end * 1000},
        }
