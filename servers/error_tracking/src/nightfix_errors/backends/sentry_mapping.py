"""Sentry REST API payloads -> the stable output models of `nightfix_errors.models`.

Shapes follow Sentry's OpenAPI description: issues (`getOrganizationIssue`), events with
`entries` (`getOrganizationIssueEvent`; camelCase frames whose `context` is a list of
`[lineno, line]` pairs), slim events of `listOrganizationIssueEvents`. Everything read from
Sentry goes through the same `Scrubber` as the collector's ingest first (Sentry scrubs on its
side too, but an organization can turn that off), so a secret never reaches a model.
"""

from __future__ import annotations

import json
from typing import Any, cast, get_args

from nightfix_errors import text
from nightfix_errors.models import EventDetail, EventSummary, IssueSummary, Status, Substatus
from nightfix_errors.normalize import normalize_event, stored_fields
from nightfix_errors.scrub import Scrubber

_SCRUBBER = Scrubber()
_USER_KEYS = ("id", "username", "email", "ip_address")


def scrubbed(payload: Any) -> Any:
    """`payload` with sensitive values replaced, as the collector does at ingest."""
    return _SCRUBBER.scrub(payload)


def iso_utc(value: Any) -> str:
    """Sentry's `2020-06-17T22:26:56.098086Z` (or epoch seconds) in the store's own form."""
    if isinstance(value, int | float):
        return text.iso_utc(float(value))
    try:
        return text.iso_utc(text.parse_iso(str(value or "")))
    except ValueError:
        return str(value or "")


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


def tag_values(tag: Any) -> list[str]:
    """The values of one `getOrganizationIssueTag` answer (or an issue's inline tag entry)."""
    if not isinstance(tag, dict):
        return []
    values = {str(v["value"]) for v in tag.get("topValues") or [] if v and v.get("value")}
    return sorted(values)


def _inline_tag_values(issue: dict[str, Any], key: str) -> list[str]:
    for tag in issue.get("tags") or []:
        if isinstance(tag, dict) and tag.get("key") == key:
            return tag_values(tag)
    return []


def issue_summary(
    issue: dict[str, Any],
    transaction: str | None = None,
    environments: list[str] | None = None,
    releases: list[str] | None = None,
) -> IssueSummary:
    """An issue of `listOrganizationIssues` / `getOrganizationIssue` as an `IssueSummary`.

    `environments` / `releases` come from `getOrganizationIssueTag` when the caller read them;
    else from tag values inlined in the issue, else (releases) from first/last release.
    """
    issue = scrubbed(issue)
    status = issue.get("status")
    substatus = issue.get("substatus")
    releases = scrubbed(releases) if releases is not None else _inline_tag_values(issue, "release")
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
        environments=scrubbed(environments)
        if environments is not None
        else _inline_tag_values(issue, "environment"),
        releases=releases,
        transaction=transaction,
        fingerprint=str(issue.get("shortId") or issue["id"]),
        permalink=issue.get("permalink"),
    )


def _sdk_frame(frame: dict[str, Any]) -> dict[str, Any]:
    """A frame of the REST API (camelCase, `context` pairs) in the SDK's own form."""
    lineno = frame.get("lineNo")
    pre: list[str] = []
    post: list[str] = []
    line: str | None = None
    for pair in frame.get("context") or []:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            continue
        number, text = pair[0], "" if pair[1] is None else str(pair[1])
        if lineno is None or not isinstance(number, int):
            continue
        if number < lineno:
            pre.append(text)
        elif number == lineno:
            line = text
        else:
            post.append(text)
    return {
        "filename": frame.get("filename"),
        "abs_path": frame.get("absPath"),
        "module": frame.get("module"),
        "function": frame.get("function"),
        "lineno": lineno,
        "colno": frame.get("colNo"),
        "in_app": bool(frame.get("inApp")),
        "context_line": line,
        "pre_context": pre if line is not None else [],
        "post_context": post if line is not None else [],
        "vars": frame.get("vars") or {},
    }


def _entry(entries: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    for entry in entries:
        if entry.get("type") == kind and isinstance(entry.get("data"), dict):
            data: dict[str, Any] = entry["data"]
            return data
    return None


def _sdk_exception(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    data = _entry(entries, "exception")
    if data is None:
        return None
    values = []
    for value in data.get("values") or []:
        stacktrace = value.get("stacktrace") or {}
        values.append(
            {
                "type": value.get("type"),
                "value": value.get("value"),
                "module": value.get("module"),
                "mechanism": value.get("mechanism"),
                "stacktrace": {"frames": [_sdk_frame(f) for f in stacktrace.get("frames") or []]},
            }
        )
    return {"values": values}


def _sdk_request(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    data = _entry(entries, "request")
    if data is None:
        return None
    return {
        "method": data.get("method"),
        "url": data.get("url"),
        "query_string": data.get("query") or None,
        "headers": data.get("headers"),
        "data": data.get("data"),
    }


def to_sdk_event(payload: dict[str, Any]) -> dict[str, Any]:
    """A full REST API event turned back into the payload an SDK sends.

    The result then takes the collector's own path (`Scrubber` then `normalize_event`), so both
    backends cut, flatten and title an event the same way.
    """
    tags = _tags(payload)
    entries = [e for e in payload.get("entries") or [] if isinstance(e, dict)]
    release = payload.get("release")
    message = _entry(entries, "message")
    event: dict[str, Any] = {
        "event_id": payload.get("eventID") or payload.get("id"),
        "level": tags.get("level"),
        "platform": payload.get("platform"),
        "environment": tags.get("environment"),
        "release": release.get("version") if isinstance(release, dict) else tags.get("release"),
        "transaction": tags.get("transaction"),
        "user": payload.get("user"),
        "tags": tags,
        "contexts": payload.get("contexts") or {},
        "sdk": payload.get("sdk"),
    }
    if message and (message.get("formatted") or message.get("message")):
        event["logentry"] = {
            "formatted": message.get("formatted") or message.get("message"),
            "message": message.get("message") or message.get("formatted"),
        }
    if (exception := _sdk_exception(entries)) is not None:
        event["exception"] = exception
    if (request := _sdk_request(entries)) is not None:
        event["request"] = request
    if "exception" not in event and "logentry" not in event:
        event["message"] = payload.get("title") or payload.get("message") or "<no message>"
    return {k: v for k, v in event.items() if v is not None}


def event_detail(payload: dict[str, Any]) -> EventDetail:
    """A full event (`getOrganizationIssueEvent` / `getProjectEvent`) as an `EventDetail`."""
    normalized = normalize_event(_SCRUBBER.scrub(stored_fields(to_sdk_event(payload))))
    return EventDetail.model_validate(
        {
            **normalized.data,
            "id": str(payload.get("eventID") or payload.get("id") or normalized.event_id),
            "issue_id": str(payload.get("groupID") or ""),
            "timestamp": iso_utc(payload.get("dateCreated")),
        }
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
