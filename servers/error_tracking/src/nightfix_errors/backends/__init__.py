"""Where issues are read from: one `ErrorStore` Protocol, one file per backend.

The service layer and the MCP tools only know `ErrorStore`. Backends are picked by short name
from `BACKENDS` and imported lazily, so a backend's own dependencies load only when used.

Constructors (keyword arguments):
- ``sqlite``: ``SqliteStore(db_path: Path)`` — opens the collector's database read-only.
- ``sentry``: ``SentryStore(org: str, project: str, token: str, base_url: str)``.

Methods return the shapes of `nightfix_errors.models`; unknown ids raise
`nightfix_errors.errors.NotFoundError`, bad cursors `InvalidCursorError`. Text is returned as
stored: the service layer strips control characters, cuts long values and renders tracebacks.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from nightfix_errors.errors import ConfigError
from nightfix_errors.models import (
    EventDetail,
    EventPage,
    IssueFilter,
    IssuePage,
    IssueStats,
    IssueSummary,
    Period,
)


class ErrorStore(Protocol):
    """Read access to issues and their events."""

    def list_issues(self, filters: IssueFilter, limit: int, cursor: str | None) -> IssuePage:
        """Issues matching `filters`, in `filters.sort` order, `limit` per page."""
        ...

    def get_issue(self, issue_id: str) -> IssueSummary:
        """One issue's summary."""
        ...

    def get_latest_event(self, issue_id: str) -> EventDetail | None:
        """The newest event of an issue, in full."""
        ...

    def count_events_since(self, issue_id: str, since_epoch: float) -> int | None:
        """Events of an issue at or after `since_epoch` (None if the backend cannot tell)."""
        ...

    def list_issue_events(self, issue_id: str, limit: int, cursor: str | None) -> EventPage:
        """Events of one issue, newest first."""
        ...

    def get_event(self, event_id: str) -> EventDetail:
        """One event in full."""
        ...

    def get_issue_stats(self, issue_id: str, period: Period, buckets: int) -> IssueStats:
        """Event counts of an issue over `period`, split in `buckets` equal intervals."""
        ...

    def close(self) -> None:
        """Release connections; called once from the server lifespan's ``finally``."""
        ...


BACKENDS: dict[str, str] = {
    "sqlite": "nightfix_errors.backends.sqlite:SqliteStore",
    "sentry": "nightfix_errors.backends.sentry:SentryStore",
}


def backend_class(name: str) -> type[ErrorStore]:
    """The store class registered under `name` (imported only now)."""
    try:
        target = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(f"unknown backend {name!r}; choose one of: {known}") from None
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    cls: type[ErrorStore] = getattr(module, attr)
    return cls
