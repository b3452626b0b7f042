"""Base snapshot, diff, digest and patching, with git inside the sandbox.

The base is /sandbox/.base.git: the source commit alone, built on the host and copied in
root-owned with the workspace, so the sandbox user cannot rewrite what `diff` and the
digest compare against.
"""

from __future__ import annotations

import io
import re
import shlex
import tarfile
import uuid

from nightfix_sandbox.backends import Box, ContainerBackend
from nightfix_sandbox.config import BASE_GIT, SANDBOX_UID, STAGE, WORKSPACE
from nightfix_sandbox.errors import PatchError, SandboxError
from nightfix_sandbox.runner import run_helper
from nightfix_sandbox.security import check_patch_paths, resolve_in_workspace

GIT = [
    "git",
    f"--git-dir={BASE_GIT}",
    f"--work-tree={WORKSPACE}",
    "-c",
    "safe.directory=*",
    "-c",
    "core.quotepath=off",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.bare=false",
    "-c",
    "user.name=nightfix",
    "-c",
    "user.email=nightfix@localhost",
]

# The index starts as the base commit's tree (`read-tree HEAD`, once): a file the commit
# tracks stays tracked even when .gitignore matches it (a committed generated file), so it
# is neither "deleted" in diff nor missing from the digest.
_INDEX = f"{BASE_GIT}/index"

_DIGEST = f"""
import hashlib, os, subprocess, sys
git = sys.argv[1:]
if not os.path.exists("{_INDEX}"):
    subprocess.run([*git, "read-tree", "HEAD"], capture_output=True, check=True)
subprocess.run([*git, "add", "-A"], capture_output=True, check=True)
ls = [*git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
files = subprocess.run(ls, capture_output=True, check=True).stdout.split(b"\\0")
h = hashlib.sha256()
for rel in sorted(f for f in files if f):
    path = os.path.join(b"{WORKSPACE}", rel)
    h.update(rel + b"\\0")
    if os.path.islink(path):
        h.update(b"L" + os.readlink(path))
    elif os.path.isfile(path):
        h.update(b"X" if os.access(path, os.X_OK) else b"F")
        with open(path, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
print(h.hexdigest())
"""


# Caps on what `diff` returns: a workspace with 300,000 changed files must not send the
# model megabytes. The totals (files, lines) stay exact; only the listing and text are cut.
DIFF_MAX_BYTES = 400_000
DIFF_MAX_FILES = 1000

# One root `docker exec` for the git steps of `diff`; NULs part the shortstat, the numstat
# (at most DIFF_MAX_FILES + 1 lines) and the text (at most DIFF_MAX_BYTES + 1 bytes): git
# shows a file holding NUL as binary, so none is in the text. `head` stops git early.
# `add -N` (intent to add, of untracked files only: the index holds the base's tree, see
# `_INDEX`) and a diff of the work tree write no objects into the base
# repository, which shares the workspace's capped filesystem: a full workspace (ENOSPC)
# can still be diffed.
_DIFF = (
    f'(test -f {_INDEX} || git "$@" read-tree HEAD) && '
    'git "$@" ls-files -z --others --exclude-standard | xargs -0 -r git "$@" add -N -- '
    '&& git "$@" diff --shortstat HEAD {paths}&& printf "\\0"'
    ' && git "$@" diff --numstat HEAD {paths}| head -n {files} && printf "\\0"'
    ' && git "$@" diff --no-color --no-ext-diff HEAD {paths}| head -c {size}'
)
_SHORTSTAT = re.compile(r"(\d+) (file|insertion|deletion)")


