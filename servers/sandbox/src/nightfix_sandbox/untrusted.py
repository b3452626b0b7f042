"""Untrusted text made fit for a model to read: one definition, the same in every nightfix server.

Text that a repository, a test run or a monitored app wrote can carry characters a person and a
model do not see alike: Unicode tag characters (hidden ASCII), bidirectional controls (Trojan
Source), zero-width and other invisible characters, variation selectors (hidden bytes), terminal
escape sequences (colours, cursor moves, window titles, hyperlinks) and other control characters.

`clean_text` removes terminal escape sequences (noise to a model, or text hidden from a
terminal), keeps newline, tab and CRLF line ends, and replaces every run of the other characters
by one visible U+FFFD, so a reader sees that something was there (`admin\u200b` and `admin`
stay different) without being able to read what was hidden. Use it on text meant for reading;
never on bytes that are applied or shipped (a diff, a file to commit).

Each server keeps an identical copy of this file (they share no code by design);
`tests/test_untrusted_text.py` fails when the copies differ.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

MARKER = "\ufffd"
"""What a run of hidden characters becomes: the Unicode replacement character."""

# ECMA-48 escape sequences, 7-bit (ESC ...) and 8-bit (C1) forms: CSI with its parameters; OSC,
# DCS, SOS, PM and APC strings up to BEL or ST (or the end of the line, if unterminated); any
# other ESC sequence (intermediates, then one final byte).
_ESCAPE = (
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
)
# Every Unicode control (Cc) and format (Cf) character except tab and newline (a CR is kept only
# before a newline), plus the invisible ones outside those categories: combining grapheme joiner,
# Hangul fillers, Khmer inherent vowels, Mongolian and other variation selectors.
_HIDDEN_CHARS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f"
    "\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_ESCAPE_RE = re.compile(_ESCAPE)
_HIDDEN_RUN_RE = re.compile(f"(?:[{_HIDDEN_CHARS}]|\r(?!\n))+")
_SUSPECT_RE = re.compile(f"[{_HIDDEN_CHARS}\r]")  # ESC and CR are in it: one cheap scan


def clean_text(text: str) -> str:
    """`text` without escape sequences, each run of hidden characters shown as one U+FFFD."""
    if _SUSPECT_RE.search(text) is None:  # the common case: one scan, no copy
        return text
    return _HIDDEN_RUN_RE.sub(MARKER, _ESCAPE_RE.sub("", text))


def clean_tree(node: Any) -> Any:
    """`node` (JSON-like: dicts, lists, strings, scalars) with every string, keys too, cleaned."""
    if isinstance(node, str):
        return clean_text(node)
    if isinstance(node, dict):
        return {clean_tree(k): clean_tree(v) for k, v in node.items()}
    if isinstance(node, list):
        return [clean_tree(v) for v in node]
    return node


def clean_model(model: M) -> M:
    """A copy of a tool result whose every string is cleaned: call it where a result leaves."""
    return type(model).model_validate(clean_tree(model.model_dump()))
