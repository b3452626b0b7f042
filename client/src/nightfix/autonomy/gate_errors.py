"""The one exception a gate check raises: which check failed, and why, in a sentence."""

from __future__ import annotations


class GateFailed(Exception):
    """A verification check refused the fix (``verification_failed:<check>``), or, with
    ``configuration=True``, the tests cannot run at all (``configuration_error:<check>``)."""

    def __init__(self, check: str, reason: str, *, configuration: bool = False) -> None:
        super().__init__(reason)
        self.check, self.reason, self.configuration = check, reason, configuration
