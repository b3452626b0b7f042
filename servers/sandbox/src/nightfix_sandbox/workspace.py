"""read_file / write_file / list_files / search, run as the sandbox user.

Paths are checked on the host (`resolve_in_workspace`) and again inside the sandbox after
symlinks are resolved (the fileops script), and the result path is checked a third time.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from nightfix_sandbox.backends import Box, ContainerBackend
from nightfix_sandbox.config import STAGE, WORKSPACE
from nightfix_sandbox.errors import SandboxError, SecurityError
from nightfix_sandbox.gitops import put_file
from nightfix_sandbox.incontainer import script
from nightfix_sandbox.models import FileBytes, FileContent, FileList, SearchResult, WriteResult
from nightfix_sandbox.runner import run_helper
from nightfix_sandbox.security import resolve_in_workspace

_FILEOPS = script("fileops")
MAX_READ = 1_000_000
MAX_WRITE = 5_000_000
MAX_EXPORT = 1_000_000


def _op(backend: ContainerBackend, box: Box, spec: dict[str, Any]) -> dict[str, Any]:
    _, out, err = run_helper(
        backend,
        box,
        ["python3", "-I", "-S", "-c", _FILEOPS, json.dumps({"root": WORKSPACE, **spec})],
    )
    try:
        data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SandboxError(f"file operation failed in the sandbox: {err.strip()[-300:]}") from None
    if not data.pop("ok"):
        error = str(data["error"])
        if "outside the workspace" in error:
            raise SecurityError(error)
        raise SandboxError(error)
    return data


def _rel(full: str) -> str:
    return full[len(WORKSPACE) + 1 :] or "."


def read_file(
    backend: ContainerBackend, box: Box, path: str, start_line: int | None, end_line: int | None
) -> FileContent:
    full = resolve_in_workspace(WORKSPACE, path)
    data = _op(
        backend,
        box,
        {
            "op": "read",
            "path": full,
            "start_line": start_line,
            "end_line": end_line,
            "max_bytes": MAX_READ,
        },
    )
    return FileContent(path=_rel(full), **data)


def export_file(backend: ContainerBackend, box: Box, path: str, offset: int) -> FileBytes:
    """A file's exact bytes (paged by `MAX_EXPORT`), for what ships; `read_file` is for reading."""
    full = resolve_in_workspace(WORKSPACE, path)
    spec = {"op": "export", "path": full, "offset": offset, "max_bytes": MAX_EXPORT}
    return FileBytes(path=_rel(full), **_op(backend, box, spec))


def write_file(backend: ContainerBackend, box: Box, path: str, content: str) -> WriteResult:
    full = resolve_in_workspace(WORKSPACE, path)
    if full == WORKSPACE:
        raise SecurityError("write_file needs a file path, not the workspace itself")
    payload = content.encode("utf-8")
    if len(payload) > MAX_WRITE:
        raise SandboxError(f"content is {len(payload)} bytes; write at most {MAX_WRITE}")
    stage = f"{STAGE}/{uuid.uuid4().hex}"
    put_file(backend, box, stage, payload)
    data = _op(backend, box, {"op": "write", "path": full, "stage": stage})
    return WriteResult(path=_rel(full), bytes_written=int(data["bytes_written"]))


LIST_MAX_FILES = 2000
LIST_MAX_BYTES = 200_000  # of path names: 2000 deep paths must not flood the model either


def list_files(
    backend: ContainerBackend,
    box: Box,
    path: str,
    glob: str | None,
    limit: int = LIST_MAX_FILES,
    max_bytes: int = LIST_MAX_BYTES,
) -> FileList:
    full = resolve_in_workspace(WORKSPACE, path)
    spec = {"op": "list", "path": full, "glob": glob, "limit": limit, "max_bytes": max_bytes}
    data = _op(backend, box, spec)
    listing = FileList(**data)
    if listing.truncated:
        listing.note = (
            f"[... nightfix: listing cut after {len(listing.files)} files (caps: {limit} "
            f"files, {max_bytes} bytes of names). Narrow it: list_files with path='SUBDIR' "
            "or glob='*.py' ...]"
        )
    return listing


def search(
    backend: ContainerBackend,
    box: Box,
    pattern: str,
    glob: str | None,
    regex: bool,
    limit: int = 500,
) -> SearchResult:
    if not pattern:
        raise SandboxError("search pattern is empty; give a string or regular expression")
    data = _op(
        backend,
        box,
        {
            "op": "search",
            "path": WORKSPACE,
            "pattern": pattern,
            "glob": glob,
            "regex": regex,
            "limit": limit,
        },
    )
    return SearchResult(**data)
