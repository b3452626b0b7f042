"""What a Python repository needs installed to run its tests, read from a commit.

Sources, all on the commit a sandbox is made from:

- ``pyproject.toml``: ``[project].dependencies``, the test extras
  (:data:`EXTRAS`) and the test ``[dependency-groups]`` (PEP 735, with ``include-group``);
- ``setup.py`` / ``setup.cfg``: their metadata is *built* (by the build backend, in a
  network-less container, see :func:`metadata_command`), not parsed by hand;
- top-level ``requirements*.txt`` and operator files, with ``-r`` includes resolved relative
  to the including file; an include outside the repository is refused.

The project's own distribution (PEP 503 name) is never a requirement: a PyPI copy of the
package under test must not shadow the workspace. A requirement on one of its own extras
(``proj[test]``) brings in that extra's requirements instead.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from nightfix_sandbox.errors import ImageError, SandboxError
from nightfix_sandbox.security import check_repo_include

EXTRAS = ("test", "tests", "testing", "dev")
GROUPS = ("test", "tests", "testing", "dev")
MAX_INCLUDES = 64
Reader = Callable[[str], bytes | None]
"""Reads a repository path at the commit; ``None`` when there is no such file."""


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class PythonDeps:
    """Requirements to install, the build requirements, and the project's own name."""

    requirements: list[str] = field(default_factory=list)
    build_requires: list[str] = field(default_factory=list)
    name: str | None = None

    @property
    def installable(self) -> bool:
        """Has a build backend, so the project itself can be installed (editable)."""
        return bool(self.build_requires)

    note: str | None = None
    """What could not be read (the sandbox is made anyway)."""
    needs_metadata: bool = False
    """setup.py / setup.cfg (or dynamic dependencies): metadata must be built to know all."""


def collect(
    read: Reader,
    top_level: list[str],
    extra_files: Sequence[str] = (),
    metadata: Callable[[list[str]], str] | None = None,
) -> PythonDeps:
    """Requirements of the repository behind ``read`` (see the module docstring).

    ``metadata`` builds the project's metadata (a ``pip --report`` JSON) with the given build
    requirements installed; it is called only for a setup.py / setup.cfg project whose
    dependencies pyproject.toml does not list.
    """
    deps = PythonDeps()
    raw: list[str] = []
    pyproject = _pyproject(read)
    project = pyproject.get("project", {})
    deps.name = project.get("name")
    if "build-system" in pyproject:
        build = pyproject["build-system"].get("requires", [])
        deps.build_requires = _with_editable_requires(_strings(build, "build-system.requires"))
    elif "setup.py" in top_level or "setup.cfg" in top_level or project:
        deps.build_requires = ["setuptools", "wheel"]  # pip's default backend
    raw += _strings(project.get("dependencies", []), "project.dependencies")
    extras = project.get("optional-dependencies", {})
    for extra in EXTRAS:
        raw += _strings(extras.get(extra, []), f"optional-dependencies.{extra}")
    raw += dependency_groups(pyproject.get("dependency-groups", {}))
    dynamic = set(project.get("dynamic", []))
    if not project or dynamic & {"dependencies", "optional-dependencies"}:
        deps.needs_metadata = "setup.py" in top_level or "setup.cfg" in top_level
        deps.name = deps.name or _setup_cfg_name(read)
    if deps.needs_metadata and metadata is not None:
        try:
            name, built = from_report(metadata(deps.build_requires))
        except SandboxError as exc:  # the sandbox still works, without those requirements
            deps.note = f"the dependencies in setup.py/setup.cfg could not be read: {exc}"
        else:
            deps.name = deps.name or name
            raw += built
    files = [n for n in top_level if n.startswith("requirements") and n.endswith(".txt")]
    for path in [*sorted(files), *extra_files]:
        raw += requirement_file(read, path)
    deps.requirements = drop_self(raw, deps.name, extras)
    return deps


# What common backends ask for on top of [build-system].requires to build an editable
# install (their get_requires_for_build_editable), which cannot be asked offline.
EDITABLE_REQUIRES = {"hatchling": ["editables"], "setuptools": ["wheel"]}


def _with_editable_requires(build: list[str]) -> list[str]:
    out = list(build)
    for line in build:
        try:
            name = normalize(Requirement(line).name)
        except InvalidRequirement:
            continue
        out += EDITABLE_REQUIRES.get(name, [])
    return out


def _pyproject(read: Reader) -> dict[str, Any]:
    data = read("pyproject.toml")
    if data is None:
        return {}
    try:
        return tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ImageError(f"pyproject.toml of the source does not parse: {exc}") from None


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageError(f"pyproject.toml: {where} must be a list of strings")
    return list(value)


def _setup_cfg_name(read: Reader) -> str | None:
    data = read("setup.cfg")
    if data is None:
        return None
    cfg = configparser.ConfigParser(interpolation=None)
    try:
        cfg.read_string(data.decode("utf-8", "replace"))
    except configparser.Error:
        return None
    return cfg.get("metadata", "name", fallback=None)


def dependency_groups(groups: dict[str, Any]) -> list[str]:
    """The test groups of PEP 735 ``[dependency-groups]``, ``{include-group = ...}`` resolved."""
    wanted = [g for g in groups if normalize(g) in GROUPS]
    out: list[str] = []
    for group in wanted:
        out += _group(groups, group, ())
    return out


