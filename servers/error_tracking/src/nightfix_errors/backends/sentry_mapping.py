"""Sentry REST API payloads -> the stable output models of `nightfix_errors.models`.

Shapes follow Sentry's OpenAPI description: issues (`getOrganizationIssue`), events with
`entries` (`getOrganizationIssueEvent`; camelCase frames whose `context` is a list of
`[lineno, line]` pairs), slim events of `listOrganizationIssueEvents`. Everything read from
Sentry goes through the same `Scrubber` as the collector's ingest first (Sentry scrubs on its
side too, but an organization can turn that off), so a secret never reaches a model.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast, get_args
from urllib.parse import urlencode

from nightfix_errors.models import (
    EventDetail,
    EventSummary,
    ExceptionInfo,
    Frame,
    IssueSummary,
    RequestSummary,
    Status,
    Substatus,
)
from nightfix_errors.scrub import Scrubber

_SCRUBBER = Scrubber()
_USER_KEYS = ("id", "username", "email", "ip_address", "name")


def scrubbed(payload: Any) -> Any:
    """`payload` with sensitive values replaced, as the collector does at ingest."""
    return _SCRUBBER.scrub(payload)


def iso_utc(value: Any) -> str:
    """Sentry's `2020-06-17T22:26:56.098086Z` (or epoch seconds) as `2020-06-17T22:26:56Z`."""
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        text = str(value or "").replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return str(value or "")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_text(value: Any) -> str:
    """A variable or context value as the string a model reads (JSON for structures)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _tags(payload: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in payload.get("tags") or []:
        if isinstance(tag, dict) and tag.get("key") is not None:
            out[str(tag["key"])] = as_text(tag.get("value"))
        elif isinstance(tag, list | tuple) and len(tag) == 2:
            out[str(tag[0])] = as_text(tag[1])
    return out


def _tag_values(issue: dict[str, Any], key: str) -> list[str]:
    for tag in issue.get("tags") or []:
        if isinstance(tag, dict) and tag.get("key") == key:
            return sorted({str(v.get("value")) for v in tag.get("topValues") or [] if v})
    return []


def issue_summary(issue: dict[str, Any], transaction: str | None = None) -> IssueSummary:
    """An issue of `listOrganizationIssues` / `getOrganizationIssue` as an `IssueSummary`."""
    issue = scrubbed(issue)
    status = issue.get("status")
    substatus = issue.get("substatus")
    releases = _tag_values(issue, "release")
    if not releases:
        versions = {
            str(r["version"])
            for r in (issue.get("firstRelease"), issue.get("lastRelease"))
            if isinstance(r, dict) and r.get("version")
        }
        releases = sorted(versions)
    return IssueSummary(
        id=str(issue["id"]),
        project=str((issue.get("project") or {}).get("slug") or ""),
        title=str(issue.get("title") or ""),
        culprit=issue.get("culprit"),
        level=str(issue.get("level") or "error"),
        status=cast(Status, status) if status in get_args(Status) else "unresolved",
        substatus=cast(Substatus, substatus) if substatus in get_args(Substatus) else None,
        count=int(issue.get("count") or 0),
        user_count=int(issue.get("userCount") or 0),
        first_seen=iso_utc(issue.get("firstSeen")),
        last_seen=iso_utc(issue.get("lastSeen")),
        environments=_tag_values(issue, "environment"),
        releases=releases,
        transaction=transaction,
        fingerprint=str(issue.get("shortId") or issue["id"]),
        permalink=issue.get("permalink"),
    )


def _frame(raw: dict[str, Any]) -> Frame:
    lineno = raw.get("lineNo")
    pre: list[str] = []
    post: list[str] = []
    line: str | None = None
    for pair in raw.get("context") or []:
        number, text = pair[0], str(pair[1] if pair[1] is not None else "")
        if lineno is None or number < lineno:
            pre.append(text)
        elif number == lineno:
            line = text
        else:
            post.append(text)
    variables = raw.get("vars") or {}
    return Frame(
        filename=raw.get("filename"),
        abs_path=raw.get("absPath"),
        module=raw.get("module"),
        function=raw.get("function"),
        lineno=lineno,
        colno=raw.get("colNo"),
        in_app=bool(raw.get("inApp")),
        context_line=line,
        pre_context=pre if line is not None else [],
        post_context=post if line is not None else [],
        vars={str(k): as_text(v) for k, v in variables.items()}
        if isinstance(variables, dict)
        else {},
    )


def _exceptions(entries: list[dict[str, Any]]) -> list[ExceptionInfo]:
    out: list[ExceptionInfo] = []
    for entry in entries:
        if entry.get("type") != "exception":
            continue
        for value in (entry.get("data") or {}).get("values") or []:
            stacktrace = value.get("stacktrace") or {}
            out.append(
                ExceptionInfo(
                    type=value.get("type"),
                    value=value.get("value"),
                    module=value.get("module"),
                    mechanism=value.get("mechanism"),
                    frames=[_frame(f) for f in stacktrace.get("frames") or []],
                )
            )
    return out


def _pairs_to_dict(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): as_text(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for pair in value or []:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            out[str(pair[0])] = as_text(pair[1])
    return out


def _request(entries: list[dict[str, Any]]) -> RequestSummary | None:
    for entry in entries:
        if entry.get("type") != "request":
            continue
        data = entry.get("data") or {}
        query = data.get("query")
        if isinstance(query, list):
            query = urlencode([tuple(p) for p in query if isinstance(p, list | tuple)])
        body = data.get("data")
        return RequestSummary(
            method=data.get("method"),
            url=data.get("url"),
            query_string=query or None,
            headers=_pairs_to_dict(data.get("headers")),
            data=None if body is None else as_text(body),
        )
    return None


def _message(payload: dict[str, Any], entries: list[dict[str, Any]]) -> str | None:
    for entry in entries:
        if entry.get("type") == "message":
            data = entry.get("data") or {}
            text = data.get("formatted") or data.get("message")
            if text:
                return str(text)
    return payload.get("message") or None


def user_dict(user: Any) -> dict[str, str] | None:
    if not isinstance(user, dict):
        return None
    out = {k: as_text(user[k]) for k in _USER_KEYS if user.get(k) not in (None, "")}
    return out or None


def _release(payload: dict[str, Any], tags: dict[str, str]) -> str | None:
    release = payload.get("release")
    if isinstance(release, dict) and release.get("version"):
        return str(release["version"])
    return tags.get("release")


def event_detail(payload: dict[str, Any]) -> EventDetail:
    """A full event (`getOrganizationIssueEvent` / `getProjectEvent`) as an `EventDetail`."""
    payload = scrubbed(payload)
    tags = _tags(payload)
    entries = [e for e in payload.get("entries") or [] if isinstance(e, dict)]
    contexts = payload.get("contexts") or {}
    return EventDetail(
        id=str(payload.get("eventID") or payload["id"]),
        issue_id=str(payload.get("groupID") or ""),
        timestamp=iso_utc(payload.get("dateCreated")),
        level=tags.get("level"),
        platform=payload.get("platform"),
        environment=tags.get("environment"),
        release=_release(payload, tags),
        transaction=tags.get("transaction"),
        message=_message(payload, entries),
        user=user_dict(payload.get("user")),
        tags=tags,
        exceptions=_exceptions(entries),
        request=_request(entries),
        contexts={
            str(name): _pairs_to_dict(ctx)
            for name, ctx in contexts.items()
            if isinstance(ctx, dict)
        },
    )


def user_label(user: Any) -> str | None:
    if not isinstance(user, dict):
        return None
    for key in _USER_KEYS:
        if user.get(key):
            return str(user[key])
    return None


def event_summary(payload: dict[str, Any], issue_id: str) -> EventSummary:
    """A slim event of `listOrganizationIssueEvents` as an `EventSummary`."""
    payload = scrubbed(payload)
    tags = _tags(payload)
    return EventSummary(
        id=str(payload.get("eventID") or payload["id"]),
        issue_id=str(payload.get("groupID") or issue_id),
        timestamp=iso_utc(payload.get("dateCreated")),
        level=tags.get("level"),
        environment=tags.get("environment"),
        release=tags.get("release"),
        transaction=tags.get("transaction"),
        message=payload.get("title") or payload.get("message") or None,
        user=user_label(payload.get("user")),
    )
