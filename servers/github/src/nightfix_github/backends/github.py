"""The GitHub backend: PyGithub against api.github.com or GitHub Enterprise (`GITHUB_API_URL`).

A multi-file commit goes through the Git Data API: blobs, a tree on `base_tree`, a commit, and
an update of the branch ref without `force`, so GitHub itself rejects anything but a
fast-forward. Every write re-checks the boundary right before its first request.
"""

import base64
import re
from itertools import islice
from typing import Any, Literal

from github import Github, GithubException, InputGitTreeElement, UnknownObjectException
from pydantic import SecretStr

from .. import security
from ..auth import Login, TokenLogin, github_for
from ..config import Boundary
from ..errors import BackendError, ConflictError, InvalidInputError, NotFoundError, RepoError
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
    SearchMatch,
    SearchResult,
)
from . import CommitNode, branch_already_there
from .github_feedback import FeedbackReader
from .github_patch import GitHubPatcher

SEARCH_MAX_FILES = 200
_SHA = re.compile(r"[0-9a-f]{40}\Z")


def _fail(exc: GithubException, what: str) -> RepoError:
    if isinstance(exc, UnknownObjectException) or exc.status == 404:
        return NotFoundError(f"{what}: not found on GitHub")
    if exc.status in (409, 422):
        return ConflictError(f"{what}: GitHub refused it ({exc.status}: {_message(exc)})")
    return BackendError(f"{what}: GitHub answered {exc.status} ({_message(exc)})")


def _message(exc: GithubException) -> str:
    data = exc.data
    return str(data.get("message", "")) if isinstance(data, dict) else str(data)[:200]


