"""The closed set of ways a run can end, and the exit code each maps to.

Every run ends with exactly one :class:`StopReason`; some carry a detail after a colon
(``tool_denied:github.commit_files``, ``server_error:sandbox``,
``verification_failed:regression_test``). The reason is printed, stored in the run record and
trace, written to the audit log, and turned into the process exit code by :func:`exit_code`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    COMPLETED = "completed"
    """The model finished with a summary (and, in a watch run, delivery followed)."""
    NO_FIX = "no_fix"
    """The model ended without a change it could stand behind."""
    MAX_STEPS = "max_steps"
    """The run used ``budgets.max_steps`` model turns."""
    MAX_SECONDS = "max_seconds"
    """The run reached ``budgets.max_seconds`` of wall-clock time."""
    MAX_TOOL_CALLS = "max_tool_calls"
    """The run made ``budgets.max_tool_calls`` tool calls."""
    MAX_USD = "max_usd"
    """The next model call would cross ``budgets.max_usd``."""
    MAX_INPUT_TOKENS = "max_input_tokens"
    """The next model call would cross ``budgets.max_input_tokens``."""
    TOOL_DENIED = "tool_denied"
    """The model called a tool the policy does not allow (detail: the tool name)."""
    KILL_SWITCH = "kill_switch"
    """The kill-switch file or environment variable is set."""
    MODEL_ERROR = "model_error"
    """The model provider failed after bounded retries (or answered unusably)."""
    SERVER_ERROR = "server_error"
    """An MCP server failed or went away (detail: the server name)."""
    TOOL_DEFINITIONS_CHANGED = "tool_definitions_changed"
    """A server presents tool definitions that differ from the pinned ones."""
    VERIFICATION_FAILED = "verification_failed"
    """The verification gate refused the fix (detail: the check)."""
    CONFIGURATION_ERROR = "configuration_error"
    """The test suite cannot run on the original code (detail: the check); no verdict on the
    fix — configure the sandbox (dependencies, test command) and the issue is tried again."""
    AWAITING_APPROVAL = "awaiting_approval"
    """Delivery waits for ``nightfix approve`` / ``nightfix deny``."""
    APPROVAL_DENIED = "approval_denied"
    """A person refused the pending step (``nightfix deny``)."""
    APPROVAL_STALE = "approval_stale"
    """The approval no longer matches the diff/target, or timed out."""
    DELIVERY_FAILED = "delivery_failed"
    """Writing the branch, commit or pull request failed."""
    INTERRUPTED = "interrupted"
    """Ctrl-C / SIGTERM."""
    CLIENT_ERROR = "client_error"
    """A bug or unexpected failure in nightfix itself."""


#: Exit codes scripts can rely on (also documented in ``nightfix run --help`` and the README).
EXIT_CODES: dict[Kind, int] = {
    Kind.COMPLETED: 0,
    Kind.AWAITING_APPROVAL: 0,
    Kind.NO_FIX: 10,
    Kind.MAX_STEPS: 20,
    Kind.MAX_SECONDS: 21,
    Kind.MAX_TOOL_CALLS: 22,
    Kind.MAX_USD: 23,
    Kind.MAX_INPUT_TOKENS: 24,
    Kind.TOOL_DENIED: 30,
    Kind.TOOL_DEFINITIONS_CHANGED: 31,
    Kind.KILL_SWITCH: 32,
    Kind.VERIFICATION_FAILED: 40,
    Kind.CONFIGURATION_ERROR: 44,
    Kind.APPROVAL_DENIED: 41,
    Kind.APPROVAL_STALE: 42,
    Kind.DELIVERY_FAILED: 43,
    Kind.MODEL_ERROR: 50,
    Kind.SERVER_ERROR: 51,
    Kind.INTERRUPTED: 130,
    Kind.CLIENT_ERROR: 70,
}


@dataclass(frozen=True)
class StopReason:
    """One run's ending: a :class:`Kind` and an optional detail."""

    kind: Kind
    detail: str | None = None

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.detail}" if self.detail else self.kind.value

    @classmethod
    def parse(cls, text: str) -> StopReason:
        """Inverse of ``str()``; raises ``ValueError`` for a reason outside the closed set."""
        kind, _, detail = text.partition(":")
        return cls(Kind(kind), detail or None)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]


def exit_code(reason: StopReason) -> int:
    """The process exit code for ``reason``."""
    return reason.exit_code
