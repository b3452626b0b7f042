"""The permission boundary as data. Built once from the command line; no tool can change it."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_FORBID = (
    ".github/workflows",
    ".github/actions",
    ".github/CODEOWNERS",
    "/CODEOWNERS",
    "docs/CODEOWNERS",
)
"""Never written whatever the flags: CI definitions and the composite actions they run can
exfiltrate secrets, and CODEOWNERS (in any of the three places GitHub reads it) decides who
must review. Gitignore-style: a directory pattern covers everything under it."""


def glob_problem(pattern: str) -> str | None:
    """Why `pattern` is not one gitignore-style glob, or None.

    A `!pattern` would *re-allow* what another pattern forbids, and a `#` line is a comment
    matching nothing: either would silently open the boundary, so both are refused.
    """
    if not pattern.strip():
        return "is empty"
    if pattern.startswith("!"):
        return "is a negation ('!'), which cannot be used to allow anything here"
    if pattern.startswith("#"):
        return "begins with '#', which gitignore reads as a comment"
    return None


class Boundary(BaseModel):
    """What the agent may write. Everything not allowed here is refused (fail closed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    branch_prefix: str = Field(default="nightfix/", min_length=1)
    """Writes go only to branches whose name starts with this prefix."""
    protected: tuple[str, ...] = ()
    """Extra branch-name globs (gitignore-style) never written (the default branch always is)."""
    forbid: tuple[str, ...] = DEFAULT_FORBID
    """Path globs (gitignore-style, `pathspec`) that no commit may add, change or delete."""
    allow_base: tuple[str, ...] = ()
    """Branch globs a pull request may target besides the default branch (never a protected one)."""
    max_file_bytes: int = Field(default=1_000_000, ge=1)
    """Largest file content one commit may write, in bytes (UTF-8)."""
    max_files_per_commit: int = Field(default=50, ge=1)
    """Most files one commit may add, change or delete."""
    read_only: bool = False
    """Register the read tools only."""
    allow_merge: bool = False
    """Register `merge_pull_request` (for pull requests from the agent's own branches only)."""

    @field_validator("protected", "forbid", "allow_base")
    @classmethod
    def _globs(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            problem = glob_problem(pattern)
            if problem:
                raise ValueError(f"glob {pattern!r} {problem}")
        return patterns