def _group(groups: dict[str, Any], name: str, seen: tuple[str, ...]) -> list[str]:
    by_norm = {normalize(k): k for k in groups}
    key = by_norm.get(normalize(name))
    if key is None:
        raise ImageError(f"dependency-groups: include-group {name!r} names no group")
    if normalize(name) in seen:
        raise ImageError(f"dependency-groups: group {name!r} includes itself")
    items = groups[key]
    if not isinstance(items, list):
        raise ImageError(f"dependency-groups: {key!r} must be a list")
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and set(item) == {"include-group"}:
            out += _group(groups, str(item["include-group"]), (*seen, normalize(name)))
        else:
            raise ImageError(f"dependency-groups: {key!r} holds {item!r}; a string or include")
    return out


_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s*=?\s*)(\S+)$")


def requirement_file(read: Reader, path: str, chain: tuple[str, ...] = ()) -> list[str]:
    """Requirement lines of ``path`` and its ``-r`` includes (relative to the including file).

    An include that leaves the repository (absolute, or ``..`` above the root) is refused.
    """
    path = check_repo_include(path, chain[-1] if chain else None)
    if path in chain or len(chain) >= MAX_INCLUDES:
        raise ImageError(f"requirement file {path} includes itself (via {' -> '.join(chain)})")
    data = read(path)
    if data is None:
        where = f" (included from {chain[-1]})" if chain else ""
        raise ImageError(f"requirement file {path}{where} is not in the commit")
    out: list[str] = []
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        include = _INCLUDE.match(line)
        if include:
            out += requirement_file(read, include.group(1), (*chain, path))
        elif not line.startswith("-"):
            out.append(line)
    return out


def drop_self(raw: list[str], name: str | None, extras: dict[str, Any]) -> list[str]:
    """Requirements without the project itself; ``proj[x]`` becomes extra ``x``'s lines."""
    own = normalize(name) if name else None
    out: set[str] = set()
    todo, done = list(raw), set[str]()
    while todo:
        line = todo.pop()
        try:
            req = Requirement(line)
        except InvalidRequirement:
            out.add(line)  # pip gives the precise error when it reads it
            continue
        if own is None or normalize(req.name) != own:
            out.add(line)
            continue
        for extra in req.extras - done:
            done.add(extra)
            todo += [str(r) for r in extras.get(extra, [])]
    return sorted(out)


# -- built metadata (setup.py / setup.cfg) -----------------------------------------------

REPORT = "/tmp/nightfix-metadata.json"  # noqa: S108 (in the throwaway container)


def metadata_command(workspace: str) -> list[str]:
    """Builds the workspace's metadata with the installed backend (no network, no deps)."""
    return [
        "sh",
        "-c",
        'cp -r "$1" /tmp/src && cd /tmp/src && SETUPTOOLS_SCM_PRETEND_VERSION=0+nightfix '
        "python -m pip install --quiet --dry-run "
        "--no-index --no-deps --no-build-isolation --ignore-installed "
        f"--report {REPORT} . >&2 && cat {REPORT}",
        "sh",
        workspace,
    ]


def from_report(report: str) -> tuple[str | None, list[str]]:
    """(name, requirements incl. test extras) from a ``pip install --report`` JSON."""
    try:
        data = json.loads(report)
        meta = data["install"][0]["metadata"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise SandboxError("building the project's metadata gave no report") from None
    reqs: list[str] = []
    for line in meta.get("requires_dist", []):
        req = Requirement(line)
        marker = req.marker
        if marker is not None and "extra" in str(marker):
            if not any(marker.evaluate({"extra": e}) for e in ("", *EXTRAS)):
                continue
            req.marker = None  # the sandbox's pip must not meet an `extra` it has no value for
        reqs.append(str(req))
    return meta.get("name"), reqs


# -- the project itself, installed editable in each sandbox --------------------------------

PROJECT = "/sandbox/.project"
"""Root-owned prefix of the sandbox's editable install (on the sandbox volume)."""
STAGED = "/tmp/nightfix-project"  # noqa: S108 (the sandbox's own tmpfs)
SITE_HOOK = (
    "import glob, site; list(map(site.addsitedir, "
    f"sorted(glob.glob('{PROJECT}/lib/python3*/site-packages'))))"
)
"""The ``.pth`` line of the dependency image that makes :data:`PROJECT` importable."""

# Build requirements are in the image. The workspace is no git checkout (and the base
# repository holds one commit, no tags), so a version from git (hatch-vcs, setuptools-scm)
# is pretended: 0+nightfix.
INSTALL_AS_USER = [
    "sh",
    "-c",
    f"rm -rf {STAGED} && SETUPTOOLS_SCM_PRETEND_VERSION=0+nightfix "
    "exec python -m pip install --quiet --no-index --no-deps --no-build-isolation "
    f"--use-pep517 --disable-pip-version-check --prefix {STAGED} -e /sandbox/workspace",
]
# Copied by root, so the sandbox user cannot later put a .pth there that runs in every
# Python start (a run of record included).
PUBLISH_AS_ROOT = ["cp", "-r", STAGED, PROJECT]


def install_error(output: str) -> str:
    """The line of a failed ``pip install`` that says why (the backend's exception)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for pattern in (r"^\w*(Error|Exception)\b.*:", r"^error:"):
        found = [ln for ln in lines if re.match(pattern, ln)]
        if found:
            return found[-1][:400]
    return lines[-1][:400] if lines else "no output"
