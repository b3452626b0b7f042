"""Unified git diffs, read and applied by git itself (`git apply`), never by hand.

Both backends use these: `patch_paths` says which paths a patch touches (both names of a
rename), so they can be checked before anything is applied, and `apply_cached` applies a patch
exactly (no fuzz, whitespace as it is, whatever the repository's `apply.*` configuration says)
to an index, turning git's complaint into an error that names the file and hunk.
"""

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .errors import BackendError, InvalidInputError

_ISOLATED = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_OPTIONAL_LOCKS": "0",
    "LC_ALL": "C",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_LITERAL_PATHSPECS": "1",
}
_FAILED_HUNK = re.compile(r"error: patch failed: (?P<path>.+):(?P<line>\d+)$")


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git on patches: no user or system configuration, literal paths."""
    return {**os.environ, **_ISOLATED, **(extra or {})}


def patch_paths(patch: str) -> list[str]:
    """Every path `patch` touches, in order, both names of a rename or copy, as git reads them.

    `git apply --numstat` names a renamed file by its new name only; the same patch read in
    reverse (`-R`) names it by its old one, so the two together are every path, read by git's
    own parser rather than one written here.
    """
    if not patch.strip():
        raise InvalidInputError("the patch is empty; give a unified git diff (git diff BASE)")
    paths = _numstat(patch, []) + _numstat(patch, ["-R"])
    if not paths:
        raise InvalidInputError("the patch changes no file; give a unified git diff")
    return list(dict.fromkeys(paths))


def _numstat(patch: str, flags: list[str]) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="nightfix-patch-") as tmp:
        proc = subprocess.run(
            ["git", "apply", *flags, "--numstat", "-z", "-"],
            input=patch.encode(),
            capture_output=True,
            cwd=tmp,
            env=git_env({"GIT_CEILING_DIRECTORIES": str(Path(tmp).parent)}),
            check=False,
        )
    if proc.returncode:
        raise InvalidInputError(f"the patch is not a unified git diff: {_first_error(proc.stderr)}")
    return _numstat_paths(proc.stdout.decode(errors="surrogateescape"))


def _numstat_paths(out: str) -> list[str]:
    # `added\tdeleted\tpath\0`, or for a rename `added\tdeleted\t\0old\0new\0`
    tokens = out.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token:
            continue
        name = token.split("\t", 2)[2]
        if name:
            paths.append(name)
        else:
            paths.extend(tokens[i : i + 2])
            i += 2
    return paths


def apply_cached(repo: Path, index: Path, patch: str, base: str) -> None:
    """Apply `patch` exactly to the index file `index` of the git directory `repo`."""
    proc = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",  # the repository's own configuration must not loosen or rewrite anything
            "apply.ignoreWhitespace=no",
            "apply",
            "--cached",
            "--whitespace=nowarn",
            "-",
        ],
        input=patch.encode(),
        capture_output=True,
        env=git_env({"GIT_INDEX_FILE": str(index)}),
        check=False,
    )
    if proc.returncode:
        raise InvalidInputError(
            f"the patch does not apply exactly to {base[:12]}: {_why(proc.stderr)}; "
            f"rebuild it with `git diff {base[:12]}` and send it again"
        )


def _why(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    for line in lines:
        m = _FAILED_HUNK.match(line)
        if m:
            return (
                f"the hunk of {m['path']} starting at line {m['line']} does not match "
                "the file at the base commit"
            )
    return "; ".join(ln.removeprefix("error: ") for ln in lines if ln.startswith("error:")) or (
        _first_error(stderr)
    )


def _first_error(stderr: bytes) -> str:
    text = stderr.decode(errors="replace").strip().splitlines()
    return text[0].removeprefix("error: ") if text else "git apply failed"


def isolated_git(
    git_dir: Path, *args: str, input: bytes | None = None, index: Path | None = None
) -> bytes:
    """git on a scratch repository of this host (no user configuration); stdout as bytes."""
    extra = {"GIT_DIR": str(git_dir)} | ({"GIT_INDEX_FILE": str(index)} if index else {})
    proc = subprocess.run(
        ["git", *args], input=input, capture_output=True, env=git_env(extra), check=False
    )
    if proc.returncode:
        raise BackendError(
            f"git {args[0]} failed on the scratch repository: {_first_error(proc.stderr)}"
        )
    return proc.stdout
