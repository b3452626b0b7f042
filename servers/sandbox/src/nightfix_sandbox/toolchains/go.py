"""Go: ``go test -json`` for the whole module, for test files or for test ids.

The run of record is ``go test -json -count=1 -vet=off`` with its stream redirected to the
report (a test's own output reaches it only inside ``output`` events, see
:mod:`~nightfix_sandbox.toolchains.gotest`). Its environment is ours, whatever the
repository's sandbox file says: no proxy, no toolchain download, no ``go.work``, no user
``go env`` file, ``GOFLAGS`` set by us (``-mod=vendor`` when ``vendor/`` exists), cgo only
when the image has a C compiler. The build cache, Go's temporary directory (where test
binaries are written and run) and ``GOPATH`` live under :data:`GO_HOME`, on the sandbox's
own disk: ``/tmp`` is mounted ``noexec``, and the workspace would show them in ``diff``.

Selection: a test file (``stock/stock_test.go``) runs its package with ``-run`` set to the
``Test``/``Example``/``Fuzz`` functions the file declares (read in the sandbox when the run
starts), so the results are that file's tests; the package is still compiled whole, so a
build error anywhere in it is an ``error`` for the selection. An id
(``example.com/inv/stock::TestReserve/sub``) runs its package with ``-run`` of its top-level
test; a subtest id runs the whole top-level test (subtests are made at run time, and the
parent's outcome depends on them).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from nightfix_sandbox.config import TOOL_CACHE
from nightfix_sandbox.models import ToolchainInfo
from nightfix_sandbox.toolchains import (
    COMMON_PROTECTED,
    CommitFiles,
    Dependencies,
    Offline,
    Parsed,
    RunPlan,
    RuntimeLayer,
    custom,
    go_layers,
    gotest,
)

GO_HOME = f"{TOOL_CACHE}/go"
"""Per-sandbox Go state, outside the workspace and on an exec-allowed filesystem."""
GO = "go test -json -count=1 -vet=off"
ENV = {
    "GOCACHE": f"{GO_HOME}/cache",
    "GOTMPDIR": f"{GO_HOME}/build",
    "GOPATH": f"{GO_HOME}/path",
    "GOPROXY": "off",
    "GOSUMDB": "off",
    "GOTOOLCHAIN": "local",
    "GOWORK": "off",
    "GOENV": "off",
    "GOTELEMETRY": "off",
    "GOFLAGS": "",
}
_PROXY = go_layers.MODULE_PROXY
_WARM = go_layers.WARM
# Shell prologue: the directories (the build cache from the image's warm copy), vendoring
# and cgo, decided in the sandbox itself.
PROLOGUE = (
    f"mkdir -p {GO_HOME} && "
    f'if [ ! -d "$GOCACHE" ] && [ -d {_WARM} ]; then cp -r {_WARM} "$GOCACHE"; fi && '
    f'mkdir -p "$GOCACHE" "$GOTMPDIR" "$GOPATH" && '
    "if [ -f vendor/modules.txt ]; then export GOFLAGS=-mod=vendor; fi && "
    f"if [ -d {_PROXY} ]; then export GOPROXY=file://{_PROXY}; fi && "
    'if command -v "${CC:-gcc}" >/dev/null 2>&1; then export CGO_ENABLED=1; '
    "else export CGO_ENABLED=0; fi"
)

INFO = ToolchainInfo(
    name="go",
    test_globs=["**/*_test.go", "**/testdata/**"],
    # go.mod/go.sum: with no network and vendor/ protected a dependency change cannot build
    # anyway, and go.mod carries `toolchain`, `godebug` and `replace` directives that change
    # how tests build and run. go.work would swap modules under the tests.
    protected_paths=[*COMMON_PROTECTED, "go.mod", "go.sum", "go.work", "go.work.sum", "vendor/"],
    runner_internals=[
        r"\btesting\.Testing\s*\(",  # production code that behaves differently under test
        r'^\s*(import\s+)?(\w+\s+)?"testing(/\w+)*"',
    ],
    tamper_patterns=[
        r"\bTestMain\s*\(",
        r"\btesting\.M\b",
        r"\bsyscall\.Exit\b",
        r"\bunix\.Exit\b",
        r'"-?test\.[a-z]\w*',  # the test binary's own flags: flag.Set("test.run", ...)
        r"\bGO(FLAGS|TOOLCHAIN|ENV|WORK|PROXY|CACHE|TMPDIR)\b",
    ],
    disable_markers=[
        r"\.\s*Skip(Now|f)?\s*\(",
        r"^\s*//\s*go:build\b",
        r"^\s*//\s*\+build\b",
    ],
)


class GoToolchain:
    name = "go"

    def detect(self, files: Iterable[str]) -> bool:
        return "go.mod" in set(files)

    def info(self) -> ToolchainInfo:
        return INFO

    def runtime(self) -> RuntimeLayer:
        return go_layers.runtime()

    def dependencies(self, commit: CommitFiles, offline: Offline) -> Dependencies:
        return go_layers.dependencies(commit.read, commit.top_level)

    def plan(self, command: str | None, tests: list[str], report: str) -> RunPlan:
        if command:
            return custom.plan(command, tests, report)
        setup, line = selection(tests) if tests else ("", f"{GO} ./...")
        steps = " && ".join(s for s in (PROLOGUE, setup) if s)
        # Appending (O_APPEND): what a test adds to the report cannot overwrite go's own lines,
        # so a forgery shows up as a contradiction (see gotest.check_events_consistent).
        run = f"{steps} && exec {line} >> {shlex.quote(report)}"
        return RunPlan(run, dict(ENV), runner="go")

    def read(self, plan: RunPlan, report: bytes, output: str, exit_code: int) -> Parsed:
        if plan.runner != "go":
            return custom.read(report, exit_code)
        if not report.strip():
            if exit_code != 0:
                said = output.strip().splitlines()[-1:] or ["no output"]
                return Parsed(
                    [], f"go test failed before any package ran: {said[0]}", ("runner_error")
                )
            return Parsed([], "go test wrote no events", "missing")
        try:
            stream = gotest.parse(report)
        except gotest.ReportError as exc:
            return Parsed([], str(exc), "unparsable")
        found = gotest.results(stream)
        problem, status = gotest.check(stream, found, exit_code)
        return Parsed(found, problem, status)


def selection(tests: list[str]) -> tuple[str, str]:
    """(shell setup, ``go test`` line) for ``tests``: ids, test files, or whole packages.

    ``pkg::Test/sub`` runs ``pkg`` with ``-run`` of ``Test``; ``dir/x_test.go`` runs ``./dir``
    with ``-run`` of the functions it declares; a file under ``testdata/`` (any test of its
    package may read it), another ``.go`` file, or a package path runs that package whole —
    and then, ``-run`` being one pattern for every package, the others whole as well.
    """
    packages: list[str] = []
    names: list[str] = []
    files: list[str] = []
    whole = False
    for test in tests:
        if "::" in test:
            package, _, name = test.partition("::")
            packages.append(package)
            names.append(re.escape(name.split("/", 1)[0]))
        elif test.endswith("_test.go") and "testdata" not in test.split("/"):
            packages.append(_directory(test))
            files.append(test)
        else:
            parts = test.split("/")
            if "testdata" in parts:
                packages.append(_package_dir(parts[: parts.index("testdata")]))
            elif test.endswith(".go"):
                packages.append(_directory(test))
            else:
                packages.append(test)
            whole = True
    pkgs = " ".join(shlex.quote(p) for p in dict.fromkeys(packages))
    if whole:
        return "", f"{GO} {pkgs}"
    if not files:
        pattern = "^(" + "|".join(dict.fromkeys(names)) + ")$"
        return "", f"{GO} -run {shlex.quote(pattern)} {pkgs}"
    # Test functions of the files, read in the sandbox (the host never sees the workspace).
    listed = " ".join(shlex.quote(f) for f in files)
    fixed = "|".join(dict.fromkeys(names))
    setup = (
        f"names=$(sed -n 's/^func \\(\\(Test\\|Example\\|Fuzz\\)[A-Za-z0-9_]*\\)(.*/\\1/p' "
        f"{listed} | sort -u | paste -sd'|' -) && "
        f'names="${{names}}{"|" + fixed if fixed else ""}"'
    )
    return setup, f'{GO} -run "^(${{names}})\\$" {pkgs}'


def _directory(path: str) -> str:
    return _package_dir(path.split("/")[:-1])


def _package_dir(parts: list[str]) -> str:
    """``./a/b`` for a workspace directory (``.`` for the root), as ``go test`` takes it."""
    return "./" + "/".join(parts) if parts else "."
