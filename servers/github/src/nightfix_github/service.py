"""The logic behind the tools: boundary checks, paging and sanitising around one backend."""

import logging
from collections.abc import Mapping
from typing import Literal

from . import patches, security, untrusted
from .backends import RepoBackend
from .config import Boundary
from .errors import ConflictError, InvalidInputError, RefusedError
from .models import (
    Blame,
    BranchResult,
    Comment,
    CommitList,
    CommitResult,
    DirectoryListing,
    FeedbackList,
    FileChange,
    FileContent,
    MergeResult,
    PatchPreview,
    PullRequest,
    PullRequestList,
    RepoInfo,
    SearchResult,
)
from .paging import Cursor, page

clean = untrusted.clean_text  # every text a model reads; never content that is written
log = logging.getLogger("nightfix_github")


def _clean_pull(pull: PullRequest) -> PullRequest:
    fields = {k: clean(getattr(pull, k)) for k in ("title", "body", "head", "head_repo", "base")}
    return pull.model_copy(update=fields)


class RepoService:
    """Every tool's behaviour, for the repositories this server was started with."""

    def __init__(self, backends: Mapping[str, RepoBackend], boundary: Boundary) -> None:
        if not backends:
            raise InvalidInputError("no repository to serve; give --local PATH or --repo NAME")
        self.backends = dict(backends)
        self.boundary = boundary

    def backend(self, repo: str | None) -> RepoBackend:
        return self.backends[security.check_repo_allowed(repo, self.backends)]

    def _commit(self, b: RepoBackend, ref: str | None) -> tuple[str, str]:
        ref = ref or b.default_branch()
        security.check_ref_safe(ref)
        return ref, b.resolve(ref)

    # -- reads ------------------------------------------------------------------------------
    def repo_info(self, repo: str | None) -> RepoInfo:
        b = self.backend(repo)
        default = b.default_branch()
        kind: Literal["local", "github"] = "github" if b.kind == "github" else "local"
        return RepoInfo(
            repo=b.name,
            default_branch=default,
            head_commit=b.resolve(default),
            backend=kind,
            can_push=b.can_push(),
        )

    def read_file(
        self,
        repo: str | None,
        path: str,
        ref: str | None = None,
        start_line: int | None = None,
        end_line: int | None = None,
        cursor: str | None = None,
    ) -> FileContent:
        b = self.backend(repo)
        if cursor:
            at = Cursor.decode(cursor)
            security.check_ref_safe(at.commit)
            path, commit, start, end = at.path, at.commit, at.start, at.end
            ref = ref or commit
        else:
            ref, commit = self._commit(b, ref)
            start, end = start_line or 1, end_line
        path = security.check_path_safe(path)
        if end is not None and end < start:
            raise InvalidInputError(f"end_line {end} is before start_line {start}")
        data = b.read_blob(commit, path)
        if b"\0" in data[:8000]:
            raise InvalidInputError(f"{path!r} is a binary file ({len(data)} bytes); not shown")
        lines = data.decode(errors="replace").splitlines(keepends=True)
        text, first, last, more = page(lines, start, end)
        token = Cursor(path, commit, last + 1, end).encode() if more else None
        return FileContent(
            path=path,
            ref=ref,
            commit=commit,
            content=clean(text),
            start_line=first,
            end_line=last,
            total_lines=len(lines),
            next_cursor=token,
        )

    def list_directory(
        self, repo: str | None, path: str = "", ref: str | None = None
    ) -> DirectoryListing:
        b = self.backend(repo)
        ref, commit = self._commit(b, ref)
        path = security.check_path_safe(path, allow_root=True)
        entries = b.list_tree(commit, path)
        entries = [e.model_copy(update={"path": clean(e.path)}) for e in entries]
        return DirectoryListing(path=path, ref=ref, commit=commit, entries=entries)

    def search_code(
        self,
        repo: str | None,
        query: str,
        regex: bool = False,
        path_glob: str | None = None,
        ref: str | None = None,
        limit: int = 50,
    ) -> SearchResult:
        b = self.backend(repo)
        if not query:
            raise InvalidInputError("the query is empty")
        security.check_no_control(query, "query")
        if path_glob:
            security.check_glob(path_glob, "path_glob")
            if path_glob.startswith("/") or ".." in path_glob.split("/"):
                raise RefusedError("unsafe_path", f"path_glob {path_glob!r} leaves the repository")
        _, commit = self._commit(b, ref)
        result = b.search(commit, query, regex, path_glob, limit)
        for m in result.matches:
            m.path, m.text = clean(m.path), clean(m.text)
            m.context = [clean(c) for c in m.context]
        return result

    def list_commits(
        self, repo: str | None, path: str | None = None, ref: str | None = None, limit: int = 20
    ) -> CommitList:
        b = self.backend(repo)
        _, commit = self._commit(b, ref)
        if path:
            path = security.check_path_safe(path)
        commits = b.list_commits(commit, path, limit)
        for c in commits:
            c.message, c.author = clean(c.message), clean(c.author)
        return CommitList(commits=commits)

    def blame(
        self, repo: str | None, path: str, start_line: int, end_line: int, ref: str | None = None
    ) -> Blame:
        b = self.backend(repo)
        if end_line < start_line:
            raise InvalidInputError(f"end_line {end_line} is before start_line {start_line}")
        _, commit = self._commit(b, ref)
        path = security.check_path_safe(path)
        lines = b.blame(commit, path, start_line, end_line)
        for line in lines:
            line.text, line.author = clean(line.text), clean(line.author)
        return Blame(path=path, commit=commit, lines=lines)

    def get_pull_request(self, repo: str | None, number: int) -> PullRequest:
        return _clean_pull(self.backend(repo).get_pull(number))

    def list_pull_requests(
        self, repo: str | None, state: str = "open", head: str | None = None
    ) -> PullRequestList:
        b = self.backend(repo)
        if head is not None:
            security.check_ref_safe(head)
        return PullRequestList(pull_requests=[_clean_pull(p) for p in b.list_pulls(state, head)])

    def list_pull_request_feedback(self, repo: str | None, number: int) -> FeedbackList:
        """Feedback on one of the agent's own pull requests (`check_pull_ours`): reviews,
        comments and line comments with their authors' permissions, every text cleaned."""
        b = self.backend(repo)
        pull = b.get_pull(number)
        security.check_pull_ours(pull, b.name, self.boundary, b.default_branch())
        items = [
            f.model_copy(
                update={
                    "author": clean(f.author),
                    "body": clean(f.body),
                    "state": clean(f.state) if f.state is not None else None,
                    "path": clean(f.path) if f.path is not None else None,
                }
            )
            for f in b.list_feedback(number)
        ]
        return FeedbackList(number=number, head=clean(pull.head), feedback=items)

    # -- writes -----------------------------------------------------------------------------
    def create_branch(self, repo: str | None, name: str, from_ref: str) -> BranchResult:
        b = self.backend(repo)
        short = security.check_branch_writable(name, self.boundary, b.default_branch())
        security.check_branch_name(short)
        _, commit = self._commit(b, from_ref)
        created = b.create_branch(short, commit)
        log.info(
            "create_branch repo=%s branch=%s commit=%s created=%s", b.name, short, commit, created
        )
        return BranchResult(name=short, commit=commit, created=created)

    def commit_files(
        self, repo: str | None, branch: str, changes: list[FileChange], message: str
    ) -> CommitResult:
        b = self.backend(repo)
        short = security.check_branch_writable(branch, self.boundary, b.default_branch())
        if not message.strip():
            raise InvalidInputError("the commit message is empty")
        security.check_commit_caps(
            [None if c.content is None else len(c.content.encode()) for c in changes],
            self.boundary,
        )
        paths = [security.check_path_writable(c.path, self.boundary) for c in changes]
        if len(set(paths)) != len(paths):
            raise InvalidInputError("a path appears twice in `changes`; give each file once")
        changes = [
            FileChange(path=p, content=c.content) for p, c in zip(paths, changes, strict=True)
        ]
        parent = b.branch_head(short)
        if parent is None:
            raise InvalidInputError(f"branch {short!r} does not exist; call create_branch first")
        commit, tree = b.commit_files(short, parent, changes, message)
        log.info(
            "commit_files repo=%s branch=%s commit=%s parent=%s files=%s",
            b.name,
            short,
            commit,
            parent,
            paths,
        )
        return CommitResult(
            branch=short,
            commit=commit,
            parent=parent,
            tree=tree,
            files=paths,
            created=commit != parent,
        )

    def preview_patch(self, repo: str | None, patch: str, base_commit: str) -> PatchPreview:
        """The tree `patch` yields on `base_commit`, computed on this host; nothing is written."""
        b = self.backend(repo)
        _, base = self._commit(b, base_commit)
        security.check_patch_files(patches.patch_paths(patch), self.boundary)
        preview = b.preview_patch(base, patch)
        log.info("preview_patch repo=%s base=%s tree=%s", b.name, base, preview.tree)
        return preview

    def commit_patch(
        self,
        repo: str | None,
        branch: str,
        patch: str,
        base_commit: str,
        message: str,
        expected_tree: str,
    ) -> CommitResult:
        """Commit exactly the approved tree: `patch` on `base_commit` must yield `expected_tree`.

        The branch's head must be `base_commit` (one new commit, fast-forward), or already the
        commit of an earlier identical call (parent `base_commit`, tree `expected_tree`: an
        idempotent retry). Any other head means the branch moved and is refused.
        """
        b = self.backend(repo)
        short = security.check_branch_writable(branch, self.boundary, b.default_branch())
        security.check_object_id(base_commit, "base_commit")
        security.check_object_id(expected_tree, "expected_tree")
        if not message.strip():
            raise InvalidInputError("the commit message is empty")
        paths = security.check_patch_files(patches.patch_paths(patch), self.boundary)
        head = b.branch_head(short)
        if head is None:
            raise InvalidInputError(f"branch {short!r} does not exist; call create_branch first")
        if head != base_commit:
            node = b.commit_node(head)
            if node.parents == (base_commit,) and node.tree == expected_tree:
                return CommitResult(
                    branch=short,
                    commit=head,
                    parent=base_commit,
                    tree=node.tree,
                    files=paths,
                    created=False,
                )
            raise ConflictError(
                f"branch {short!r} moved: its head {head[:12]} is neither base_commit "
                f"{base_commit[:12]} nor a commit of the approved tree on it; nothing was "
                "written (preview the patch on the branch's head and have it approved again)"
            )
        commit = b.commit_patch(short, base_commit, patch, message, expected_tree)
        log.info(
            "commit_patch repo=%s branch=%s commit=%s parent=%s tree=%s files=%s",
            b.name,
            short,
            commit,
            base_commit,
            expected_tree,
            paths,
        )
        return CommitResult(
            branch=short,
            commit=commit,
            parent=base_commit,
            tree=expected_tree,
            files=paths,
            created=True,
        )

    def open_pull_request(
        self,
        repo: str | None,
        branch: str,
        title: str,
        body: str,
        draft: bool = False,
        base: str | None = None,
    ) -> PullRequest:
        b = self.backend(repo)
        default = b.default_branch()
        short = security.check_branch_writable(branch, self.boundary, default)
        base = security.check_pull_base(base or default, self.boundary, default)
        if not title.strip():
            raise InvalidInputError("the pull request title is empty")
        if b.branch_head(short) is None:
            raise InvalidInputError(f"branch {short!r} does not exist; create and commit first")
        pull = b.open_pull(short, base, title, body, draft)
        log.info(
            "open_pull_request repo=%s number=%s head=%s base=%s created=%s",
            b.name,
            pull.number,
            short,
            base,
            pull.created,
        )
        return _clean_pull(pull)

    def comment_on_pull_request(self, repo: str | None, number: int, body: str) -> Comment:
        b = self.backend(repo)
        if not body.strip():
            raise InvalidInputError("the comment is empty")
        pull = b.get_pull(number)
        security.check_pull_ours(pull, b.name, self.boundary, b.default_branch())
        comment = b.comment(number, body)
        log.info("comment_on_pull_request repo=%s number=%s", b.name, number)
        return comment

    def merge_pull_request(self, repo: str | None, number: int) -> MergeResult:
        if not self.boundary.allow_merge:
            raise RefusedError("merge_disabled", "the server was not started with --allow-merge")
        b = self.backend(repo)
        pull = b.get_pull(number)
        security.check_pull_ours(pull, b.name, self.boundary, b.default_branch())
        result = b.merge_pull(number)  # the backend reads the pull request again and re-checks
        log.warning("merge_pull_request repo=%s number=%s commit=%s", b.name, number, result.commit)
        return result