def diff(
    backend: ContainerBackend, box: Box, path: str | None = None
) -> tuple[str, list[str], int, int, str | None]:
    """Unified git-style diff of the workspace against the base, plus counts.

    Returns (text, files, added, removed, note); `note` says what was cut, if anything,
    and how to narrow the diff (`path`: one file or directory of the workspace).
    """
    paths = ""
    if path is not None:
        rel = resolve_in_workspace(WORKSPACE, path)[len(WORKSPACE) + 1 :] or "."
        paths = "-- " + shlex.quote(rel) + " "
    script = _DIFF.format(files=DIFF_MAX_FILES + 1, size=DIFF_MAX_BYTES + 1, paths=paths)
    code, out, err = run_helper(backend, box, ["sh", "-c", script, "sh", *GIT[1:]], root=True)
    if code != 0 or out.count("\0") < 2:
        raise SandboxError(f"git diff in the sandbox failed: {err.strip()[-300:]}")
    stat, numstat, text = out.split("\0", 2)
    totals = {word: int(n) for n, word in _SHORTSTAT.findall(stat)}
    files = [line.split("\t", 2)[2] for line in numstat.splitlines() if line.count("\t") >= 2]
    notes = []
    if len(files) > DIFF_MAX_FILES:
        files = files[:DIFF_MAX_FILES]
        notes.append(f"files_changed lists the first {DIFF_MAX_FILES} of {totals['file']} files")
    if len(text.encode()) > DIFF_MAX_BYTES:
        text = text.encode()[:DIFF_MAX_BYTES].decode("utf-8", "ignore")
        notes.append(f"the diff text is cut at {DIFF_MAX_BYTES} bytes")
    note = None
    if notes:
        note = (
            f"[... nightfix: {'; '.join(notes)} ({totals.get('file', 0)} files changed in all). "
            "Narrow it: diff with path='DIR_OR_FILE', or add generated files to .gitignore ...]"
        )
        text += ("\n" if text and not text.endswith("\n") else "") + note + "\n"
    return text, files, totals.get("insertion", 0), totals.get("deletion", 0), note


def digest(backend: ContainerBackend, box: Box) -> str:
    """sha256 over workspace paths, modes and contents (honours .gitignore, not mtimes)."""
    code, out, err = run_helper(
        backend, box, ["python3", "-I", "-S", "-c", _DIGEST, *GIT], root=True
    )
    if code != 0:
        raise SandboxError(f"computing the workspace digest failed: {err.strip()[-300:]}")
    return "sha256:" + out.strip()


def apply_patch(backend: ContainerBackend, box: Box, patch: str) -> list[str]:
    """Apply a unified diff with `git apply` as the sandbox user; name the failing hunk."""
    if not patch.endswith("\n"):
        patch += "\n"
    paths = check_patch_paths(WORKSPACE, patch)
    strip = "-p1" if all(_has_prefix(patch)) else "-p0"
    stage = f"{STAGE}/{uuid.uuid4().hex}.patch"
    put_file(backend, box, stage, patch.encode())
    base = ["git", "-c", "core.quotepath=off", "apply", strip, "--whitespace=nowarn"]
    code, _, err = run_helper(backend, box, [*base, "--check", "--verbose", stage])
    if code != 0:
        run_helper(backend, box, ["rm", "-f", stage])
        raise PatchError(_explain(err, patch))
    code, _, err = run_helper(backend, box, [*base, stage])
    run_helper(backend, box, ["rm", "-f", stage])
    if code != 0:
        raise PatchError(_explain(err, patch))
    return sorted(set(paths))


def _has_prefix(patch: str) -> list[bool]:
    heads = [ln.split(" ", 1)[1] for ln in patch.splitlines() if ln.startswith(("--- ", "+++ "))]
    return [h.startswith(("a/", "b/")) or h.startswith("/dev/null") for h in heads]


def _explain(err: str, patch: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    m = re.search(r"patch failed: (.+):(\d+)", err)
    if m:
        hunks = [h for h in patch.splitlines() if h.startswith("@@")]
        want = f"-{m.group(2)},"
        hunk = next((h for h in hunks if want in h or f"-{m.group(2)} " in h), None)
        where = f"hunk {hunk!r} of {m.group(1)}" if hunk else f"{m.group(1)} line {m.group(2)}"
        return f"patch does not apply: {where} does not match the file; re-read it and retry"
    detail = "; ".join(ln.removeprefix("error: ") for ln in lines) or err.strip()[-300:]
    return f"patch does not apply: {detail}"


def put_file(backend: ContainerBackend, box: Box, path: str, data: bytes) -> None:
    """Put one file owned by the sandbox user at an absolute path (a staging area)."""
    folder, _, name = path.rpartition("/")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.uid, info.gid, info.mode = len(data), SANDBOX_UID, SANDBOX_UID, 0o600
        tar.addfile(info, io.BytesIO(data))
    backend.copy_in(box, folder, buf.getvalue())
