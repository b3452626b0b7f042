"""A small pure-Python git tree hasher: the id git gives a tree, and a root tree with changes.

The GitHub backend computes the tree a patch yields without writing anything to GitHub: it
reads the base trees along the changed paths through the API and hashes the new trees here,
exactly as `git mktree` / `git write-tree` would (same entry order, same mode spelling).
"""

import hashlib
from collections.abc import Callable, Mapping
from typing import NamedTuple

from .errors import InvalidInputError

TREE_MODE = "40000"


class Entry(NamedTuple):
    """One entry of a tree object: `mode` as git writes it (`100644`, `40000`, ...)."""

    mode: str
    name: str
    sha: str


def normal_mode(mode: str) -> str:
    """Git writes a tree's mode as `40000`; the REST API shows it as `040000`."""
    return mode.lstrip("0") or "0"


def _sort_key(entry: Entry) -> bytes:
    # git compares a tree's name as if it ended in "/" (so "a.b" sorts before the tree "a")
    name = entry.name.encode()
    return name + b"/" if entry.mode == TREE_MODE else name


def hash_object(kind: str, data: bytes) -> str:
    """The git object id (SHA-1) of an object of `kind` with content `data`."""
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()  # noqa: S324


def hash_tree(entries: list[Entry]) -> str:
    """The id of the tree object holding `entries` (names unique, any order)."""
    body = b"".join(
        normal_mode(e.mode).encode() + b" " + e.name.encode() + b"\0" + bytes.fromhex(e.sha)
        for e in sorted((e._replace(mode=normal_mode(e.mode)) for e in entries), key=_sort_key)
    )
    return hash_object("tree", body)


Change = tuple[str, str] | None
"""A file's new `(mode, blob id)`, or None to delete it."""


def apply_changes(
    load: Callable[[str], list[Entry]],
    root: str | None,
    changes: Mapping[str, Change],
    prefix: str = "",
) -> str:
    """The root tree id after `changes` (path -> change) on tree `root` (None: empty tree).

    `load(tree_id)` returns a tree's entries; only the trees along changed paths are loaded.
    Directories left empty disappear, as in git. A file where a directory is, or the reverse,
    is an error that names the path.
    """
    entries = {e.name: e._replace(mode=normal_mode(e.mode)) for e in (load(root) if root else [])}
    here: dict[str, Change] = {}
    below: dict[str, dict[str, Change]] = {}
    for path, change in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            below.setdefault(head, {})[rest] = change
        else:
            here[head] = change
    for name, change in here.items():
        old = entries.get(name)
        if old is not None and old.mode == TREE_MODE:
            raise InvalidInputError(f"{prefix + name!r} is a directory; a file cannot replace it")
        if change is None:
            entries.pop(name, None)
        else:
            entries[name] = Entry(normal_mode(change[0]), name, change[1])
    for name, sub in below.items():
        old = entries.get(name)
        if old is not None and old.mode != TREE_MODE:
            raise InvalidInputError(f"{prefix + name!r} is a file; nothing can lie under it")
        sha = apply_changes(load, old.sha if old else None, sub, f"{prefix}{name}/")
        if sha == EMPTY_TREE:
            entries.pop(name, None)
        else:
            entries[name] = Entry(TREE_MODE, name, sha)
    return hash_tree(list(entries.values()))


EMPTY_TREE = hash_tree([])
