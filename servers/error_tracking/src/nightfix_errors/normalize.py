"""Turn a raw (already scrubbed) Sentry event into the stored shape, and group it.

The stored shape is `models.EventDetail` without `id`/`issue_id`: exceptions with frames,
scrubbed user and request, tags and contexts flattened to strings. Legacy interface names
(`sentry.interfaces.Exception`, ...) are accepted like Sentry does. Long values are cut here so
the store stays bounded; the reader cuts again for a model.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nightfix_errors.paths import JS_PLATFORMS, PathMap, place_in_repository, repository_path
from nightfix_errors.text import cut

MAX_STR = 4096
MAX_VAR = 1024
MAX_FRAMES = 250
MAX_CONTEXT_LINES = 10
MAX_ITEMS = 100
LEVELS = ("fatal", "error", "warning", "info", "debug")
_ALIASES = {
    "sentry.interfaces.Exception": "exception",
    "sentry.interfaces.Stacktrace": "stacktrace",
    "sentry.interfaces.Http": "request",
    "sentry.interfaces.User": "user",
    "sentry.interfaces.Message": "logentry",
    "sentry.interfaces.message.Message": "logentry",
    "sentry.interfaces.http.Http": "request",
}
_LIBRARY_MARKERS = ("site-packages", "dist-packages", "node_modules", "/lib/python")
_MAX_AGE = 30 * 86400
_MAX_AHEAD = 60


# The raw fields `normalize_event` reads; the rest (modules, breadcrumbs, extra, sdk, debug
# meta, ...) is never stored, so it is dropped before scrubbing (`stored_fields`).
USED_FIELDS = frozenset(
    {
        "event_id",
        "timestamp",
        "level",
        "platform",
        "environment",
        "release",
        "transaction",
        "message",
        "logentry",
        "user",
        "tags",
        "exception",
        "stacktrace",
        "request",
        "contexts",
        "fingerprint",
        "sdk",
    }
)


def stored_fields(raw: Any) -> Any:
    """`raw` with legacy interface names mapped and only the fields the store keeps."""
    if not isinstance(raw, dict):
        return raw
    mapped = ((_ALIASES.get(str(k), str(k)), v) for k, v in raw.items())
    return {k: v for k, v in mapped if k in USED_FIELDS}


class InvalidEvent(ValueError):
    """The payload is JSON but not an event we can store; the message says why."""


@dataclass(frozen=True)
class NormalizedEvent:
    event_id: str
    timestamp: float
    fingerprint: str
    title: str
    culprit: str | None
    level: str
    environment: str | None
    release: str | None
    transaction: str | None
    user_key: str | None
    user_label: str | None
    data: dict[str, Any]
    """JSON-ready `EventDetail` fields (all but id / issue_id)."""
    sdk_deduplicates: bool = False
    """The SDK drops repeated identical errors (its `Dedupe` integration is on)."""


def _s(value: Any, limit: int = MAX_STR) -> str | None:
    if type(value) is str and len(value) <= limit:  # the common case, kept cheap
        return value
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return cut(text, limit)


def _str_map(value: Any, limit: int = MAX_STR) -> dict[str, str]:
    items: list[Any]
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [p for p in value if isinstance(p, list | tuple) and len(p) == 2]
    else:
        return {}
    return {str(k)[:200]: _s(v, limit) or "" for k, v in items[:MAX_ITEMS]}


def _timestamp(raw: Any, now: float) -> float:
    ts: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        ts = float(raw)
    elif isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            ts = None
    if ts is None or ts < now - _MAX_AGE or ts > now + _MAX_AHEAD:
        return now
    return ts


@dataclass(frozen=True)
class FrameContext:
    """What every frame of an event is read with: its platform and the project's path map."""

    platform: str | None = None
    path_map: PathMap | None = None


_ANONYMOUS = "<anonymous>"


def _function(raw: Any, platform: str | None) -> str | None:
    """The function name; JavaScript's anonymous `?` (alone or as `Class.?`) reads as
    `<anonymous>`."""
    name = _s(raw, 500)
    if name and platform in JS_PLATFORMS and (name == "?" or name.endswith(".?")):
        return name[:-1] + _ANONYMOUS
    return name


