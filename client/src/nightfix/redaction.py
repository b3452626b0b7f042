"""Secret values from the environment never reach the model, a trace or a log.

Any environment variable whose *name* looks secret (``*TOKEN*``, ``*KEY*``, ``*SECRET*``,
``*PASSWORD*``, ``*PASSWD*``, ``*CREDENTIAL*``, ``*DSN*``, ``*AUTH*``) contributes its value;
every occurrence of such a value in text handed to the model, written to a trace, the audit
log or a log line is replaced by ``[REDACTED:<NAME>]``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|DSN|AUTH", re.IGNORECASE)
MIN_SECRET_LEN = 6
"""Shorter values (``1``, ``true``) would redact ordinary text and protect nothing."""


class Redactor:
    """Replaces known secret values in strings and nested JSON-like data."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        pairs = sorted(
            ((name, value) for name, value in secrets.items() if len(value) >= MIN_SECRET_LEN),
            key=lambda item: -len(item[1]),
        )
        self._names = {value: name for name, value in pairs}
        self._pattern = (
            re.compile("|".join(re.escape(value) for _, value in pairs)) if pairs else None
        )

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, also: Iterable[str] = ()
    ) -> Redactor:
        """A redactor for every secret-looking variable of ``environ`` (default: the process)
        and for the variables named in ``also`` whatever their names look like (the policy's
        model key and header variables: ``api_key_env: LLM_GATEWAY`` is a secret too)."""
        env = os.environ if environ is None else environ
        named = set(also)
        return cls({k: v for k, v in env.items() if k in named or SECRET_NAME.search(k)})

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``[REDACTED:<NAME>]``."""
        if self._pattern is None:
            return value
        return self._pattern.sub(lambda m: f"[REDACTED:{self._names[m.group(0)]}]", value)

    def data(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` (dicts, lists, strings) with secrets replaced."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value
