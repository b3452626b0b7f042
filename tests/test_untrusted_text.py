"""One definition of untrusted text for every server: the copies agree, and the vectors hold.

The servers share no code, so each keeps `untrusted.py`; this test fails when the copies
differ. Each server's real tool path is tested with the same vectors in its own folder.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from untrusted_text_vectors import CLEAN_TEXT, RAW_TEXT, VECTORS

from nightfix_errors import untrusted as errors_untrusted
from nightfix_github import untrusted as github_untrusted
from nightfix_sandbox import untrusted as sandbox_untrusted

ROOT = Path(__file__).parents[1]
COPIES = [
    ROOT / "servers/error_tracking/src/nightfix_errors/untrusted.py",
    ROOT / "servers/github/src/nightfix_github/untrusted.py",
    ROOT / "servers/sandbox/src/nightfix_sandbox/untrusted.py",
]
MODULES = [errors_untrusted, github_untrusted, sandbox_untrusted]


def test_every_server_holds_the_same_untrusted_text_definition() -> None:
    texts = {path.relative_to(ROOT).as_posix(): path.read_text() for path in COPIES}
    first = texts[COPIES[0].relative_to(ROOT).as_posix()]
    differing = [name for name, text in texts.items() if text != first]
    assert not differing, f"untrusted.py differs from the errors server's copy in: {differing}"
    assert [Path(m.__file__ or "").resolve() for m in MODULES] == [p.resolve() for p in COPIES]


@pytest.mark.parametrize(("name", "raw", "clean"), VECTORS, ids=[v[0] for v in VECTORS])
def test_hidden_text_vector_is_shown_not_hidden(name: str, raw: str, clean: str) -> None:
    for module in MODULES:
        assert module.clean_text(raw) == clean, (module.__name__, name)


def test_every_unicode_control_and_format_character_is_caught() -> None:
    clean = errors_untrusted.clean_text
    missed = [
        f"U+{code:04X}"
        for code in range(0x110000)
        if unicodedata.category(chr(code)) in ("Cc", "Cf")
        and chr(code) not in "\t\n"
        and clean("a" + chr(code)) not in ("a", "a" + errors_untrusted.MARKER)
    ]
    assert not missed


def test_newlines_tabs_crlf_and_clean_text_are_kept_exactly() -> None:
    clean = errors_untrusted.clean_text
    text = "line one\r\nline two\n\tindented\n"
    assert clean(text) is text  # untouched text is not even copied
    assert clean(RAW_TEXT) == CLEAN_TEXT


def test_no_escape_character_survives_nested_or_broken_sequences() -> None:
    clean = errors_untrusted.clean_text
    for raw in ("\x1b\x1b[0m[31mx", "\x1b[", "\x1b]unterminated\nnext", "\x1b", "\x9b"):
        out = clean(raw)
        assert "\x1b" not in out and "\x9b" not in out, repr(out)
    assert clean("\x1b]unterminated osc\nnext line") == "\nnext line"  # stops at the line end


def test_clean_model_cleans_every_string_of_a_tool_result() -> None:
    from pydantic import BaseModel

    class Result(BaseModel):
        path: str
        lines: list[str]
        meta: dict[str, str]
        count: int

    raw = Result(path="a\u202eb", lines=["\x1b[31mx"], meta={"k\u200b": "v\x00"}, count=3)
    out = sandbox_untrusted.clean_model(raw)
    assert out == Result(path="a\ufffdb", lines=["x"], meta={"k\ufffd": "v\ufffd"}, count=3)
