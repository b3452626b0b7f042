"""Patches on the GitHub backend: applied on this host, committed through the Git Data API.

The base contents of the touched files are fetched byte-exact (`git/blobs`, checked against
their ids), the patch is applied with `git apply --cached` to a scratch index on this host,
and the new root tree id is hashed here (`gittree`) from the base trees along the changed
paths. So what is approved is a tree id computed before anything is written to GitHub, and the
commit goes ahead only if the tree GitHub builds has that same id.
"""

import base64
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from github import InputGitTreeElement

from .. import patches, security
from ..config import Boundary
from ..errors import BackendError, InvalidInputError
from ..gittree import TREE_MODE, Change, Entry, apply_changes, normal_mode
from ..models import PatchedFile, PatchPreview

SUBMODULE_MODE = "160000"


@dataclass
class Applied:
    """A patch applied on this host: the preview, and what committing it needs."""

    preview: PatchPreview
    base: Any  # the base GitCommit
    modes: dict[str, str] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)


class GitHubPatcher:
    """Preview and commit unified diffs against one GitHub repository (PyGithub `Repository`)."""

    def __init__(self, repo: Any, boundary: Boundary) -> None:
        self.repo = repo
        self.boundary = boundary

    def apply(self, base: str, patch: str) -> Applied:
        paths = security.check_patch_files(patches.patch_paths(patch), self.boundary)
        commit = self.repo.get_git_commit(base)
        trees: dict[str, list[Entry]] = {}

        def load(sha: str) -> list[Entry]:
            if sha not in trees:
                tree = self.repo.get_git_tree(sha)
                trees[sha] = [Entry(normal_mode(e.mode), e.path, e.sha) for e in tree.tree]
            return trees[sha]

        before = {p: e for p in paths if (e := self._lookup(load, commit.tree.sha, p))}
        with tempfile.TemporaryDirectory(prefix="nightfix-patch-") as tmp:
            after, contents = self._apply_here(Path(tmp), before, patch, commit.sha)
        changes: dict[str, Change] = {}
        for path in dict.fromkeys([*before, *after]):
            old = before.get(path)
            new = after.get(path)
            if ((old.mode, old.sha) if old else None) != new:
                if new is not None:
                    security.check_file_mode(path, new[0])
                changes[path] = new
        files = [
            PatchedFile(path=p, blob=c[1] if c else None, size=len(contents[p]) if c else None)
            for p, c in changes.items()
        ]
        security.check_patch_files([f.path for f in files], self.boundary)
        security.check_commit_caps([f.size for f in files], self.boundary)
        tree = apply_changes(load, commit.tree.sha, changes)
        modes = {p: (c or (before[p].mode, ""))[0] for p, c in changes.items()}
        preview = PatchPreview(base_commit=commit.sha, tree=tree, files=files)
        return Applied(preview=preview, base=commit, modes=modes, contents=contents)

    @staticmethod
    def _lookup(load: Any, root: str, path: str) -> Entry | None:
        """The base entry of a file at `path`, or None (absent, or a directory is there)."""
        sha = root
        parts = path.split("/")
        for i, name in enumerate(parts):
            entry = next((e for e in load(sha) if e.name == name), None)
            if entry is None:
                return None
            if i == len(parts) - 1:
                if entry.mode == SUBMODULE_MODE:
                    raise InvalidInputError(f"{path!r} is a submodule; a patch cannot change it")
                return None if entry.mode == TREE_MODE else entry
            if entry.mode != TREE_MODE:
                return None
            sha = entry.sha
        return None

    def _apply_here(
        self, tmp: Path, before: dict[str, Entry], patch: str, base: str
    ) -> tuple[dict[str, tuple[str, str]], dict[str, bytes]]:
        """Apply `patch` to a scratch index holding the touched files' base blobs."""
        work, index = tmp / "scratch", tmp / "index"
        patches.isolated_git(work / ".git", "init", "-q", str(work))
        git_dir = work / ".git"
        info = []
        for path, entry in before.items():
            data = base64.b64decode(self.repo.get_git_blob(entry.sha).content)
            got = patches.isolated_git(git_dir, "hash-object", "-w", "--stdin", input=data)
            if got.decode().strip() != entry.sha:
                raise BackendError(f"GitHub sent {path!r} not byte-exact (blob {entry.sha[:12]})")
            info.append(f"{entry.mode} {entry.sha}\t{path}".encode() + b"\0")
        entries = b"".join(info)
        patches.isolated_git(
            git_dir, "update-index", "-z", "--index-info", input=entries, index=index
        )
        patches.apply_cached(work, index, patch, base)
        after: dict[str, tuple[str, str]] = {}
        contents: dict[str, bytes] = {}
        listing = patches.isolated_git(git_dir, "ls-files", "-s", "-z", index=index)
        for record in listing.decode(errors="surrogateescape").split("\0"):
            if record:
                meta, path = record.split("\t", 1)
                mode, sha, _stage = meta.split()
                after[path] = (mode, sha)
                contents[path] = patches.isolated_git(git_dir, "cat-file", "blob", sha)
        return after, contents

    def commit(self, applied: Applied, expected_tree: str, message: str) -> Any:
        """Blobs, a tree on the base tree, and only if GitHub's tree id is the approved one, a
        commit (returned; the caller moves the branch). GithubException propagates."""
        preview = applied.preview
        elements = []
        for f in preview.files:
            mode = applied.modes[f.path]
            if f.blob is None:
                elements.append(InputGitTreeElement(f.path, mode, "blob", sha=None))
                continue
            data = base64.b64encode(applied.contents[f.path]).decode()
            blob = self.repo.create_git_blob(data, "base64")
            elements.append(InputGitTreeElement(f.path, mode, "blob", sha=blob.sha))
        tree = self.repo.create_git_tree(elements, applied.base.tree)
        security.check_tree_approved(tree.sha, expected_tree, preview.base_commit)
        return self.repo.create_git_commit(message, tree, [applied.base])