def _frame(raw: Any, ctx: FrameContext) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    filename = _s(raw.get("filename"), 1000)
    abs_path = _s(raw.get("abs_path"), 1000)
    module = _s(raw.get("module"), 500)
    in_app = raw.get("in_app")
    if not isinstance(in_app, bool):
        path = abs_path or filename or ""
        in_app = not any(m in path for m in _LIBRARY_MARKERS)
    if in_app:
        where = abs_path or filename
        repo = repository_path(where, ctx.platform, module, ctx.path_map or [])
        if repo is not None:
            filename, abs_path = repo, where
    lineno, colno = raw.get("lineno"), raw.get("colno")
    return {
        "filename": filename,
        "abs_path": abs_path,
        "module": module,
        "function": _function(raw.get("function"), ctx.platform),
        "lineno": lineno if isinstance(lineno, int) and not isinstance(lineno, bool) else None,
        "colno": colno if isinstance(colno, int) and not isinstance(colno, bool) else None,
        "in_app": in_app,
        "context_line": _s(raw.get("context_line"), 1000),
        "pre_context": [_s(x, 1000) or "" for x in _list(raw.get("pre_context"))][
            -MAX_CONTEXT_LINES:
        ],
        "post_context": [_s(x, 1000) or "" for x in _list(raw.get("post_context"))][
            :MAX_CONTEXT_LINES
        ],
        "vars": _str_map(raw.get("vars"), MAX_VAR),
    }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _frames(stacktrace: Any, ctx: FrameContext) -> list[dict[str, Any]]:
    raw = _list(stacktrace.get("frames")) if isinstance(stacktrace, dict) else []
    if len(raw) > MAX_FRAMES:  # keep the outermost few and the innermost many
        raw = raw[:50] + raw[-(MAX_FRAMES - 50) :]
    return [_frame(f, ctx) for f in raw if isinstance(f, dict)]


def _exceptions(event: dict[str, Any], ctx: FrameContext) -> list[dict[str, Any]]:
    exc = event.get("exception")
    values = exc.get("values") if isinstance(exc, dict) and "values" in exc else exc
    if isinstance(values, dict):
        values = [values]
    out: list[dict[str, Any]] = []
    for v in _list(values)[:20]:
        if not isinstance(v, dict):
            continue
        mech = v.get("mechanism")
        out.append(
            {
                "type": _s(v.get("type"), 500),
                "value": _s(v.get("value")),
                "module": _s(v.get("module"), 500),
                "mechanism": {
                    str(k): _s(x, 500) if isinstance(x, str) else x
                    for k, x in mech.items()
                    if isinstance(x, str | bool | int | None)
                }
                if isinstance(mech, dict)
                else None,
                "frames": _frames(v.get("stacktrace"), ctx),
            }
        )
    if not out and isinstance(event.get("stacktrace"), dict):
        out.append(
            {
                "type": None,
                "value": None,
                "module": None,
                "mechanism": None,
                "frames": _frames(event["stacktrace"], ctx),
            }
        )
    if ctx.platform == "go" or ctx.platform in JS_PLATFORMS or ctx.path_map:
        frames: list[dict[str, Any]] = [f for e in out for f in e["frames"]]
        place_in_repository(frames)
    return out


