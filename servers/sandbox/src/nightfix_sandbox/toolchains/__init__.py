"""Toolchains: everything the sandbox knows about one language's tests, one module each.

A toolchain says how to recognise a repository of its language, which files are tests and
which are test infrastructure (a fix may not change how tests run), how to build the command
that runs the whole suite or given test files or ids, and how to read its runner's report
into the neutral :class:`~nightfix_sandbox.models.TestResult` list with the runner's real ids.
Nothing outside this package knows which runner a repository uses: the client gets the
toolchain's :class:`~nightfix_sandbox.models.ToolchainInfo` from ``create_sandbox`` and asks
``run_tests`` for files or ids.

Adding a language is one module here plus its tests, registered in :data:`TOOLCHAINS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
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


COMMON_PROTECTED = [".nightfix/"]
"""Protected in every language: the repository's own description of its sandbox."""

TOOLCHAINS: dict[str, str] = {"python": "nightfix_sandbox.toolchains.python.PythonToolchain"}
"""Toolchain name -> class (dotted path); the first that detects a repository is used."""


def get(name: str) -> Toolchain:
    """The toolchain called ``name``; unknown names are a clear error."""
    if name not in TOOLCHAINS:
        known = ", ".join(sorted(TOOLCHAINS))
        raise SandboxError(f"unknown toolchain {name!r}; known toolchains: {known}")
    module, _, cls = TOOLCHAINS[name].rpartition(".")
    chain: Toolchain = getattr(importlib.import_module(module), cls)()
    return chain


def detect(files: Iterable[str], pinned: str | None = None) -> Toolchain:
    """The toolchain ``pinned`` by the operator, else the first whose ``detect`` says yes,
    else Python (today's only one, and the default)."""
    if pinned:
        return get(pinned)
    names = list(files)
    for name in TOOLCHAINS:
        chain = get(name)
        if chain.detect(names):
            return chain
    return get("python")
