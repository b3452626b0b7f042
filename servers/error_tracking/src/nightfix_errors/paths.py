"""Stack frame paths as repository paths, so a model can open the file a frame names.

SDKs report where the code ran, not where it lives in the repository: `@sentry/node` gives
absolute deploy paths (`/srv/app/dist/db/connection.js`, or `/srv/app/src/db/connection.ts`
with `node --enable-source-maps`), `sentry-go` absolute GOPATH or module paths
(`/go/src/example.com/inventory/stock/stock.go`). The collector rewrites an in-app frame's
`filename` to a repository path and keeps what the SDK sent in `abs_path`:

1. the project's path map (`nightfix-errors project paths NAME --map FROM=TO`), first
   matching prefix wins: `/srv/app/=` turns `/srv/app/src/x.ts` into `src/x.ts`;
2. else, for Go, the frame's package (`module`) locates the file: the package path is cut out
   of the file path and the Go module name (`github.com/org/repo`: three segments on the
   known hosts, two for another domain such as `example.com/inventory`, one without a dot)
   is removed from it, so `/go/src/example.com/inventory/stock/stock.go` becomes
   `stock/stock.go`;
3. else, for JavaScript, an absolute path is cut at its first conventional root directory
   (`src`, `dist`, `build`, `out`; else `lib`): `/srv/app/dist/db/connection.js` becomes
   `dist/db/connection.js`. A deploy path with such a name above the repository
   (`/home/src/shop/src/x.ts`) needs a path map.

The rules leave Python frames alone (sentry-python already sends module-relative filenames);
a path map applies to every platform.
"""

from __future__ import annotations

import posixpath
from typing import Any

PathMap = list[tuple[str, str]]
JS_ROOTS = ("src", "dist", "build", "out")
JS_LAST_RESORT_ROOT = "lib"  # also a system directory (/usr/local/lib): tried after the others
GO_HOSTS_WITH_OWNER = ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org", "gitee.com")
JS_PLATFORMS = frozenset({"javascript", "node", "react-native"})


def parse_mapping(text: str) -> tuple[str, str]:
    """`FROM=TO` (TO may be empty: strip FROM); raises ValueError saying what is wrong."""
    source, sep, target = text.partition("=")
    if not sep or not source:
        raise ValueError(f"path mapping {text[:200]!r} must look like FROM=TO, e.g. /srv/app/=")
    return source, target


def _mapped(path: str, path_map: PathMap) -> str | None:
    for source, target in path_map:
        if path.startswith(source):
            return target + path[len(source) :]
    return None


def go_module_name(package: str) -> str:
    """The Go module a package most likely belongs to (see the module docstring)."""
    parts = package.split("/")
    if "." not in parts[0]:
        return parts[0]
    count = 3 if parts[0] in GO_HOSTS_WITH_OWNER else 2
    return "/".join(parts[:count])


def _go_path(path: str, package: str | None) -> str | None:
    if not package:
        return None
    directory, name = posixpath.split(path)
    if not (directory == package or directory.endswith("/" + package)):
        return None
    inside = package[len(go_module_name(package)) :].strip("/")
    return posixpath.join(inside, name) if inside else name


def _js_path(path: str) -> str | None:
    if path.startswith("file://"):
        path = path[len("file://") :]
    if not path.startswith("/"):
        return None
    parts = path.split("/")
    for roots in (JS_ROOTS, (JS_LAST_RESORT_ROOT,)):
        for i, part in enumerate(parts[:-1]):
            if part in roots:
                return "/".join(parts[i:])
    return None


def repository_path(
    path: str | None, platform: str | None, package: str | None, path_map: PathMap
) -> str | None:
    """The repository path of an in-app frame's file, or None to keep what the SDK sent."""
    if not path:
        return None
    mapped = _mapped(path, path_map)
    if mapped is not None:
        return mapped.lstrip("/") or path
    if platform == "go":
        return _go_path(path, package)
    if platform in JS_PLATFORMS:
        return _js_path(path)
    return None


def place_in_repository(frames: list[dict[str, Any]]) -> None:
    """Second pass over an event's frames, once some in-app frames were placed by the rules
    above: their repository root (the path minus the repository path) places the other in-app
    frames under the same root (a Go `package main` file, whose package says nothing of where
    it lives); an in-app frame with an absolute path outside every root is not the service's
    code (a wrapper or driver deployed beside it) and becomes a library frame."""
    roots = {
        f["abs_path"][: -len(f["filename"])]
        for f in frames
        if f.get("in_app")
        and f.get("abs_path")
        and f.get("filename")
        and f["abs_path"] != f["filename"]
        and f["abs_path"].endswith("/" + f["filename"])
    }
    if not roots:
        return
    for f in frames:
        path = f.get("abs_path") or f.get("filename")
        placed = f.get("filename") not in (None, path)
        if not f.get("in_app") or not path or placed:
            continue
        root = next((r for r in roots if path.startswith(r)), None)
        if root is not None:
            f["filename"], f["abs_path"] = path[len(root) :], path
        elif path.startswith("/"):
            f["in_app"] = False


def is_build_output(path: str) -> bool:
    """A JavaScript file under a build directory: a compiled file, not the source."""
    parts = path.split("/")
    return path.endswith((".js", ".cjs", ".mjs")) and any(
        p in ("dist", "build", "out") for p in parts
    )
