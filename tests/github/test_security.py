"""The named checks of `security.py`, one attack per test."""

import pytest

from nightfix_github import security, untrusted
from nightfix_github.config import Boundary
from nightfix_github.errors import RefusedError


def test_glob_double_star_crosses_directories_single_star_does_not() -> None:
    assert security.glob_match(".github/workflows/**", ".github/workflows/a/b.yml")
    assert security.glob_match(".github/workflows/**", ".github/workflows")
    assert security.glob_match("release/*", "release/1.0")
    assert not security.glob_match("release/*", "release/1.0/hotfix")
    assert not security.glob_match("*.md", "docs/a.md")
    assert security.glob_match("**/*.md", "docs/a.md")


def test_trojan_source_characters_are_shown_as_markers_and_text_kept() -> None:
    # The definition is untrusted.py (shared vectors: tests/test_untrusted_text.py).
    text = "if (admin\u202e) {\u2066 }\u2069 \u200bzero\ufeff\x1b[31m\ttab\nnl"
    shown = "if (admin\ufffd) {\ufffd }\ufffd \ufffdzero\ufffd\ttab\nnl"
    assert untrusted.clean_text(text) == shown
    assert untrusted.clean_text("héllo — ünïcode ✓") == "héllo — ünïcode ✓"


def test_refuses_repo_when_several_served_and_none_named() -> None:
    with pytest.raises(RefusedError, match="repo_required"):
        security.check_repo_allowed(None, ["a/b", "c/d"])
    assert security.check_repo_allowed("A/B", ["a/b", "c/d"]) == "a/b"


def test_fails_closed_with_no_repository() -> None:
    with pytest.raises(RefusedError, match="repo_required"):
        security.check_repo_allowed(None, [])


def test_refuses_range_and_revision_path_refs() -> None:
    for ref in ("main..evil", "main:secret", "a b", ""):
        with pytest.raises(RefusedError):
            security.check_ref_safe(ref)
    security.check_ref_safe("HEAD~2")


def test_refuses_refs_heads_main_alias_case_folded() -> None:
    b = Boundary()
    for name in ("refs/heads/Main", "heads/main", "main", "HEAD"):
        with pytest.raises(RefusedError, match="protected_branch"):
            security.check_branch_writable(name, b, "main")
    assert security.check_branch_writable("refs/heads/nightfix/a", b, "main") == "nightfix/a"
