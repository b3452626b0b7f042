"""The pure-Python tree hasher agrees with `git mktree` and `git write-tree`, byte for byte."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from gh_repos import ENV, git

from nightfix_github.errors import InvalidInputError
from nightfix_github.gittree import EMPTY_TREE, Entry, apply_changes, hash_object, hash_tree


def ls_tree(repo: Path, tree: str) -> list[Entry]:
    entries = []
    for line in git(repo, "ls-tree", tree).splitlines():
        meta, name = line.split("\t", 1)
        mode, _kind, sha = meta.split()
        entries.append(Entry(mode, name, sha))
    return entries


def blob(repo: Path, data: bytes) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
        input=data,
        capture_output=True,
        env=ENV,
        check=True,
    )
    return out.stdout.decode().strip()


def test_hash_object_and_tree_match_git_mktree(repo: Path) -> None:
    data = b"x = 1\n\0binary"
    assert hash_object("blob", data) == blob(repo, data)
    b1, b2 = blob(repo, b"one\n"), blob(repo, b"two\n")
    sub = git(repo, "mktree", "--missing", input_text=f"100644 blob {b1}\tf\n")
    # names chosen so a tree ("a") sorts after "a.b" and "a-b" but before "a0", as git does
    lines = [
        f"100644 blob {b1}\ta.b",
        f"040000 tree {sub}\ta",
        f"100755 blob {b2}\trun.sh",
        f"120000 blob {b1}\tlink",
        f"100644 blob {b2}\ta-b",
        f"100644 blob {b2}\ta0",
    ]
    want = git(repo, "mktree", input_text="\n".join(lines) + "\n")
    entries = [Entry(line.split()[0], line.split("\t")[1], line.split()[2]) for line in lines]
    assert hash_tree(entries) == want
    assert hash_tree(list(reversed(entries))) == want
    assert git(repo, "mktree", input_text="") == EMPTY_TREE


def test_every_tree_of_a_real_repository_hashes_to_its_id(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD^{tree}")
    for line in git(repo, "ls-tree", "-r", "-t", head).splitlines():
        meta, _name = line.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind == "tree":
            assert hash_tree(ls_tree(repo, sha)) == sha
    assert hash_tree(ls_tree(repo, head)) == head


def _write_tree_with(repo: Path, base: str, info: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**ENV, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
        subprocess.run(["git", "-C", str(repo), "read-tree", base], env=env, check=True)
        subprocess.run(
            ["git", "-C", str(repo), "update-index", "--index-info"],
            input=info.encode(),
            env=env,
            check=True,
        )
        out = subprocess.run(
            ["git", "-C", str(repo), "write-tree"], env=env, capture_output=True, check=True
        )
    return out.stdout.decode().strip()


def test_apply_changes_matches_git_write_tree(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD^{tree}")
    new, exe = blob(repo, b"new\n"), blob(repo, b"#!/bin/sh\n")
    changes = {
        "app/cart.py": ("100644", new),  # changed in a subdirectory
        "deep/er/x.txt": ("100755", exe),  # new directories
        "README.md": None,  # deleted at the root
        ".github/workflows/ci.yml": None,  # deletes the only file: both directories vanish
        "run.sh": ("100755", new),
    }
    info = "".join(
        f"0 {'0' * 40}\t{path}\n" if c is None else f"{c[0]} {c[1]}\t{path}\n"
        for path, c in changes.items()
    )
    loads: list[str] = []

    def load(tree: str) -> list[Entry]:
        loads.append(tree)
        return ls_tree(repo, tree)

    assert apply_changes(load, base, changes) == _write_tree_with(repo, base, info)
    # only the trees along changed paths were read (root, app, .github, .github/workflows)
    assert len(loads) == 4


def test_apply_changes_refuses_file_directory_clash(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD^{tree}")
    sha = blob(repo, b"x")

    def load(tree: str) -> list[Entry]:
        return ls_tree(repo, tree)

    with pytest.raises(InvalidInputError, match="'app' is a directory"):
        apply_changes(load, base, {"app": ("100644", sha)})
    with pytest.raises(InvalidInputError, match=r"'README\.md' is a file"):
        apply_changes(load, base, {"README.md/x": ("100644", sha)})
