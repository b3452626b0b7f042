"""Payload shapes of the fake Sentry: SDK events turned into what Sentry's REST API returns.

Shaped after Sentry's OpenAPI description (`getOrganizationIssueEvent` and friends): events
carry `entries` (exception, request, breadcrumbs, message) with camelCase frames whose `context`
is a list of `[lineno, line]` pairs; tags are `{key, value}` objects, with the ones Sentry
derives itself (level, environment, release, transaction, server_name) added.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def exceptions_of(raw: dict[str, Any]) -> list[dict[str, Any]]:
    exc = raw.get("exception") or raw.get("sentry.interfaces.Exception") or {}
    values = exc.get("values") if isinstance(exc, dict) else exc
    return list(values or [])


def _frames(exc: dict[str, Any]) -> list[dict[str, Any]]:
    return list((exc.get("stacktrace") or {}).get("frames") or [])


def grouping_hash(raw: dict[str, Any]) -> str:
    fp = raw.get("fingerprint")
    if fp and fp != ["{{ default }}"]:
        parts = [str(p) for p in fp]
    else:
        parts = []
        for exc in exceptions_of(raw):
            parts.append(str(exc.get("type")))
            for fr in _frames(exc):
                if fr.get("in_app"):
                    parts.append(f"{fr.get('module') or fr.get('filename')}:{fr.get('function')}")
        if not parts:
            parts = [str(raw.get("message") or raw.get("logentry") or "")]
    return hashlib.md5("\n".join(parts).encode()).hexdigest()


def title_and_metadata(raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    excs = exceptions_of(raw)
    if excs:
        last = excs[-1]
        meta: dict[str, Any] = {"type": last.get("type"), "value": last.get("value")}
        frames = _frames(last)
        if frames:
            meta["filename"] = frames[-1].get("filename")
            meta["function"] = frames[-1].get("function")
        title = f"{last.get('type')}: {last.get('value')}" if last.get("value") else last["type"]
        return title, meta
    message = raw.get("message") or (raw.get("logentry") or {}).get("formatted") or "<no message>"
    return str(message), {"title": str(message)}


def culprit_of(raw: dict[str, Any]) -> str:
    if raw.get("culprit"):
        return str(raw["culprit"])
    for exc in reversed(exceptions_of(raw)):
        for fr in reversed(_frames(exc)):
            if fr.get("in_app"):
                return f"{fr.get('module') or fr.get('filename')} in {fr.get('function')}"
    return raw.get("transaction") or ""


def _api_frame(fr: dict[str, Any]) -> dict[str, Any]:
    lineno = fr.get("lineno")
    context: list[list[Any]] = []
    if lineno is not None and fr.get("context_line") is not None:
        pre = fr.get("pre_context") or []
        post = fr.get("post_context") or []
        context = [[lineno - len(pre) + i, line] for i, line in enumerate(pre)]
        context.append([lineno, fr["context_line"]])
        context += [[lineno + 1 + i, line] for i, line in enumerate(post)]
    return {
        "filename": fr.get("filename"),
        "absPath": fr.get("abs_path"),
        "module": fr.get("module"),
        "package": fr.get("package"),
        "platform": fr.get("platform"),
        "instructionAddr": None,
        "symbolAddr": None,
        "function": fr.get("function"),
        "rawFunction": None,
        "symbol": None,
        "context": context,
        "lineNo": lineno,
        "colNo": fr.get("colno"),
        "inApp": bool(fr.get("in_app")),
        "trust": None,
        "errors": None,
        "lock": None,
        "sourceLink": None,
        "vars": fr.get("vars"),
    }


def _pairs(value: Any) -> Any:
    if isinstance(value, dict):
        return [[k, v] for k, v in value.items()]
    return value


def entries_of(raw: dict[str, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    excs = exceptions_of(raw)
    if excs:
        values = []
        for exc in excs:
            st = exc.get("stacktrace")
            values.append(
                {
                    "type": exc.get("type"),
                    "value": exc.get("value"),
                    "module": exc.get("module"),
                    "mechanism": exc.get("mechanism"),
                    "threadId": None,
                    "rawStacktrace": None,
                    "stacktrace": None
                    if st is None
                    else {
                        "frames": [_api_frame(f) for f in _frames(exc)],
                        "framesOmitted": None,
                        "registers": None,
                        "hasSystemFrames": any(not f.get("in_app") for f in _frames(exc)),
                    },
                }
            )
        entries.append(
            {
                "type": "exception",
                "data": {"values": values, "excOmitted": None, "hasSystemFrames": True},
            }
        )
    crumbs = (raw.get("breadcrumbs") or {}).get("values") if raw.get("breadcrumbs") else None
    if crumbs:
        entries.append({"type": "breadcrumbs", "data": {"values": crumbs}})
    req = raw.get("request")
    if req:
        entries.append(
            {
                "type": "request",
                "data": {
                    "url": req.get("url"),
                    "method": req.get("method"),
                    "query": _pairs(req.get("query_string") or []),
                    "fragment": None,
                    "data": req.get("data"),
                    "headers": _pairs(req.get("headers") or {}),
                    "cookies": _pairs(req.get("cookies") or {}),
                    "env": req.get("env"),
                    "inferredContentType": None,
                    "apiTarget": None,
                },
            }
        )
    message = raw.get("message") or (raw.get("logentry") or {}).get("formatted")
    if message:
        entries.append({"type": "message", "data": {"formatted": message}})
    return entries


def tags_of(raw: dict[str, Any]) -> list[dict[str, str]]:
    tags = raw.get("tags") or {}
    items = tags.items() if isinstance(tags, dict) else [tuple(t) for t in tags]
    out = {str(k): str(v) for k, v in items}
    out.setdefault("level", raw.get("level") or "error")
    for key in ("environment", "release", "transaction", "server_name"):
        if raw.get(key):
            out[key] = str(raw[key])
    return [{"key": k, "value": v} for k, v in sorted(out.items())]


@dataclass
class Issue:
    id: str
    project: str
    fingerprint: str
    title: str
    culprit: str
    level: str
    metadata: dict[str, Any]
    platform: str
    status: str = "unresolved"
    substatus: str | None = "new"
    events: list[dict[str, Any]] = field(default_factory=list)


def api_event(
    raw: dict[str, Any], issue: Issue, pid: str, event_id: str, received: datetime
) -> dict[str, Any]:
    ts = raw.get("timestamp")
    if isinstance(ts, int | float):
        created = datetime.fromtimestamp(ts, UTC)
    elif isinstance(ts, str):
        created = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    else:
        created = received
    release = raw.get("release")
    return {
        "id": event_id,
        "groupID": issue.id,
        "eventID": event_id,
        "projectID": pid,
        "message": raw.get("message") or "",
        "title": issue.title,
        "location": issue.metadata.get("filename"),
        "culprit": culprit_of(raw),
        "user": raw.get("user"),
        "tags": tags_of(raw),
        "platform": raw.get("platform") or "other",
        "dateReceived": iso(received),
        "dateCreated": iso(created),
        "contexts": raw.get("contexts") or {},
        "size": len(json.dumps(raw)),
        "entries": entries_of(raw),
        "dist": raw.get("dist"),
        "sdk": raw.get("sdk"),
        "context": raw.get("extra") or {},
        "packages": raw.get("modules") or {},
        "type": "error" if exceptions_of(raw) else "default",
        "metadata": issue.metadata,
        "errors": [],
        "occurrence": None,
        "_meta": {},
        "crashFile": None,
        "fingerprints": [issue.fingerprint],
        "groupingConfig": {"id": "newstyle:2023-01-11", "enhancements": ""},
        "release": None if release is None else {"version": release, "id": 1},
        "userReport": None,
        "sdkUpdates": [],
        "resolvedWith": [],
        "nextEventID": None,
        "previousEventID": None,
        "_received": received,
        "_created": created,
    }


def substatus_of(issue: Issue) -> str | None:
    """Sentry keeps an unresolved issue `new` for its first 7 days, then `ongoing`."""
    first = min(e["_created"] for e in issue.events)
    if issue.substatus == "new" and first < datetime.now(UTC) - timedelta(days=7):
        return "ongoing"
    return issue.substatus if issue.status == "unresolved" else None


def issue_tags(issue: Issue) -> list[dict[str, Any]]:
    """Per tag key, as `getOrganizationIssueTag` answers: totals and every value's counts."""
    seen: dict[str, dict[str, list[datetime]]] = {}
    for e in issue.events:
        for t in e["tags"]:
            seen.setdefault(t["key"], {}).setdefault(t["value"], []).append(e["_created"])
    return [
        {
            "key": k,
            "name": k.title(),
            "uniqueValues": len(values),
            "totalValues": sum(len(times) for times in values.values()),
            "topValues": [
                {
                    "key": val,
                    "name": val,
                    "value": val,
                    "count": len(times),
                    "firstSeen": iso(min(times)),
                    "lastSeen": iso(max(times)),
                }
                for val, times in sorted(values.items())
            ],
        }
        for k, values in sorted(seen.items())
    ]
