"""Shared test vectors for untrusted text: what each server must show a model for a raw line.

Every server's real tool path is tested with these (errors: an event's message; github: a file
read by read_file/search_code; sandbox: read_file, exec output, run_tests output), and the
definition itself (`untrusted.py`, one identical copy per server) in `tests/test_untrusted_text.py`.
Each raw line holds `VECTOR` and no newline, so line-based tools can find and compare it.
"""

from __future__ import annotations

import unicodedata

M = "\ufffd"  # what a run of hidden characters becomes

VECTORS: list[tuple[str, str, str]] = [
    # (name, raw line, what a model reads). No NUL: git (and so github) calls such a file binary;
    # NUL is covered with every other control character in tests/test_untrusted_text.py.
    (
        "tag_characters",
        "VECTOR tags: ok\U000e0069\U000e0067\U000e006e\U000e006f\U000e0072\U000e0065 end",
        f"VECTOR tags: ok{M} end",
    ),
    (
        "bidi_controls",
        "VECTOR bidi: if (admin\u202e) {\u2066 }\u2069 \u202a\u202b\u202c\u202d ok",
        f"VECTOR bidi: if (admin{M}) {{{M} }}{M} {M} ok",
    ),
    ("bidi_marks", "VECTOR marks: a\u200eb\u200fc\u061cd", f"VECTOR marks: a{M}b{M}c{M}d"),
    (
        "zero_width",
        "VECTOR zero-width: ad\u200bmin \u200c\u200d\u2060 x\ufeff",
        f"VECTOR zero-width: ad{M}min {M} x{M}",
    ),
    (
        "ansi_colours",
        "VECTOR ansi: \x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[m \x1b[2K\x1b[1Agone",
        "VECTOR ansi: red bold green gone",
    ),
    (
        "osc_title_and_hyperlink",
        "VECTOR osc: \x1b]0;hidden title\x07shown \x1b]8;;http://x.example/\x1b\\link\x1b]8;;\x1b\\",
        "VECTOR osc: shown link",
    ),
    ("other_escapes", "VECTOR esc: a\x1bcb\x1b(Bc\x1b7d", "VECTOR esc: abcd"),
    ("eight_bit_csi", "VECTOR c1 csi: \x9b31mred\x9b0m", "VECTOR c1 csi: red"),
    (
        "c0_and_c1_controls",
        "VECTOR controls: a\x01b\x07\x08c\x7fd\x85e\x0bf\x0cg",
        f"VECTOR controls: a{M}b{M}c{M}d{M}e{M}f{M}g",
    ),
    ("carriage_return", "VECTOR cr: 10%\r100%", f"VECTOR cr: 10%{M}100%"),
    (
        "variation_selector_smuggling",
        "VECTOR vs: \U0001f600\ufe00\ufe01\U000e0100\U000e0101 x",
        f"VECTOR vs: \U0001f600{M} x",
    ),
    ("tab_kept", "VECTOR tab:\tkept", "VECTOR tab:\tkept"),
    (
        "visible_unicode_kept",
        "VECTOR plain: héllo — ünïcode ✓ 日本語 עברית",
        "VECTOR plain: héllo — ünïcode ✓ 日本語 עברית",
    ),
]

RAW_TEXT = "".join(raw + "\n" for _, raw, _ in VECTORS)
CLEAN_TEXT = "".join(clean + "\n" for _, _, clean in VECTORS)
HIDDEN_PAYLOAD = "hidden title"  # text that must never reach a model


def _hidden(ch: str) -> bool:
    invisible = not ch.isprintable() or unicodedata.name(ch, "").startswith("VARIATION SELECTOR")
    return invisible and ch not in "\t\n"


HIDDEN_CHARS = frozenset(ch for ch in RAW_TEXT if _hidden(ch))
"""Every character the vectors hide (escapes, controls, invisibles); none may reach a model."""
