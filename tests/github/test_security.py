"""The named checks of `security.py`, one attack per test."""

import pytest

from nightfix_github import security, untrusted
from nightfix_github.config import Boundary
from nightfix_github.errors import RefusedError


def test_globs_are_gitignore_style() -> None:
    """One glob semantics (pathspec): `**/` is zero or more directories, a bare name any depth."""
    assert security.glob_match("**/*.pem", "deploy.pem")  # root level: zero directories
    assert security.glob_match("**/*.pem", "keys/prod/deploy.pem")
    assert security.glob_match("*.pem", "deploy.pem") and security.glob_match("*.pem", "a/b.pem")
    assert security.glob_match(".github/workflows", ".github/workflows/a/b.yml")
    assert security.glob_match(".github/workflows", ".github/workflows")
    assert security.glob_match("release/*", "release/1.0")
    assert security.glob_match("release/*", "release/1.0/hotfix")  # a directory covers its tree
    assert not security.glob_match("release/*", "release")
    assert not security.glob_match("/CODEOWNERS", "docs/CODEOWNERS")
    assert security.glob_match("src/**/*.py", "src/a.py")
    assert security.glob_match("RELEASE/*", "release/2", fold=True)
    assert not security.glob_match("RELEASE/*", "release/2")


def test_negated_glob_in_boundary_is_refused() -> None:
    """`--forbid '!.github/workflows/ci.yml'` must not re-open what the defaults forbid."""
    from pydantic import ValidationError

    for bad in ("!.github/workflows/ci.yml", "#x", " "):
        with pytest.raises(ValidationError, match="glob"):
            Boundary(forbid=(*Boundary().forbid, bad))
        with pytest.raises(ValidationError, match="glob"):
            Boundary(protected=(bad,))
    assert not security.glob_match("!x", "x")


def test_root_level_secret_file_is_refused() -> None:
    """A hand-written matcher read `**/*.pem` as needing a directory; `deploy.pem` slipped by."""
    b = Boundary(forbid=(*Boundary().forbid, "**/*.pem"))
    for path in ("deploy.pem", "keys/deploy.pem", "a/b/c.PEM"):
        with pytest.raises(RefusedError, match="forbidden_path"):
            security.check_path_writable(path, b)
    assert security.check_path_writable("deploy.pem.txt", b) == "deploy.pem.txt"


def test_composite_action_and_codeowners_writes_are_refused() -> None:
    """Workflows run `.github/actions/*`; CODEOWNERS decides review: both forbidden by default."""
    b = Boundary()
    for path in (
        ".github/actions/setup/action.yml",
        ".github/actions/x/run.sh",
        ".github/CODEOWNERS",
        ".GitHub/codeowners",
        "CODEOWNERS",
        "docs/CODEOWNERS",
        ".github/workflows/ci.yml",
        ".github/workflows",
    ):
        with pytest.raises(RefusedError, match="forbidden_path"):
            security.check_path_writable(path, b)
    assert security.check_path_writable("src/CODEOWNERS.md", b) == "src/CODEOWNERS.md"
    assert security.check_path_writable(".github/dependabot.yml", b) == ".github/dependabot.yml"


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
