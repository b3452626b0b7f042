"""What the MCP tools do, on any `ErrorStore`: call it, render, sanitize.

The tools stay thin; a test can drive this class directly with either backend.
"""

from __future__ import annotations

import time

from nightfix_errors.backends import ErrorStore
from nightfix_errors.brief import compact_traceback, issue_brief, reading_notes
from nightfix_errors.models import (
    UNTRUSTED_NOTICE,
    Detail,
    EventDetail,
    EventPage,
    EventResult,
    Frame,
    IssueDetail,
    IssueFilter,
    IssuePage,
    IssueStats,
    Period,
)
from nightfix_errors.render import render_traceback
from nightfix_errors.sanitize import sanitize

NOISY_CONTEXTS = frozenset({"trace"})  # span and trace ids: nothing a reader can act on


def _compact_frame(frame: Frame) -> Frame:
    return frame.model_copy(update={"vars": {}, "pre_context": [], "post_context": []})


def compact_event(event: EventDetail) -> EventDetail:
    """The event as `get_issue` shows it next to its rendered traceback.

    Each exception keeps one frame, the one that failed (its last in-app frame, else its last
    frame), with location and line but without surrounding source or locals: the traceback
    carries the whole stack, and repeating it would double what a model reads. `get_event`
    returns the event whole.
    """
    exceptions = []
    for exc in event.exceptions:
        in_app = [f for f in exc.frames if f.in_app]
        frames = in_app[-1:] or exc.frames[-1:]
        exceptions.append(exc.model_copy(update={"frames": [_compact_frame(f) for f in frames]}))
    contexts = {k: v for k, v in event.contexts.items() if k not in NOISY_CONTEXTS}
    return event.model_copy(update={"exceptions": exceptions, "contexts": contexts})


class ErrorService:
    """Read-only questions about production errors, answered for a model to read."""

    def __init__(self, store: ErrorStore) -> None:
        self.store = store

    def list_issues(self, filters: IssueFilter, limit: int, cursor: str | None) -> IssuePage:
        return sanitize(self.store.list_issues(filters, limit, cursor))

    def get_issue(self, issue_id: str, detail: Detail = "summary") -> IssueDetail:
        """`summary`: no `latest_event`, a compact traceback; `full`: both whole."""
        issue = self.store.get_issue(issue_id)
        event = self.store.get_latest_event(issue_id)
        clean_event = sanitize(event) if event is not None else None
        full = detail == "full"
        return IssueDetail(
            issue=sanitize(issue),
            latest_event=compact_event(clean_event) if clean_event and full else None,
            traceback=render_traceback(clean_event) if full else compact_traceback(clean_event),
            untrusted=UNTRUSTED_NOTICE,
            events_last_24h=self.store.count_events_since(issue_id, time.time() - 86400),
            notes=reading_notes(clean_event),
        )

    @staticmethod
    def issue_text(detail: IssueDetail) -> str:
        """What a model reads for a summary `get_issue`: a header line and the traceback."""
        return issue_brief(detail.issue, detail.traceback, detail.events_last_24h, detail.notes)

    def list_issue_events(self, issue_id: str, limit: int, cursor: str | None) -> EventPage:
        return sanitize(self.store.list_issue_events(issue_id, limit, cursor))

    def get_event(self, event_id: str) -> EventResult:
        event = sanitize(self.store.get_event(event_id))
        return EventResult(event=event, traceback=render_traceback(event))

    def get_issue_stats(self, issue_id: str, period: Period, buckets: int) -> IssueStats:
        return self.store.get_issue_stats(issue_id, period, buckets)

    def close(self) -> None:
        self.store.close()
