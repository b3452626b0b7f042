"""File operations inside the sandbox, run as the sandbox user. Stdlib only.

argv[1] is JSON {"op", "root", ...}. Every path is re-checked here after resolving
symlinks: anything that resolves outside the workspace root is refused.
Prints one JSON line: {"ok": true, ...} or {"ok": false, "error": "..."}.
"""

# A stdlib-only script executed inside the sandbox by `python3 -I -S -c`.
# ruff: noqa: PTH101, PTH103, PTH105, PTH108, PTH112, PTH113, PTH114, PTH116, PTH118, PTH120, PTH123
# mypy: disable-error-code="no-untyped-def,union-attr"

import base64
import fnmatch
import json
import os
import re
import sys

spec = json.loads(sys.argv[1])
ROOT = os.path.realpath(spec["root"])
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".venv", "node_modules"}


class Refused(Exception):
    pass


def inside(path):
    real = os.path.realpath(path)
    if real != ROOT and not real.startswith(ROOT + "/"):
        raise Refused(f"{os.path.relpath(path, ROOT)} resolves outside the workspace; refused")
    return real


def rel(path):
    return os.path.relpath(path, ROOT)


def walk(base, glob):
    """Files under base; symlinks that resolve outside the workspace are left out."""
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                inside(full)
            except Refused:
                continue
            if glob and not (fnmatch.fnmatch(rel(full), glob) or fnmatch.fnmatch(name, glob)):
                continue
            yield full


def op_read(s):
    path = inside(s["path"])
    if not os.path.isfile(path):
        raise Refused(f"{rel(s['path'])} is not a file")
    with open(path, "rb") as fh:
        data = fh.read(int(s["max_bytes"]) + 1)
    truncated = len(data) > int(s["max_bytes"])
    text = data[: int(s["max_bytes"])].decode("utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    start = max(1, s.get("start_line") or 1)
    end = s.get("end_line") or len(lines)
    return {
        "content": "".join(lines[start - 1 : end]),
        "total_lines": len(lines),
        "start_line": start,
        "end_line": min(end, len(lines)),
        "truncated": truncated,
    }


def op_export(s):
    """Exact bytes of a file from `offset`, base64: what ships, not what a model reads."""
    path = inside(s["path"])
    if not os.path.isfile(path):
        raise Refused(f"{rel(s['path'])} is not a file")
    limit, offset = int(s["max_bytes"]), int(s["offset"])
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(offset)
        data = fh.read(limit + 1)
    return {
        "content_base64": base64.b64encode(data[:limit]).decode("ascii"),
        "offset": offset,
        "size": size,
        "truncated": len(data) > limit,
    }


def op_write(s):
    path = s["path"]
    parent = os.path.dirname(path)
    existing = parent
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    inside(existing)
    if os.path.islink(path):
        inside(path)
    os.makedirs(parent, exist_ok=True)
    inside(parent)
    with open(s["stage"], "rb") as src:
        data = src.read()
    os.unlink(s["stage"])
    tmp = os.path.join(parent, f".nightfix-write-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    if os.path.isfile(path) and not os.path.islink(path):
        os.chmod(tmp, os.stat(path).st_mode & 0o777)
    os.replace(tmp, path)  # rename never follows a symlink at `path`
    return {"bytes_written": len(data)}


def op_list(s):
    base = inside(s["path"])
    if not os.path.isdir(base):
        raise Refused(f"{rel(s['path'])} is not a directory")
    files: list = []
    size = 0
    for full in walk(base, s.get("glob")):
        name = rel(full)
        size += len(name.encode("utf-8", "surrogateescape")) + 1
        if len(files) >= int(s["limit"]) or size > int(s["max_bytes"]):
            return {"files": files, "truncated": True}
        files.append(name)
    return {"files": files, "truncated": False}


def op_search(s):
    pattern = s["pattern"] if s["regex"] else re.escape(s["pattern"])
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise Refused(f"bad regular expression: {exc}") from None
    matches = []
    for full in walk(inside(s["path"]), s.get("glob")):
        try:
            with open(full, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    if rx.search(line):
                        matches.append({"path": rel(full), "line": n, "text": line.rstrip()[:400]})
                        if len(matches) >= int(s["limit"]):
                            return {"matches": matches, "truncated": True}
        except (UnicodeDecodeError, OSError):
            continue
    return {"matches": matches, "truncated": False}


OPS = {
    "read": op_read,
    "export": op_export,
    "write": op_write,
    "list": op_list,
    "search": op_search,
}
try:
    print(json.dumps({"ok": True, **OPS[spec["op"]](spec)}))
except (Refused, OSError) as exc:
    print(json.dumps({"ok": False, "error": str(exc)}))