class GitHubBackend:
    """One GitHub repository, `OWNER/NAME`."""

    kind = "github"

    def __init__(
        self,
        client: Github,
        name: str,
        boundary: Boundary,
        app_permissions: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.boundary = boundary
        self.app_permissions = app_permissions
        """A GitHub App installation's permissions (None when signed in with a token)."""
        try:
            self.repo = client.get_repo(name)
            self._default = self.repo.default_branch
        except GithubException as exc:
            raise _fail(exc, f"repository {name}") from None
        self.owner = name.split("/", 1)[0]
        self.patcher = GitHubPatcher(self.repo, boundary)
        self.feedback = FeedbackReader(client, self.repo, is_app=app_permissions is not None)

    @classmethod
    def connect(
        cls, name: str, boundary: Boundary, login: str | Login, base_url: str, **options: Any
    ) -> "GitHubBackend":
        """Sign in with a token (a `str` or `TokenLogin`) or as a GitHub App (`AppLogin`).

        `options` go to PyGithub (tests pass `seconds_between_requests=0`, ...).
        """
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", name):
            raise InvalidInputError(f"--repo {name!r} is not OWNER/NAME")
        if isinstance(login, str):
            login = TokenLogin(token=SecretStr(login))
        client, app_permissions = github_for(name, login, base_url, **options)
        return cls(client, name, boundary, app_permissions)

    def close(self) -> None:
        self.client.close()

    # -- reads ------------------------------------------------------------------------------
    def default_branch(self) -> str:
        return self._default

    def can_push(self) -> bool:
        """Whether these credentials may push a branch, judged without writing anything.

        An App needs `contents: write` and `pull_requests: write` on its installation; a token
        needs the repository's `permissions.push` (its user's role) and, for a classic token,
        the `repo` scope (`security.scopes_allow_push`).
        """
        if self.boundary.read_only:
            return False
        if self.app_permissions is not None:
            wanted = ("contents", "pull_requests")
            return all(self.app_permissions.get(p) == "write" for p in wanted)
        permissions = self.repo.permissions
        if permissions is None or not permissions.push:
            return False
        return security.scopes_allow_push(self.client.oauth_scopes, bool(self.repo.private))

    def resolve(self, ref: str) -> str:
        security.check_ref_safe(ref)
        try:
            return str(self.repo.get_commit(ref).sha)
        except GithubException as exc:
            if exc.status in (404, 422):
                raise NotFoundError(f"no branch, tag or commit named {ref!r}") from None
            raise _fail(exc, f"ref {ref!r}") from None

    def _contents(self, commit: str, path: str) -> Any:
        try:
            return self.repo.get_contents(path, ref=commit)
        except GithubException as exc:
            if exc.status == 404:
                raise NotFoundError(f"no file {path!r} at {commit[:12]}") from None
            raise _fail(exc, f"contents of {path!r}") from None

    def read_blob(self, commit: str, path: str) -> bytes:
        path = security.check_path_safe(path)
        found = self._contents(commit, path)
        if isinstance(found, list):
            raise InvalidInputError(f"{path!r} is a directory; use list_directory")
        if found.encoding == "base64" and found.content is not None:
            return bytes(found.decoded_content)
        blob = self.repo.get_git_blob(found.sha)  # files over 1 MB come without content
        return base64.b64decode(blob.content)

    def list_tree(self, commit: str, path: str) -> list[DirEntry]:
        path = security.check_path_safe(path, allow_root=True)
        found = self._contents(commit, path)
        if not isinstance(found, list):
            raise NotFoundError(f"no directory {path!r} at {commit[:12]}")
        kinds = {"file": "file", "dir": "dir", "symlink": "symlink", "submodule": "submodule"}
        return [
            DirEntry(path=f.path, type=kinds.get(f.type, "file"), size=f.size)  # type: ignore[arg-type]
            for f in found
        ]

    def search(
        self, commit: str, query: str, regex: bool, path_glob: str | None, limit: int
    ) -> SearchResult:
        """Scan the tree at `commit` (GitHub's code search cannot take a ref or a regex)."""
        try:
            pattern = re.compile(query if regex else re.escape(query))
        except re.error as exc:
            raise InvalidInputError(f"bad regex {query!r}: {exc}") from None
        tree = self.repo.get_git_tree(commit, recursive=True)
        files = [
            e.path
            for e in tree.tree
            if e.type == "blob" and (not path_glob or security.glob_match(path_glob, e.path))
        ]
        matches: list[SearchMatch] = []
        truncated = len(files) > SEARCH_MAX_FILES
        for path in files[:SEARCH_MAX_FILES]:
            data = self.read_blob(commit, path)
            if b"\0" in data[:8000]:
                continue
            lines = data.decode(errors="replace").splitlines()
            for n, text in enumerate(lines, 1):
                if pattern.search(text):
                    if len(matches) >= limit:
                        return SearchResult(matches=matches, truncated=True)
                    ctx = lines[max(0, n - 3) : n + 2]
                    matches.append(SearchMatch(path=path, line=n, text=text, context=ctx))
        return SearchResult(matches=matches, truncated=truncated)

    def list_commits(self, commit: str, path: str | None, limit: int) -> list[CommitSummary]:
        commits = (
            self.repo.get_commits(sha=commit, path=security.check_path_safe(path))
            if path
            else self.repo.get_commits(sha=commit)
        )
        out = []
        try:
            for c in islice(commits, limit):
                author = c.commit.author
                out.append(
                    CommitSummary(
                        sha=c.sha,
                        message=c.commit.message,
                        author=f"{author.name} <{author.email}>",
                        date=author.date.isoformat(),
                    )
                )
        except GithubException as exc:
            raise _fail(exc, "commits") from None
        return out

    def blame(self, commit: str, path: str, start: int, end: int) -> list[BlameLine]:
        raise InvalidInputError(
            "blame is not available on the GitHub backend (the REST API has none); "
            "use list_commits with `path` to see who changed the file"
        )

    # -- writes -----------------------------------------------------------------------------
    def _writable(self, branch: str) -> str:
        short = security.check_branch_writable(branch, self.boundary, self._default)
        security.check_branch_name(short)
        return short

    def branch_head(self, branch: str) -> str | None:
        security.check_ref_safe(branch)
        try:
            return str(self.repo.get_git_ref(f"heads/{branch}").object.sha)
        except UnknownObjectException:
            return None
        except GithubException as exc:
            raise _fail(exc, f"branch {branch!r}") from None

    def create_branch(self, branch: str, commit: str) -> bool:
        short = self._writable(branch)
        existing = self.branch_head(short)
        if existing is None:
            try:
                self.repo.create_git_ref(f"refs/heads/{short}", commit)
                return True
            except GithubException as exc:
                existing = self.branch_head(short)
                if existing is None:
                    raise _fail(exc, f"create branch {short!r}") from None
        return branch_already_there(short, existing, commit)

    def commit_files(
        self, branch: str, parent: str, changes: list[FileChange], message: str
    ) -> tuple[str, str]:
        short = self._writable(branch)
        paths = [security.check_path_writable(c.path, self.boundary) for c in changes]
        try:
            parent_commit = self.repo.get_git_commit(parent)
            modes = self._check_shapes(parent_commit.tree.sha, paths, changes)
            elements = []
            for path, change in zip(paths, changes, strict=True):
                mode = modes.get(path, "100644")
                if change.content is None:
                    elements.append(InputGitTreeElement(path, mode, "blob", sha=None))
                else:
                    blob = self.repo.create_git_blob(change.content, "utf-8")
                    elements.append(InputGitTreeElement(path, mode, "blob", sha=blob.sha))
            tree = self.repo.create_git_tree(elements, parent_commit.tree)
            if tree.sha == parent_commit.tree.sha:
                return parent, str(tree.sha)
            commit = self.repo.create_git_commit(message, tree, [parent_commit])
            self._fast_forward(short, parent, str(commit.sha))
        except GithubException as exc:
            raise _fail(exc, f"commit to {short!r}") from None
        return str(commit.sha), str(tree.sha)

    def _fast_forward(self, short: str, parent: str, new: str) -> None:
        """Move the branch from `parent` to `new`, re-checking it first; never forced."""
        security.check_branch_writable(short, self.boundary, self._default)
        ref = self.repo.get_git_ref(f"heads/{short}")
        if ref.object.sha != parent:
            raise ConflictError(f"branch {short!r} moved while committing; read it and retry")
        ref.edit(new, force=False)

    # -- patches ----------------------------------------------------------------------------
    def commit_node(self, commit: str) -> CommitNode:
        security.check_ref_safe(commit)
        try:
            c = self.repo.get_git_commit(commit)
        except GithubException as exc:
            raise _fail(exc, f"commit {commit[:12]}") from None
        return CommitNode(tree=str(c.tree.sha), parents=tuple(str(p.sha) for p in c.parents))

    def preview_patch(self, base: str, patch: str) -> PatchPreview:
        try:
            return self.patcher.apply(base, patch).preview
        except GithubException as exc:
            raise _fail(exc, f"the files of the patch at {base[:12]}") from None

    def commit_patch(
        self, branch: str, base: str, patch: str, message: str, expected_tree: str
    ) -> str:
        short = self._writable(branch)
        try:
            applied = self.patcher.apply(base, patch)
            # refused here, before the first write, if the content is not the approved one
            security.check_tree_approved(applied.preview.tree, expected_tree, base)
            commit = self.patcher.commit(applied, expected_tree, message)
            self._fast_forward(short, base, str(commit.sha))
        except GithubException as exc:
            raise _fail(exc, f"commit to {short!r}") from None
        return str(commit.sha)

    def _check_shapes(
        self, tree_sha: str, paths: list[str], changes: list[FileChange]
    ) -> dict[str, str]:
        """Before any write: refuse deleting a missing file and file/directory clashes."""
        entries = {e.path: e for e in self.repo.get_git_tree(tree_sha, recursive=True).tree}
        modes = {}
        for path, change in zip(paths, changes, strict=True):
            entry = entries.get(path)
            if entry is not None and entry.type == "tree":
                raise InvalidInputError(f"{path!r} is a directory; change the files inside it")
            parts = path.split("/")
            for i in range(1, len(parts)):
                parent = entries.get("/".join(parts[:i]))
                if parent is not None and parent.type == "blob":
                    raise InvalidInputError(f"{path!r} lies under a file, not a directory")
            if change.content is None and entry is None:
                raise NotFoundError(f"cannot delete {path!r}: it does not exist on the branch")
            if entry is not None and entry.mode == "100755":
                modes[path] = entry.mode
        return modes

    # -- pull requests ----------------------------------------------------------------------
    def _pull(self, pr: Any, created: bool = False) -> PullRequest:
        state: Literal["open", "closed", "merged"] = (
            "merged" if pr.merged else "open" if pr.state == "open" else "closed"
        )
        return PullRequest(
            number=pr.number,
            title=pr.title or "",
            body=pr.body or "",
            head=pr.head.ref,
            head_repo=pr.head.repo.full_name if pr.head.repo is not None else "",
            base=pr.base.ref,
            state=state,
            draft=bool(pr.draft),
            created_at=pr.created_at.isoformat(),
            url=pr.html_url,
            created=created,
        )

    def get_pull(self, number: int) -> PullRequest:
        try:
            return self._pull(self.repo.get_pull(number))
        except GithubException as exc:
            raise _fail(exc, f"pull request #{number}") from None

    def list_pulls(self, state: str, head: str | None) -> list[PullRequest]:
        api_state = {"merged": "closed"}.get(state, state)
        kwargs = {"state": api_state} | ({"head": f"{self.owner}:{head}"} if head else {})
        try:
            pulls = [self._pull(p) for p in islice(self.repo.get_pulls(**kwargs), 100)]
        except GithubException as exc:
            raise _fail(exc, "pull requests") from None
        return [p for p in pulls if state in ("all", p.state)]

    def open_pull(self, branch: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        short = self._writable(branch)
        base = security.check_pull_base(base, self.boundary, self._default)
        try:
            existing = list(
                islice(self.repo.get_pulls(state="open", head=f"{self.owner}:{short}"), 1)
            )
            if existing:
                return self._pull(existing[0], created=False)
            security.check_branch_writable(short, self.boundary, self._default)
            pr = self.repo.create_pull(base=base, head=short, title=title, body=body, draft=draft)
        except GithubException as exc:
            raise _fail(exc, f"pull request from {short!r}") from None
        return self._pull(pr, created=True)

    def comment(self, number: int, body: str) -> Comment:
        try:
            pr = self.repo.get_pull(number)
            security.check_pull_ours(self._pull(pr), self.name, self.boundary, self._default)
            c = pr.create_issue_comment(body)
        except GithubException as exc:
            raise _fail(exc, f"comment on #{number}") from None
        return Comment(id=c.id, body=c.body, created_at=c.created_at.isoformat())

    def list_feedback(self, number: int) -> list[Feedback]:
        """Reviews, issue comments and review (line) comments of pull request `number`."""
        try:
            return self.feedback.of(self.repo.get_pull(number))
        except GithubException as exc:
            raise _fail(exc, f"feedback on #{number}") from None

    def merge_pull(self, number: int) -> MergeResult:
        try:
            pr = self.repo.get_pull(number)  # read again here: base and head repo as they are now
            security.check_pull_ours(self._pull(pr), self.name, self.boundary, self._default)
            status = pr.merge(merge_method="merge", sha=pr.head.sha)
        except GithubException as exc:
            raise _fail(exc, f"merge #{number}") from None
        return MergeResult(number=number, merged=bool(status.merged), commit=status.sha or "")
