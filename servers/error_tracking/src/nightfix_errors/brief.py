"""The lean answer of `get_issue`: the facts of an issue in as few tokens as a model can use.

`get_issue` (detail `summary`, the default) answers with this text: one header line of counts
and dates, then, framed as untrusted data, where it happened (environment, release) and a
compact traceback of the latest event. The compact traceback keeps the language's order (a
Python chain cause first, a JavaScript stack innermost first) and, per exception, every
in-app frame as one `file:line in function: source line`, runs of library frames collapsed to
a count, and on the failing in-app frame one line of source either side and its locals, cut
short. Everything else (absolute paths, every line of context, callers' locals, request,
tags, contexts) is in `get_issue(detail="full")` and `get_event`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nightfix_errors.models import EventDetail, ExceptionInfo, Frame, IssueSummary
from nightfix_errors.paths import is_build_output
from nightfix_errors.render import BEGIN, END, JS_PLATFORMS, failing_index, groups
from nightfix_errors.text import cut

LINE_LIMIT = 160
VAR_LIMIT = 16
MAX_VARS = 6
FAILING = " <-- failing"
_CHAINED = {"__cause__": "which directly caused:", "__context__": "during whose handling:"}
_SECONDS = re.compile(r":\d\d(\.\d+)?(?=Z$)")


def _when(stamp: str) -> str:
    return _SECONDS.sub("", stamp)


def _short(text: str, limit: int) -> str:
    """`text`, or its head and a visible marker of how many characters were cut."""
    return text if len(text) <= limit else f"{text[:limit]}…[cut {len(text) - limit}]"


def _collapsed(frames: list[Frame], indent: str) -> str:
    names = sorted({(f.module or f.filename or "?").split(".")[0] for f in frames})
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"{indent}[{len(frames)} library frame{'s' if len(frames) > 1 else ''}: {shown}]"


def _file(f: Frame) -> str:
    return f.filename or f.abs_path or f.module or "<unknown>"


def _frame(f: Frame, failing: bool, with_locals: bool, js: bool) -> list[str]:
    """`file:line function: source` (JavaScript: `at function (file:line:col): source`);
    every frame names its file, even the same as the line above (a model opens it by name)."""
    line_no = f"{_file(f)}:{f.lineno if f.lineno is not None else '?'}"
    if js:
        head = f"  at {f.function or '<anonymous>'} ({line_no}:{f.colno or '?'})"
    else:
        head = f"  {line_no} {f.function or '?'}"
    src = f.context_line.strip() if f.context_line else ""
    line = (f"{head}: {_short(src, LINE_LIMIT)}" if src else head) + (FAILING if failing else "")
    shown = [(k, v) for k, v in f.vars.items() if not k.startswith("__")][:MAX_VARS]
    if failing and with_locals and shown:
        line += "; locals: " + ", ".join(f"{k} = {_short(v, VAR_LIMIT)}" for k, v in shown)
    return [line]


def _stack(exc: ExceptionInfo, js: bool, with_locals: bool) -> list[str]:
    failing = failing_index(exc.frames)
    lines: list[str] = []
    parts = groups(exc.frames)
    for group in reversed(parts) if js else parts:
        if isinstance(group, list):
            lines.append(_collapsed(group, "  "))
            continue
        is_failing = exc.frames.index(group) == failing
        lines.extend(_frame(group, is_failing, with_locals, js))
    return lines


def _name(exc: ExceptionInfo) -> str:
    name = exc.type or "Error"
    return f"{name}: {cut(exc.value, 500)}" if exc.value else name


def compact_traceback(event: EventDetail | None) -> str:
    """The latest event's exception chain, compact, framed as untrusted data."""
    if event is None:
        body = ["(no event stored for this issue)"]
    elif not event.exceptions:
        body = [f"(no stack trace: a message event) {cut(event.message or '', 500)}".rstrip()]
    elif (event.platform or "") in JS_PLATFORMS:
        body = []
        root = event.exceptions[0]
        for exc in reversed(event.exceptions):
            stack = _stack(exc, True, exc is root)
            body.extend([_name(exc), *stack, "Caused by:"])
        body.pop()
    else:
        body = []
        for i, exc in enumerate(event.exceptions):
            if i:
                source = (event.exceptions[i - 1].mechanism or {}).get("source")
                body.append(_CHAINED.get(str(source), "which led to:"))
            body.extend([*_stack(exc, False, i == 0), _name(exc)])
    where = ", ".join(
        x
        for x in (
            event and event.environment,
            event and event.release and f"release {event.release}",
            event and event.transaction and cut(event.transaction, 200),
        )
        if x
    )
    text = "\n".join([where, *body] if where else body).replace(BEGIN, "").replace(END, "")
    return f"{BEGIN}\n{text}\n{END}"


def issue_header(issue: IssueSummary, events_last_24h: int | None) -> str:
    """Counts and dates of the issue, one line (computed by the store, not by the app)."""
    status = issue.status + (f"/{issue.substatus}" if issue.substatus else "")
    # Lossless to leave out when every event is recent: first seen says so.
    shown = events_last_24h is not None and events_last_24h != issue.count
    recent = f" ({events_last_24h} in 24h)" if shown else ""
    return (
        f"{issue.level}, {status}: {issue.count} events{recent}, {issue.user_count} users, "
        f"first seen {_when(issue.first_seen)}, last seen {_when(issue.last_seen)}"
    )


DEDUPE_NOTE = (
    "note: the SDK drops repeated identical errors (its Dedupe integration), so one event may"
    " stand for many failures in a row"
)
BUILD_OUTPUT_NOTE = (
    "note: frames point at build output (.js); if the service is compiled (TypeScript, a"
    " bundler), run node with --enable-source-maps so they point at its sources"
)


def reading_notes(event: EventDetail | None) -> list[str]:
    """What a reader should know about how the event was reported (fixed texts, ours)."""
    if event is None:
        return []
    notes = []
    if event.sdk is not None and event.sdk.deduplicates:
        notes.append(DEDUPE_NOTE)
    in_app = [f for e in event.exceptions for f in e.frames if f.in_app]
    if (event.platform or "") in JS_PLATFORMS and any(is_build_output(_file(f)) for f in in_app):
        notes.append(BUILD_OUTPUT_NOTE)
    return notes


def issue_brief(
    issue: IssueSummary, traceback: str, events_last_24h: int | None, notes: Sequence[str] = ()
) -> str:
    """The text a model reads for `get_issue` (summary)."""
    return "\n".join([issue_header(issue, events_last_24h), *notes, traceback])
