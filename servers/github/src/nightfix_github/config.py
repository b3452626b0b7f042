"""The permission boundary as data. Built once from the command line; no tool can change it."""

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_FORBID = (".github/workflows/**",)


class Boundary(BaseModel):
    """What the agent may write. Everything not allowed here is refused (fail closed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    branch_prefix: str = Field(default="nightfix/", min_length=1)
    """Writes go only to branches whose name starts with this prefix."""
    protected: tuple[str, ...] = ()
    """Extra branch-name glob patterns that are never written (the default branch always is)."""
    forbid: tuple[str, ...] = DEFAULT_FORBID
    """Path globs (``**`` crosses directories) that no commit may add, change or delete."""
    max_file_bytes: int = Field(default=1_000_000, ge=1)
    """Largest file content one commit may write, in bytes (UTF-8)."""
    max_files_per_commit: int = Field(default=50, ge=1)
    """Most files one commit may add, change or delete."""
    read_only: bool = False
    """Register the read tools only."""
    allow_merge: bool = False
    """Register `merge_pull_request` (for pull requests from the agent's own branches only)."""
