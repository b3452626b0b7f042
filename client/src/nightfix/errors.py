"""The client's error hierarchy; the CLI turns these into one clear line and an exit code."""


class NightfixError(Exception):
    """Base of every error the client reports to a person."""


class PolicyError(NightfixError):
    """The policy file is unreadable or invalid (the message names the file, line and key)."""


class ServerError(NightfixError):
    """An MCP server could not be started, went away, or did not answer in time."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__(f"server {server}: {message}")
        self.server = server


class ToolCallError(NightfixError):
    """A tool answered with an error result (shown to the model, not a run-ending failure)."""


class ModelError(NightfixError):
    """The model provider failed in a way retries did not fix."""


class TraceError(NightfixError):
    """A trace or trajectory file is unreadable or malformed."""


class AuditError(NightfixError):
    """The audit log cannot be extended or checked safely (the message says why and what to do)."""


class AuditKeyError(AuditError):
    """The audit key is missing, exposed, too short, or not the key the log was written with."""


class AuditIntegrityError(AuditError):
    """The audit log does not verify, so it is neither extended nor rotated (kept as evidence)."""
