"""Domain errors of nightfix-errors; the CLI and the MCP tools turn them into clear messages."""


class ErrorsError(Exception):
    """Base of every error this package raises on purpose; its message says what to do."""


class NotFoundError(ErrorsError):
    """An issue, event or project id that the store does not know."""


class InvalidCursorError(ErrorsError):
    """A pagination cursor that was not produced by this server for this query."""


class InvalidArgumentError(ErrorsError):
    """A tool or command argument that is well-typed but unusable (bad date, ...)."""


class BackendError(ErrorsError):
    """The backend (database file, Sentry API) cannot answer; the message says why."""


class ConfigError(ErrorsError):
    """Missing or contradictory configuration (no database, no token, ...)."""
