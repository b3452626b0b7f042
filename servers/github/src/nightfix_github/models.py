"""Pydantic models at the tool boundary: what tools take in and what they give back."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RepoInfo(_Model):
    repo: str
    default_branch: str
    head_commit: str
    backend: Literal["local", "github"]
    can_push: bool
    """Whether the server's credentials may push the agent's branches (checked without writing)."""


class FileContent(_Model):
    path: str
    ref: str
    commit: str
    content: str
    start_line: int
    end_line: int
    total_lines: int
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to read the next page; null at the end."
    )


class DirEntry(_Model):
    path: str
    type: Literal["file", "dir", "symlink", "submodule"]
    size: int | None = None


class DirectoryListing(_Model):
    path: str
    ref: str
    commit: str
    entries: list[DirEntry]


class SearchMatch(_Model):
    path: str
    line: int
    text: str
    context: list[str]


class SearchResult(_Model):
    matches: list[SearchMatch]
    truncated: bool


class CommitSummary(_Model):
    sha: str
    message: str
    author: str
    date: str


class CommitList(_Model):
    commits: list[CommitSummary]


class BlameLine(_Model):
    line: int
    sha: str
    author: str
    date: str
    text: str


class Blame(_Model):
    path: str
    commit: str
    lines: list[BlameLine]


class FileChange(_Model):
    """One file of a commit: `content` is the new text, or null to delete the file."""

    path: str
    content: str | None = None


class BranchResult(_Model):
    name: str
    commit: str
    created: bool


class CommitResult(_Model):
    branch: str
    commit: str
    parent: str
    tree: str = Field(description="Git id of the commit's root tree (what an approval binds).")
    files: list[str]
    created: bool = True


class PatchedFile(_Model):
    """One file a patch changes: its new blob, or null when the patch deletes it."""

    path: str
    blob: str | None = Field(description="Git blob id of the new content; null when deleted.")
    size: int | None = Field(default=None, description="Bytes of the new content.")


class PatchPreview(_Model):
    """What a patch yields on a base commit, as git ids. Approve `tree`; commit_patch checks it."""

    base_commit: str = Field(description="Full sha of the commit the patch was applied to.")
    tree: str = Field(description="Git id of the resulting root tree.")
    files: list[PatchedFile] = Field(
        description="Every path that changes (a rename is its old path deleted, its new added)."
    )


class Comment(_Model):
    id: int
    body: str
    created_at: str


class PullRequest(_Model):
    number: int
    title: str
    body: str
    head: str
    head_repo: str = Field(
        description="OWNER/NAME of the repository the head branch lives in (a fork's differs)."
    )
    base: str
    state: Literal["open", "closed", "merged"]
    draft: bool
    created_at: str
    url: str
    created: bool = False


Permission = Literal["admin", "maintain", "write", "triage", "read", "none"]
"""A person's role on the repository, highest first; `none` also for an unknown person."""


class Feedback(_Model):
    """One piece of review feedback on a pull request: a review, a comment, a line comment."""

    id: str = Field(description="Stable id: `review-N`, `comment-N` or `line-N`.")
    kind: Literal["review", "comment", "line_comment"]
    state: str | None = Field(
        default=None,
        description="A review's state (APPROVED, CHANGES_REQUESTED, COMMENTED, ...); else null.",
    )
    author: str = Field(description="The author's login.")
    permission: Permission = Field(description="The author's permission on the repository.")
    by_agent: bool = Field(description="Written with the server's own credentials (nightfix).")
    body: str = Field(description="Untrusted text written by the author (cleaned of hidden text).")
    created_at: str
    path: str | None = Field(default=None, description="A line comment's file.")
    line: int | None = Field(default=None, description="A line comment's line.")


class FeedbackList(_Model):
    number: int
    head: str
    feedback: list[Feedback] = Field(description="Oldest first.")


class PullRequestList(_Model):
    pull_requests: list[PullRequest]


class MergeResult(_Model):
    number: int
    merged: bool
    commit: str
