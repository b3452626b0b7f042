"""Unified (git-style) diffs: split per file, count lines, pick out the test files.

Globs here are gitignore-style (``pathspec``), the one semantics every path rule of the
client uses: ``**/`` matches zero or more directories (``**/*.pem`` matches a root
``deploy.pem``), a pattern without a slash matches at any depth, ``dir/**`` everything below.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import pathspec


@dataclass(frozen=True)
class FilePatch:
    """One file's section of a git diff (``diff --git`` header through its last hunk)."""

    old_path: str | None
    new_path: str | None
    text: str
    added: int
    removed: int

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def deleted(self) -> bool:
        return self.new_path is None


def _strip(name: str) -> str | None:
    name = name.strip().split("\t")[0]
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


def split(diff: str) -> list[FilePatch]:
    """The per-file sections of ``diff`` (a ``git diff`` or plain ``---``/``+++`` diff)."""
    lines = diff.splitlines(keepends=True)
    git_style = any(line.startswith("diff --git ") for line in lines)
    sections: list[list[str]] = []
    for i, line in enumerate(lines):
        if git_style:
            starts = line.startswith("diff --git ")
        else:
            following = lines[i + 1] if i + 1 < len(lines) else ""
            starts = line.startswith("--- ") and following.startswith("+++ ")
        if starts or not sections:
            sections.append([])
        sections[-1].append(line)
    return [p for p in (_parse(section) for section in sections) if p is not None]


def _parse(lines: list[str]) -> FilePatch | None:
    old = new = None
    added = removed = 0
    in_hunk = False
    for line in lines:
        if not in_hunk and line.startswith("diff --git "):
            parts = line.split()
            if len(parts) >= 4:
                old, new = _strip(parts[2]), _strip(parts[3])
        elif not in_hunk and line.startswith("--- "):
            old = _strip(line[4:])
        elif not in_hunk and line.startswith("+++ "):
            new = _strip(line[4:])
        elif line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line.startswith("+"):
            added += 1
        elif in_hunk and line.startswith("-"):
            removed += 1
        elif not in_hunk and line.startswith("new file mode"):
            old = None
        elif not in_hunk and line.startswith("deleted file mode"):
            new = None
    if old is None and new is None:
        return None
    return FilePatch(old, new, "".join(lines), added, removed)


def join(patches: Iterable[FilePatch]) -> str:
    return "".join(p.text if p.text.endswith("\n") else p.text + "\n" for p in patches)


def matches(path: str, globs: Iterable[str]) -> bool:
    """Does ``path`` match one of ``globs`` (gitignore-style)?"""
    return _spec(tuple(globs)).match_file(path)


@functools.lru_cache(maxsize=64)
def _spec(globs: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(globs)


def added_lines(patch: FilePatch) -> list[str]:
    """The lines a file's patch adds (without the leading ``+``)."""
    return [line[1:] for line in _hunk_lines(patch) if line.startswith("+")]


def _hunk_lines(patch: FilePatch) -> list[str]:
    # "\n" only: str.splitlines() also breaks at \r, \x0c, \x85, U+2028 …, which would hide
    # the rest of an added line from the checks that read it
    lines = patch.text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("@@")), len(lines))
    return [line for line in lines[start:] if not line.startswith("@@")]


def touched_paths(patch: FilePatch) -> list[str]:
    return sorted({p for p in (patch.old_path, patch.new_path) if p})


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
