"""Scrubbing of sensitive data at ingest, before anything is stored.

Values of keys that look like passwords, secrets, tokens, API keys, authorization headers,
cookies or sessions are replaced by `FILTERED`; so are credit-card-like numbers, bearer tokens and
URL credentials anywhere in a string. A secret found under a sensitive key is also removed from
every other string of the event (an exception message quoting the password, say).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

FILTERED = "[Filtered]"

DEFAULT_KEY_PATTERNS = (
    r"pass(word|wd|phrase)?",
    r"pwd",
    r"secret",
    r"token",
    r"api[-_ ]?key",
    r"apikey",
    r"access[-_]?key",
    r"private[-_]?key",
    r"auth",
    r"credential",
    r"cookie",
    r"session",
    r"csrf",
    r"xsrf",
    r"signature",
    r"sentry[-_]?key",
    r"ssn",
    r"credit[-_]?card",
    r"card[-_]?number",
    r"cvv",
)

_CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_VALUE_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
    re.compile(r"(?i)\b(sk|pk|ghp|gho|ghs|xox[abp])[-_][A-Za-z0-9_-]{12,}"),
)
_MIN_ECHO_LEN = 6
_MIN_SCAN_LEN = 8
# Strings found clean are remembered (only those: never a string a pattern matched, and none
# of an event that held a secret under a sensitive key, which may echo it), so the source
# lines, paths and names every event of an app repeats are scanned once per worker.
_CLEAN_CACHE_SIZE = 50_000
_CLEAN_CACHE_MAX_LEN = 1000
_DIGIT_RUN = re.compile(r"\d{4}")
_NOT_SECRETS = frozenset(
    {"None", "True", "False", "null", "true", "false", FILTERED, "'[Filtered]'"}
)
_PAIR_KEY = re.compile(r"[\w.-]{1,64}")
# Source context lines (the code around a frame) are scrubbed as code: the value of an
# assignment, keyword argument or mapping entry whose name is a sensitive key
# (`db_password = "hunter2"`, `"api_key": "..."`, `login(token=t)`) is filtered, by the same key
# rules as local variables. Only the value is replaced, so the line still reads as code.
CODE_KEYS = frozenset({"pre_context", "context_line", "post_context"})
_CODE_NAME_OP = re.compile(
    r"""(?P<name>[A-Za-z_$][\w$.-]*|"[^"\n]{1,80}"|'[^'\n]{1,80}')"""
    r"""\s*(?::\s*[\w.\[\], |]+?\s*)?(?:=>|:=|=(?!=)|:)[ \t]*"""
)
_CODE_VALUE = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`\n]*`|[^\s,;)}]+""")
# Top-level fields that are identifiers or structure, never user data: a hex event_id can hold a
# run of digits that looks like a card number, and must survive as it is.
STRUCTURAL_KEYS = frozenset(
    {"event_id", "timestamp", "start_timestamp", "received", "platform", "level", "type", "sdk"}
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return FILTERED if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


class Scrubber:
    """Replaces sensitive values in a raw Sentry event (a JSON-like tree), in place-free style."""

    def __init__(
        self, extra_key_patterns: Iterable[str] = (), extra_value_patterns: Iterable[str] = ()
    ) -> None:
        keys = [*DEFAULT_KEY_PATTERNS, *extra_key_patterns]
        self._key_re = re.compile("|".join(f"(?:{p})" for p in keys), re.IGNORECASE)
        self._extra_value_res = [re.compile(p) for p in extra_value_patterns]
        self._key_cache: dict[str, bool] = {}
        self._clean: set[str] = set()
        self._pending: list[str] = []
        self._clean_code: set[str] = set()  # context lines found clean as code and as text
        self._pending_code: list[str] = []

    def is_sensitive_key(self, key: str) -> bool:
        hit = self._key_cache.get(key)
        if hit is None:
            hit = bool(self._key_re.search(key))
            if len(self._key_cache) < 10_000:
                self._key_cache[key] = hit
        return hit

    def scrub(self, event: Any) -> Any:
        """A copy of `event` with every sensitive value replaced by `FILTERED`."""
        kept: dict[str, Any] = {}
        if isinstance(event, dict):
            kept = {k: v for k, v in event.items() if k in STRUCTURAL_KEYS}
            event = {k: v for k, v in event.items() if k not in STRUCTURAL_KEYS}
        secrets: set[str] = set()
        self._pending = []
        self._pending_code = []
        cleaned = self._walk(event, secrets, sensitive=False)
        self._remember(clean=not secrets)
        echoes = sorted(
            (s for s in secrets if len(s) >= _MIN_ECHO_LEN and s not in _NOT_SECRETS),
            key=len,
            reverse=True,
        )
        if echoes:
            echo_re = re.compile("|".join(re.escape(s) for s in echoes))
            cleaned = _replace_everywhere(cleaned, echo_re)
        return {**cleaned, **kept} if kept else cleaned

    def _scan(self, text: str) -> str:
        """`scrub_text`, skipped for a string an earlier scan found clean."""
        if text in self._clean:
            return text
        out = self.scrub_text(text)
        if out == text and len(text) <= _CLEAN_CACHE_MAX_LEN:
            self._pending.append(text)
        return out

    def _remember(self, clean: bool) -> None:
        for memo, pending in ((self._clean, self._pending), (self._clean_code, self._pending_code)):
            if clean and pending:
                if len(memo) + len(pending) > _CLEAN_CACHE_SIZE:
                    memo.clear()
                memo.update(pending)
        self._pending = []
        self._pending_code = []

    def scrub_text(self, text: str) -> str:
        for pattern in self._extra_value_res:
            text = pattern.sub(FILTERED, text)
        if len(text) < _MIN_SCAN_LEN:
            return text
        # Cheap substring checks first: most strings can match none of the patterns.
        low = text.lower()
        if "bearer" in low or "basic" in low or "token" in low:
            text = _VALUE_PATTERNS[0].sub(FILTERED, text)
        if "://" in text and "@" in text:
            text = _VALUE_PATTERNS[1].sub(FILTERED, text)
        if "sk" in low or "pk" in low or "gh" in low or "xox" in low:
            text = _VALUE_PATTERNS[2].sub(FILTERED, text)
        if len(text) >= 13 and _DIGIT_RUN.search(text):
            text = _CARD_RE.sub(_mask_card, text)
        return text

    def _walk(self, node: Any, secrets: set[str], sensitive: bool) -> Any:
        # Hot path (every string of every event): exact type checks, strings handled inline.
        kind = type(node)
        if kind is str:
            if sensitive:
                if node:
                    _collect(node, secrets)
                    return FILTERED
                return node
            return (
                node
                if len(node) < _MIN_SCAN_LEN and not self._extra_value_res
                else self._scan(node)
            )
        if kind is dict:
            is_key = self.is_sensitive_key
            walk = self._walk
            return {
                k: self._code(v, secrets)
                if k in CODE_KEYS and not sensitive
                else walk(v, secrets, sensitive or (type(k) is str and is_key(k)))
                for k, v in node.items()
            }
        if kind is list:
            if (
                len(node) == 2
                and type(node[0]) is str
                and type(node[1]) not in (dict, list)
                and _PAIR_KEY.fullmatch(node[0])
            ):
                # [name, value] pairs: Sentry's header/tag/cookie list form.
                key, value = node
                return [key, self._walk(value, secrets, sensitive or self.is_sensitive_key(key))]
            return [self._walk(v, secrets, sensitive) for v in node]
        if sensitive and node is not None:
            _collect(node, secrets)
            return FILTERED
        if isinstance(node, str | dict | list):  # subclasses: the slow, general path
            return self._walk(json.loads(json.dumps(node)), secrets, sensitive)
        return node

    def _code(self, node: Any, secrets: set[str]) -> Any:
        """A context line (or a list of them) scrubbed as code, then as text."""
        if type(node) is list:
            return [self._code(v, secrets) for v in node]
        if type(node) is not str:
            return self._walk(node, secrets, sensitive=False)
        if node in self._clean_code:
            return node
        filtered = self.filter_assignments(node, secrets)
        if filtered != node:
            return self.scrub_text(filtered)  # never remembered as clean
        out = self._scan(node)
        if out == node and len(node) <= _CLEAN_CACHE_MAX_LEN:
            self._pending_code.append(node)
        return out

    def filter_assignments(self, line: str, secrets: set[str]) -> str:
        """`line` with the value of every assignment to a sensitive name replaced by FILTERED.

        Quoted literal values are added to `secrets`, so their echoes elsewhere go too.
        """
        pieces: list[str] = []
        pos = 0
        for match in _CODE_NAME_OP.finditer(line):
            if match.start() < pos or not self.is_sensitive_key(match["name"].strip("\"'")):
                continue
            value = _CODE_VALUE.match(line, match.end())
            if value is None or value.group() == FILTERED:
                continue
            if value.group()[:1] in ("'", '"', "`"):
                _collect(value.group(), secrets)
            pieces += [line[pos : value.start()], FILTERED]
            pos = value.end()
        return "".join([*pieces, line[pos:]]) if pieces else line


def _collect(value: Any, secrets: set[str]) -> None:
    text = str(value)
    secrets.add(text)
    stripped = text.strip("'\"")  # sentry-sdk sends local variables as repr(): 'hunter2'
    if stripped != text:
        secrets.add(stripped)


def _replace_everywhere(node: Any, echo_re: re.Pattern[str]) -> Any:
    if isinstance(node, dict):
        return {k: _replace_everywhere(v, echo_re) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_everywhere(v, echo_re) for v in node]
    if isinstance(node, str) and node != FILTERED:
        return echo_re.sub(FILTERED, node)
    return node
