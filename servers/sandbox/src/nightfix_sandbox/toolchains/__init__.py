"""Toolchains: everything the sandbox knows about one language's tests, one module each.

A toolchain says how to recognise a repository of its language, which files are tests and
which are test infrastructure (a fix may not change how tests run), how to build the command
that runs the whole suite or given test files or ids, and how to read its runner's report
into the neutral :class:`~nightfix_sandbox.models.TestResult` list with the runner's real ids.
Nothing outside this package knows which runner a repository uses: the client gets the
toolchain's :class:`~nightfix_sandbox.models.ToolchainInfo` from ``create_sandbox`` and asks
``run_tests`` for files or ids.

A toolchain also says how its sandbox image is made, in two layers on the base image (which
always keeps what nightfix's in-container supervisor needs): its **runtime layer**
(:class:`RuntimeLayer`, fetched on the host and installed with no network) and its
**dependency step** (:class:`Dependencies`, read from the commit's files and keyed by a hash of
the lockfiles, so a second sandbox of the same lockfile reuses the image). The image builder
(:class:`~nightfix_sandbox.deps.DependencyImages`) is the only part that speaks to the
container engine.

Adding a language is one module here plus its tests, registered in :data:`TOOLCHAINS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nightfix_sandbox.errors import SandboxError
from nightfix_sandbox.models import TestResult, ToolchainInfo


@dataclass(frozen=True)
class RunPlan:
    """How one run_tests call runs: the shell command, its environment, how to read it."""

    command: str
    env: dict[str, str] = field(default_factory=dict)
    runner: str = "custom"
    """The runner whose exit status and summary :meth:`Toolchain.check` knows."""


@dataclass
class Parsed:
    """A runner's report, read: one result per test id, plus what the runner said of itself."""

    results: list[TestResult]
    problem: str | None = None
    """Why the report cannot be believed (``None``: consistent with exit status and summary)."""
    status: str = "ok"
    """``ok``, ``missing``, ``unparsable``, ``inconsistent`` or ``runner_error``."""


@dataclass(frozen=True)
class RuntimeLayer:
    """How a toolchain's runtime gets into an image made from the base image, with no network.

    ``key`` empty means the base image has it already (Python). Otherwise ``fetch`` fills a
    host directory (e.g. wheels from ``pip download --only-binary=:all:``), called only when
    the layer is not built yet; ``install`` is a shell script run as root with that directory at
    :data:`RUNTIME_FILES` and no network; ``path`` are directories put in front of ``PATH``.
    The layer is cached by ``key`` (and the base image it was built on).
    """

    key: str = ""
    fetch: Callable[[Path], None] | None = None
    install: str = ""
    path: tuple[str, ...] = ()


RUNTIME_FILES = "/tmp/nightfix-runtime"  # noqa: S108 - inside the image build, removed after
"""Where a runtime layer's fetched files are while its ``install`` runs."""
NO_RUNTIME = RuntimeLayer()


@dataclass(frozen=True)
class CommitFiles:
    """The commit a sandbox is made from, as a toolchain's dependency step reads it."""

    read: Callable[[str], bytes | None]
    """A repository path's bytes at the commit; ``None`` when it has no such file."""
    top_level: list[str]
    snapshot: Callable[[], bytes]
    """The sandbox's tar of the commit (``workspace/`` + base git)."""
    requirement_files: list[str] = field(default_factory=list)
    """Extra dependency files named by the operator or ``.nightfix/sandbox.yaml``."""
    trusted_install: bool = False
    """The operator lets the ecosystem's installer run the project's own install scripts
    (npm lifecycle scripts) on the host for this source; off by default."""


Offline = Callable[[list[str], list[str]], tuple[int, str]]
"""``offline(requirements, command)``: run ``command`` as the sandbox user in a throwaway,
network-less sandbox of the base image plus those Python requirement lines, with the commit at
``/sandbox/workspace``; returns (exit code, stdout — or stderr when it failed). Repository code
that must run to learn the dependencies (a ``setup.py``) runs there, never on the host."""


@dataclass
class Dependencies:
    """What a commit needs brought into its image, as its toolchain found it.

    Either (or both): ``requirements``, Python requirement lines installed from wheels fetched
    on the host; and ``fill``, which builds a host directory with the ecosystem's own tool
    (called only when no image for ``key`` exists yet), copied into the image at ``target``.
    """

    requirements: list[str] = field(default_factory=list)
    site_hook: str | None = None
    """One ``.pth`` line put into the image's site-packages (Python only)."""
    key: str = ""
    """A hash of the lockfiles ``fill`` installs from ("" when there is no ``fill``)."""
    fill: Callable[[Path], None] | None = None
    target: str = ""
    """Absolute path in the image where ``fill``'s directory goes (owned by the sandbox user)."""
    installable: bool = False
    """The project itself can be installed in each new sandbox (Python: ``pip install -e``)."""
    note: str | None = None
    """What could not be read or installed (the sandbox is made anyway); ``setup_note``."""


class Toolchain(Protocol):
    name: str

    def detect(self, files: Iterable[str]) -> bool:
        """Does a repository with these top-level file names use this toolchain?"""
        ...

    def info(self) -> ToolchainInfo:
        """Test globs and test-infrastructure rules, as ``create_sandbox`` reports them."""
        ...

    def plan(self, command: str | None, tests: list[str], report: str) -> RunPlan:
        """The run of record for ``tests`` (empty: the whole suite), its report at ``report``."""
        ...

    def read(self, plan: RunPlan, report: bytes, output: str, exit_code: int) -> Parsed:
        """Results by id from the report, cross-checked against exit status and summary."""
        ...

    def runtime(self) -> RuntimeLayer:
        """The image layer with this language's runtime (:data:`NO_RUNTIME`: the base has it)."""
        ...

    def dependencies(self, commit: CommitFiles, offline: Offline) -> Dependencies:
        """What the commit's project needs in its image, read from its files."""
        ...


COMMON_PROTECTED = [".nightfix/"]
"""Protected in every language: the repository's own description of its sandbox."""

TOOLCHAINS: dict[str, str] = {
    "go": "nightfix_sandbox.toolchains.go.GoToolchain",
    "node": "nightfix_sandbox.toolchains.node.NodeToolchain",
    "python": "nightfix_sandbox.toolchains.python.PythonToolchain",
}
"""Toolchain name -> class (dotted path); the first that detects a repository is used."""


def get(name: str) -> Toolchain:
    """The toolchain called ``name``; unknown names are a clear error."""
    if name not in TOOLCHAINS:
        known = ", ".join(sorted(TOOLCHAINS))
        raise SandboxError(f"unknown toolchain {name!r}; known toolchains: {known}")
    module, _, cls = TOOLCHAINS[name].rpartition(".")
    chain: Toolchain = getattr(importlib.import_module(module), cls)()
    return chain


def for_commit(chain: Toolchain, commit: CommitFiles) -> Toolchain:
    """``chain`` for one commit. A toolchain that needs more of the commit than its top-level
    names (Node: the runner, from ``package.json``) may define ``bind(commit)``, returning
    itself configured; the others are used as they are."""
    bind = getattr(chain, "bind", None)
    if bind is None:
        return chain
    bound: Toolchain = bind(commit)
    return bound


def detect(files: Iterable[str], pinned: str | None = None) -> Toolchain:
    """The toolchain ``pinned`` by the operator, else the first whose ``detect`` says yes,
    else Python (the default)."""
    if pinned:
        return get(pinned)
    names = list(files)
    for name in TOOLCHAINS:
        chain = get(name)
        if chain.detect(names):
            return chain
    return get("python")
