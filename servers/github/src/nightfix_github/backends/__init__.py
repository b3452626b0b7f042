"""Repository backends: one Protocol, two implementations chosen by a short name."""

from typing import NamedTuple, Protocol

from ..errors import ConflictError
from ..models import (
    BlameLine,
    Comment,
    CommitSummary,
    DirEntry,
    Feedback,
    FileChange,
    MergeResult,
    PatchPreview,
    PullRequest,
    SearchResult,
)


class CommitNode(NamedTuple):
    """What an approval check needs to know of a commit: its root tree and its parents."""

    tree: str
    parents: tuple[str, ...]


class RepoBackend(Protocol):
    """One repository. Refs given here are already checked; writes are re-checked inside."""

    kind: str
    name: str

    def default_branch(self) -> str: ...
    def can_push(self) -> bool: ...
    def resolve(self, ref: str) -> str: ...
    def read_blob(self, commit: str, path: str) -> bytes: ...
    def list_tree(self, commit: str, path: str) -> list[DirEntry]: ...
    def search(
        self, commit: str, query: str, regex: bool, path_glob: str | None, limit: int
    ) -> SearchResult: ...
    def list_commits(self, commit: str, path: str | None, limit: int) -> list[CommitSummary]: ...
    def blame(self, commit: str, path: str, start: int, end: int) -> list[BlameLine]: ...
    def branch_head(self, branch: str) -> str | None: ...
    def create_branch(self, branch: str, commit: str) -> bool: ...
    def commit_files(
        self, branch: str, parent: str, changes: list[FileChange], message: str
    ) -> tuple[str, str]:
        """One fast-forward commit; returns (commit, tree), the parent itself if nothing changed."""
        ...

    def commit_node(self, commit: str) -> CommitNode: ...
    def preview_patch(self, base: str, patch: str) -> PatchPreview:
        """The tree `patch` yields on commit `base`; moves no ref, touches no work tree."""
        ...

    def commit_patch(
        self, branch: str, base: str, patch: str, message: str, expected_tree: str
    ) -> str:
        """Commit `patch` on `base` (the branch's head) if it yields `expected_tree`; the sha."""
        ...

    def get_pull(self, number: int) -> PullRequest: ...
    def list_pulls(self, state: str, head: str | None) -> list[PullRequest]: ...
    def open_pull(
        self, branch: str, base: str, title: str, body: str, draft: bool
    ) -> PullRequest: ...
    def comment(self, number: int, body: str) -> Comment: ...
    def list_feedback(self, number: int) -> list[Feedback]:
        """Reviews, comments and line comments, oldest first, each with its author's
        permission on the repository (raw text: the service cleans it)."""
        ...

    def merge_pull(self, number: int) -> MergeResult: ...


def branch_already_there(short: str, existing: str, commit: str) -> bool:
    """The idempotent-retry rule of ``create_branch`` when the branch exists.

    At the same commit the call succeeds without creating anything (``False``); anywhere
    else it is a conflict, never a silent move of the branch.
    """
    if existing == commit:
        return False
    raise ConflictError(f"branch {short!r} already exists at {existing[:12]}, not {commit[:12]}")


BACKENDS = {
    "local": "nightfix_github.backends.local:LocalBackend",
    "github": "nightfix_github.backends.github:GitHubBackend",
}