def _message(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """(formatted message, template for grouping)."""
    entry = event.get("logentry")
    if isinstance(entry, dict):
        formatted = entry.get("formatted") or entry.get("message")
        return _s(formatted), _s(entry.get("message") or formatted)
    msg = event.get("message")
    if isinstance(msg, dict):
        return _s(msg.get("formatted") or msg.get("message")), _s(msg.get("message"))
    return _s(msg), _s(msg)


def _user(raw: Any) -> tuple[dict[str, str] | None, str | None]:
    if not isinstance(raw, dict) or not raw:
        return None, None
    user = _str_map({k: v for k, v in raw.items() if v is not None}, 500)
    label = next((user[k] for k in ("id", "username", "email", "ip_address") if user.get(k)), None)
    return user or None, label


def _request(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    query = raw.get("query_string")
    if isinstance(query, dict | list):
        query = "&".join(f"{k}={v}" for k, v in _str_map(query).items())
    return {
        "method": _s(raw.get("method"), 20),
        "url": _s(raw.get("url"), 2000),
        "query_string": _s(query, 2000),
        "headers": _str_map(raw.get("headers"), 1000),
        "data": _s(raw.get("data"), 2000),
    }


def _sdk(raw: Any) -> dict[str, Any] | None:
    """Name and version of the SDK, and whether it drops repeated identical errors."""
    if not isinstance(raw, dict):
        return None
    integrations = _list(raw.get("integrations"))
    return {
        "name": _s(raw.get("name"), 100),
        "version": _s(raw.get("version"), 50),
        "deduplicates": "Dedupe" in integrations,
    }


def _contexts(raw: Any) -> dict[str, dict[str, str]]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(k)[:100]: _str_map(v, 500) for k, v in list(raw.items())[:30] if isinstance(v, dict)
    }


def grouping_components(exceptions: list[dict[str, Any]], template: str | None) -> list[str]:
    """What makes two events the same bug: exception types plus in-app module+function.

    Line numbers are left out on purpose, so a bug raised from another line of the same
    function stays one issue. Without in-app frames all frames count; without an exception,
    the message template does.
    """
    parts: list[str] = []
    for exc in exceptions:
        frames = exc["frames"]
        chosen = [f for f in frames if f["in_app"]] or frames
        parts.append(f"type:{exc['type'] or ''}")
        parts.extend(
            f"frame:{f['module'] or f['filename'] or ''}.{f['function'] or ''}" for f in chosen
        )
    if not parts:
        parts.append(f"message:{template or ''}")
    return parts


def fingerprint_hash(event: dict[str, Any], default: list[str]) -> str:
    """The grouping hash: the SDK's `fingerprint` if given (`{{ default }}` expands), else ours."""
    given = event.get("fingerprint")
    parts = default
    if isinstance(given, list) and given and all(isinstance(x, str | int | float) for x in given):
        parts = []
        for item in given:
            if str(item).replace(" ", "") == "{{default}}":
                parts.extend(default)
            else:
                parts.append(f"custom:{item}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def normalize_event(
    raw: Any, now: float | None = None, path_map: PathMap | None = None
) -> NormalizedEvent:
    """The stored form of one scrubbed event payload; `path_map` is the project's
    (see `paths.py`)."""
    if not isinstance(raw, dict):
        raise InvalidEvent("the event payload must be a JSON object")
    event: dict[str, Any] = {_ALIASES.get(str(k), str(k)): v for k, v in raw.items()}
    now = time.time() if now is None else now
    platform = _s(event.get("platform"), 50)
    exceptions = _exceptions(event, FrameContext(platform, path_map))
    message, template = _message(event)
    if not exceptions and message is None:
        raise InvalidEvent("the event has neither an exception nor a message")
    outer = exceptions[-1] if exceptions else None
    if outer is not None and (outer["type"] or outer["value"]):
        first_line = (outer["value"] or "").splitlines()[0] if outer["value"] else ""
        title = f"{outer['type'] or 'Error'}: {first_line}" if first_line else outer["type"] or ""
    else:
        title = (message or "<no message>").splitlines()[0] if message else "<no message>"
    culprit = None
    in_app = [f for e in exceptions for f in e["frames"] if f["in_app"]]
    if in_app:
        last = in_app[-1]
        where = last["module"] or last["filename"]
        if (
            platform in JS_PLATFORMS
        ):  # a JavaScript "module" is a bare file name: the path says more
            where = last["filename"] or last["module"]
        culprit = f"{where or '?'} in {last['function'] or '?'}"
    transaction = _s(event.get("transaction"), 500)
    level = str(event["level"]) if event.get("level") in LEVELS else "error"
    user, user_label = _user(event.get("user"))
    event_id = event.get("event_id")
    if not (isinstance(event_id, str) and 1 <= len(event_id) <= 64 and event_id.isalnum()):
        event_id = uuid.uuid4().hex
    environment = _s(event.get("environment"), 200)
    release = _s(event.get("release"), 200)
    data: dict[str, Any] = {
        "timestamp": None,  # filled by the reader from the column
        "level": level,
        "platform": platform,
        "environment": environment,
        "release": release,
        "transaction": transaction,
        "message": message if message is not None else title,
        "user": user,
        "tags": _str_map(event.get("tags"), 500),
        "exceptions": exceptions,
        "request": _request(event.get("request")),
        "contexts": _contexts(event.get("contexts")),
    }
    sdk = _sdk(event.get("sdk"))
    if sdk is not None:
        data["sdk"] = sdk
    return NormalizedEvent(
        event_id=event_id.lower(),
        timestamp=_timestamp(event.get("timestamp"), now),
        fingerprint=fingerprint_hash(event, grouping_components(exceptions, template)),
        title=cut(title, 300),
        culprit=culprit or transaction,
        level=level,
        environment=environment,
        release=release,
        transaction=transaction,
        user_key=user_label,
        user_label=user_label,
        data=data,
        sdk_deduplicates=bool(sdk and sdk["deduplicates"]),
    )
