"""The local backend: a git repository on disk, through git plumbing only.

Commits are built in a temporary index (`GIT_INDEX_FILE`) and published with `update-ref`
given the old value, so they are fast-forward only and the user's working tree and index are
never touched. Pull requests are JSON records under the git directory (`local_pulls.py`).
"""

import tempfile
from pathlib import Path

from .. import patches, security
from ..config import Boundary
from ..errors import BackendError, ConflictError, InvalidInputError, NotFoundError
from ..models import (
    BlameLine,
    Comment,
    CommitSummary,
    DirEntry,
    Feedback,
    FileChange,
    MergeResult,
    PatchedFile,
    PatchPreview,
    PullRequest,
    SearchMatch,
    SearchResult,
)
from . import CommitNode, branch_already_there
from .gitcli import CatFile, Git
from .local_pulls import PermissionLookup, PullStore

ZERO = "0" * 40
_TYPES = {"040000": "dir", "120000": "symlink", "160000": "submodule"}
AUTHOR = {
    "GIT_AUTHOR_NAME": "nightfix",
    "GIT_AUTHOR_EMAIL": "nightfix@localhost",
    "GIT_COMMITTER_NAME": "nightfix",
    "GIT_COMMITTER_EMAIL": "nightfix@localhost",
}


class LocalBackend:
    """A git repository on disk; its name is the directory name."""

    kind = "local"

    def __init__(self, path: Path, boundary: Boundary, default_branch: str | None = None) -> None:
        probe = Git(path)
        try:
            git_dir = probe.text("rev-parse", "--path-format=absolute", "--git-common-dir")
        except BackendError as exc:
            raise NotFoundError(f"{path} is not a git repository") from exc
        top = probe.run("rev-parse", "--show-toplevel", ok_codes=(0, 128)).decode().strip()
        self.path = Path(top).resolve() if top else path.resolve()  # bare: no work tree
        self.git = Git(self.path)
        self.git_dir = Path(git_dir.strip())
        self.name = self.path.name[:-4] if self.path.name.endswith(".git") else self.path.name
        self.boundary = boundary
        self._default = default_branch
        self.pulls = PullStore(self.git_dir / "nightfix", self.path, self.name)
        self.collaborators = PermissionLookup(self.git_dir / "nightfix")
        self.cat = CatFile(self.git)

    def close(self) -> None:
        self.cat.close()

    # -- reads ------------------------------------------------------------------------------
    def can_push(self) -> bool:
        """The local forge lets the agent write its own branches unless served read-only."""
        return not self.boundary.read_only

    def default_branch(self) -> str:
        if self._default is None:
            self._default = self._guess_default()
        return self._default

    def _guess_default(self) -> str:
        origin = self.git.run(
            "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", ok_codes=(0, 1)
        )
        candidates = [origin.decode().strip().removeprefix("refs/remotes/origin/")]
        candidates += ["main", "master"]
        for name in candidates:
            if name and self.git.rev(f"refs/heads/{name}") is not None:
                return name
        head = self.git.run("symbolic-ref", "--quiet", "--short", "HEAD", ok_codes=(0, 1))
        if head.strip():
            return head.decode().strip()
        raise NotFoundError("cannot tell the default branch; start with --default-branch NAME")

    def resolve(self, ref: str) -> str:
        security.check_ref_safe(ref)
        try:
            return self.cat.ask("info", f"{ref}^{{commit}}")[0]
        except NotFoundError:
            raise NotFoundError(f"no branch, tag or commit named {ref!r}") from None

    def read_blob(self, commit: str, path: str) -> bytes:
        path = security.check_path_safe(path)
        security.check_ref_safe(commit)
        try:
            _sha, kind, data = self.cat.ask("contents", f"{commit}:{path}")
        except NotFoundError:
            raise NotFoundError(f"no file {path!r} at {commit[:12]}") from None
        if kind == "tree":
            raise InvalidInputError(f"{path!r} is a directory; use list_directory")
        if kind != "blob":
            raise NotFoundError(f"no file {path!r} at {commit[:12]} ({kind})")
        return data

    def list_tree(self, commit: str, path: str) -> list[DirEntry]:
        path = security.check_path_safe(path, allow_root=True)
        if path:
            try:
                kind = self.cat.ask("info", f"{commit}:{path}")[1]
            except NotFoundError:
                kind = ""
            if kind != "tree":
                raise NotFoundError(f"no directory {path!r} at {commit[:12]}")
        out = self.git.run("ls-tree", "-l", "-z", commit, "--", f"{path}/" if path else ".")
        entries = []
        for record in out.decode(errors="replace").split("\0"):
            if not record:
                continue
            meta, name = record.split("\t", 1)
            mode, _type, _sha, size = meta.split(maxsplit=3)
            kind_name = _TYPES.get(mode, "file")
            entries.append(
                DirEntry(path=name, type=kind_name, size=int(size) if size.isdigit() else None)  # type: ignore[arg-type]
            )
        return entries

    def search(
        self, commit: str, query: str, regex: bool, path_glob: str | None, limit: int
    ) -> SearchResult:
        args = ["grep", "-n", "-I", "--null", "--no-color", "-E" if regex else "-F", "-e", query]
        args += [commit, "--"]
        try:
            out = self.git.run(*args, ok_codes=(0, 1))
        except BackendError as exc:
            raise InvalidInputError(f"the search failed ({exc}); check the pattern") from None
        matches: list[SearchMatch] = []
        truncated = False
        cache: dict[str, list[str]] = {}
        for raw in out.decode(errors="replace").split("\n"):
            if not raw:
                continue
            name, line_no, text = raw.split("\0", 2)
            path = name.split(":", 1)[1]
            if path_glob and not security.glob_match(path_glob, path):
                continue
            if len(matches) >= limit:
                truncated = True
                break
            lines = cache.get(path)
            if lines is None:
                lines = self.read_blob(commit, path).decode(errors="replace").splitlines()
                cache[path] = lines
            n = int(line_no)
            context = lines[max(0, n - 3) : n + 2]
            matches.append(SearchMatch(path=path, line=n, text=text, context=context))
        return SearchResult(matches=matches, truncated=truncated)

    def list_commits(self, commit: str, path: str | None, limit: int) -> list[CommitSummary]:
        args = ["log", "-z", "--format=%H%x1f%an <%ae>%x1f%aI%x1f%B", f"-n{limit}", commit, "--"]
        if path:
            args.append(security.check_path_safe(path))
        out = self.git.run(*args).decode(errors="replace")
        commits = []
        for record in out.split("\0"):
            if record.strip():
                sha, author, date, message = record.split("\x1f", 3)
                commits.append(
                    CommitSummary(
                        sha=sha.strip(), message=message.strip(), author=author, date=date
                    )
                )
        return commits

    def blame(self, commit: str, path: str, start: int, end: int) -> list[BlameLine]:
        path = security.check_path_safe(path)
        out = self.git.run("blame", "--porcelain", "-L", f"{start},{end}", commit, "--", path)
        info: dict[str, dict[str, str]] = {}
        lines: list[BlameLine] = []
        sha, final = "", 0
        for raw in out.decode(errors="replace").split("\n"):
            if raw.startswith("\t"):
                meta = info.get(sha, {})
                lines.append(
                    BlameLine(
                        line=final,
                        sha=sha,
                        author=meta.get("author", ""),
                        date=meta.get("author-time", ""),
                        text=raw[1:],
                    )
                )
            elif (
                len(raw) > 41 and raw[40] == " " and all(c in "0123456789abcdef" for c in raw[:40])
            ):
                sha, final = raw[:40], int(raw.split()[2])
                info.setdefault(sha, {})
            elif raw and sha:
                key, _, value = raw.partition(" ")
                info[sha].setdefault(key, value)
        return lines

    # -- writes -----------------------------------------------------------------------------
    def branch_head(self, branch: str) -> str | None:
        security.check_ref_safe(branch)
        return self.git.rev(f"refs/heads/{branch}")

    def _writable(self, branch: str) -> str:
        """The boundary again, right where the ref is touched, plus what only git can tell."""
        short = security.check_branch_writable(branch, self.boundary, self.default_branch())
        self.git.run("check-ref-format", "--branch", short)
        target = self.git.run("symbolic-ref", "--quiet", f"refs/heads/{short}", ok_codes=(0, 1))
        security.check_not_symbolic(short, target.decode().strip() or None)
        return short

    def create_branch(self, branch: str, commit: str) -> bool:
        short = self._writable(branch)
        existing = self.branch_head(short)
        if existing is None:
            try:
                self.git.run("update-ref", "--no-deref", f"refs/heads/{short}", commit, ZERO)
                return True
            except BackendError:
                existing = self.branch_head(short)
                if existing is None:
                    raise
        return branch_already_there(short, existing, commit)

    def commit_files(
        self, branch: str, parent: str, changes: list[FileChange], message: str
    ) -> tuple[str, str]:
        short = self._writable(branch)
        paths = [security.check_path_writable(c.path, self.boundary) for c in changes]
        modes = self._check_shapes(parent, paths, changes)
        with tempfile.TemporaryDirectory(prefix="nightfix-commit-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **AUTHOR}
            self.git.run("read-tree", parent, env=env)
            files = []
            for i, change in enumerate(changes):
                if change.content is not None:
                    blob = Path(tmp) / f"blob{i}"
                    blob.write_bytes(change.content.encode())
                    files.append(str(blob))
            shas: list[str] = []
            if files:
                out = self.git.run(
                    "hash-object",
                    "-w",
                    "--no-filters",
                    "--stdin-paths",
                    input="\n".join(files).encode(),
                )
                shas = out.decode().split()
            info: list[str] = []
            it = iter(shas)
            for path, change in zip(paths, changes, strict=True):
                if change.content is None:
                    info.append(f"0 {ZERO}\t{path}")
                else:
                    info.append(f"{modes.get(path, '100644')} {next(it)}\t{path}")
            self.git.run("update-index", "-z", "--index-info", input=self._z(info), env=env)
            tree = self.git.run("write-tree", env=env).decode().strip()
        if tree == self.git.rev(f"{parent}^{{tree}}"):
            return parent, tree
        new = self.git.run(
            "commit-tree", tree, "-p", parent, "-F", "-", input=message.encode(), env=env
        )
        new_sha = new.decode().strip()
        self._writable(short)
        try:
            self.git.run("update-ref", "--no-deref", f"refs/heads/{short}", new_sha, parent)
        except BackendError:
            raise ConflictError(
                f"branch {short!r} moved while committing; read it again and retry"
            ) from None
        return new_sha, tree

    # -- patches ----------------------------------------------------------------------------
    def commit_node(self, commit: str) -> CommitNode:
        security.check_ref_safe(commit)
        out = self.git.text("log", "-1", "--format=%T %P", self.git.commit_of(commit), "--")
        tree, *parents = out.split()
        return CommitNode(tree=tree, parents=tuple(parents))

    def preview_patch(self, base: str, patch: str) -> PatchPreview:
        with tempfile.TemporaryDirectory(prefix="nightfix-patch-") as tmp:
            return self._apply_patch(base, patch, Path(tmp) / "index")

    def _apply_patch(self, base: str, patch: str, index: Path) -> PatchPreview:
        """`patch` on `base` in a temporary index: no ref moves, no work tree is touched."""
        security.check_patch_files(patches.patch_paths(patch), self.boundary)
        base = self.git.commit_of(base)
        env = {"GIT_INDEX_FILE": str(index)}
        self.git.run("read-tree", base, env=env)
        patches.apply_cached(self.path, index, patch, base)
        tree = self.git.run("write-tree", env=env).decode().strip()
        raw = self.git.run("diff-tree", "-r", "--no-renames", "-z", base, tree, "--")
        fields = raw.decode(errors="surrogateescape").split("\0")
        files = []
        for meta, path in zip(fields[0:-1:2], fields[1::2], strict=True):
            _old_mode, mode, _old, new, status = meta.lstrip(":").split()
            if status != "D":
                security.check_file_mode(path, mode)
            files.append(PatchedFile(path=path, blob=None if status == "D" else new))
        files = self._with_sizes(files)
        security.check_patch_files([f.path for f in files], self.boundary)
        security.check_commit_caps([f.size for f in files], self.boundary)
        return PatchPreview(base_commit=base, tree=tree, files=files)

    def _with_sizes(self, files: list[PatchedFile]) -> list[PatchedFile]:
        blobs = [f.blob for f in files if f.blob]
        out = self.git.run(
            "cat-file", "--batch-check", input="".join(f"{b}\n" for b in blobs).encode()
        )
        sizes = dict(line.split()[::2] for line in out.decode().splitlines())
        return [
            f.model_copy(update={"size": int(sizes[f.blob]) if f.blob else None}) for f in files
        ]

    def commit_patch(
        self, branch: str, base: str, patch: str, message: str, expected_tree: str
    ) -> str:
        short = self._writable(branch)
        with tempfile.TemporaryDirectory(prefix="nightfix-patch-") as tmp:
            preview = self._apply_patch(base, patch, Path(tmp) / "index")
        security.check_tree_approved(preview.tree, expected_tree, base)
        new = (
            self.git.run(
                "commit-tree",
                preview.tree,
                "-p",
                base,
                "-F",
                "-",
                input=message.encode(),
                env=AUTHOR,
            )
            .decode()
            .strip()
        )
        self._writable(short)
        try:
            self.git.run("update-ref", "--no-deref", f"refs/heads/{short}", new, base)
        except BackendError:
            raise ConflictError(
                f"branch {short!r} moved while committing; read it again and retry"
            ) from None
        return new

    @staticmethod
    def _z(lines: list[str]) -> bytes:
        return b"".join(line.encode() + b"\0" for line in lines)

    def _check_shapes(
        self, parent: str, paths: list[str], changes: list[FileChange]
    ) -> dict[str, str]:
        """Refuse deleting a missing file and file/directory clashes; keep executable bits."""
        wanted = set(paths)
        for path in paths:
            parts = path.split("/")
            wanted.update("/".join(parts[:i]) for i in range(1, len(parts)))
        out = self.git.run("ls-tree", "-z", parent, "--", *sorted(wanted))
        found: dict[str, tuple[str, str]] = {}
        for record in out.decode(errors="replace").split("\0"):
            if record:
                meta, name = record.split("\t", 1)
                mode, kind, _sha = meta.split()
                found[name] = (mode, kind)
        modes = {}
        for path, change in zip(paths, changes, strict=True):
            mode, kind = found.get(path, ("", ""))
            if kind == "tree":
                raise InvalidInputError(f"{path!r} is a directory; change the files inside it")
            parts = path.split("/")
            for i in range(1, len(parts)):
                if found.get("/".join(parts[:i]), ("", ""))[1] == "blob":
                    raise InvalidInputError(f"{path!r} lies under a file, not a directory")
            if change.content is None and not kind:
                raise NotFoundError(f"cannot delete {path!r}: it does not exist on the branch")
            if mode == "100755":
                modes[path] = mode
        return modes

    # -- pull requests ----------------------------------------------------------------------
    def get_pull(self, number: int) -> PullRequest:
        return self.pulls.get(number)

    def list_pulls(self, state: str, head: str | None) -> list[PullRequest]:
        return self.pulls.list(state, head)

    def open_pull(self, branch: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        short = self._writable(branch)
        base = security.check_pull_base(base, self.boundary, self.default_branch())
        if self.branch_head(base) is None:
            raise NotFoundError(f"base branch {base!r} does not exist")
        return self.pulls.open(short, base, title, body, draft)

    def comment(self, number: int, body: str) -> Comment:
        return self.pulls.comment(number, body)

    def list_feedback(self, number: int) -> list[Feedback]:
        return self.pulls.feedback(number, self.collaborators)

    def merge_pull(self, number: int) -> MergeResult:
        pull = self.pulls.get(number)  # read again here: the base may have changed since
        security.check_pull_ours(pull, self.name, self.boundary, self.default_branch())
        if pull.state != "open":
            raise ConflictError(f"pull request #{number} is {pull.state}")
        head = self.git.commit_of(f"refs/heads/{pull.head}")
        base = self.git.commit_of(f"refs/heads/{pull.base}")
        current = self.git.run("symbolic-ref", "--quiet", "HEAD", ok_codes=(0, 1)).decode().strip()
        bare = self.git.text("rev-parse", "--is-bare-repository").strip() == "true"
        if current == f"refs/heads/{pull.base}" and not bare:
            raise ConflictError(
                f"{pull.base!r} is checked out in {self.path}; merge it there by hand"
            )
        if not self._is_ancestor(base, head):
            raise ConflictError(f"#{number} is not a fast-forward of {pull.base!r}; rebase it")
        self.git.run("update-ref", f"refs/heads/{pull.base}", head, base)
        self.pulls.mark_merged(number, head)
        return MergeResult(number=number, merged=True, commit=head)

    def _is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self.git.run("merge-base", "--is-ancestor", older, newer)
        except BackendError:
            return False
        return True
