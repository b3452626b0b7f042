"""Python: pytest (JUnit XML, xunit1 ids with file paths) or an operator's own command."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from nightfix_sandbox.config import WORKSPACE
from nightfix_sandbox.errors import SandboxError
from nightfix_sandbox.models import TestResult, ToolchainInfo
from nightfix_sandbox.toolchains import (
    COMMON_PROTECTED,
    NO_RUNTIME,
    CommitFiles,
    Dependencies,
    Offline,
    Parsed,
    RunPlan,
    RuntimeLayer,
    custom,
    junit,
    python_deps,
)

# Our options come last, so they win over the repository's `addopts`; the environment
# variables pytest reads for extra options and plugins are emptied.
PYTEST = "python -m pytest -q"
OPTIONS = "-p no:cacheprovider -o junit_family=xunit1 -o junit_logging=no"
ENV = {"PYTEST_ADDOPTS": "", "PYTEST_PLUGINS": ""}
_SUMMARY_LINE = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s")
_COUNT = re.compile(r"(\d+) (\w+)")
_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "pytest.ini")

INFO = ToolchainInfo(
    name="python",
    test_globs=["**/tests/**", "**/test/**", "test_*.py", "*_test.py", "test.py"],
    protected_paths=[
        *COMMON_PROTECTED,
        "conftest.py",
        "pytest.ini",
        "tox.ini",
        "setup.cfg",
        "setup.py",
        "noxfile.py",
        "sitecustomize.py",
        "usercustomize.py",
        "*.pth",
    ],
    protected_tables={
        "pyproject.toml": [
            "tool.pytest",
            "tool.tox",
            "tool.coverage",
            "tool.hatch.envs",
            "project.entry-points.pytest11",
        ]
    },
    runner_internals=[
        r"^\s*(import|from)\s+(_?pytest|pluggy)\b",
        r"\bdef\s+pytest_\w+\s*\(",
    ],
    tamper_patterns=[
        r"\b_pytest\b",
        r"\bpluggy\b",
        r"\bpytest_plugins\b",
        r"\bPYTEST_(ADDOPTS|PLUGINS|DISABLE_PLUGIN_AUTOLOAD)\b",
        r"(?i)junit",
    ],
    disable_markers=[
        r"@pytest\.mark\.(skip|skipif|xfail)\b",
        r"\bpytest\.(skip|xfail|importorskip)\s*\(",
        r"\bpytestmark\s*=",
        r"@unittest\.(skip|skipIf|skipUnless|expectedFailure)\b",
        r"\bunittest\.SkipTest\b",
        r"\.skipTest\s*\(",
    ],
)


def is_pytest(command: str) -> bool:
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return any(w == "pytest" or w.endswith("/pytest") for w in words)


class PythonToolchain:
    name = "python"

    def detect(self, files: Iterable[str]) -> bool:
        names = set(files)
        return any(m in names for m in _MARKERS) or any(n.endswith(".py") for n in names)

    def info(self) -> ToolchainInfo:
        return INFO

    def plan(self, command: str | None, tests: list[str], report: str) -> RunPlan:
        base = command or PYTEST
        if not is_pytest(base):
            return custom.plan(base, tests, report)
        selected = " ".join(shlex.quote(t) for t in tests)
        line = f"{base} {OPTIONS} --junitxml={shlex.quote(report)}"
        return RunPlan(f"{line} {selected}".strip(), dict(ENV), runner="pytest")

    def read(self, plan: RunPlan, report: bytes, output: str, exit_code: int) -> Parsed:
        if plan.runner != "pytest":
            return custom.read(report, exit_code)
        if not report.strip():
            return Parsed([], "the runner wrote no JUnit report", "missing")
        try:
            results = [_first_real_error(r) for r in junit.parse(report, pytest_id)]
        except junit.ReportError as exc:
            return Parsed([], str(exc), "unparsable")
        problem, status = _check(results, output, exit_code)  # against pytest's own counts
        return Parsed([_import_failure_is_an_error(r) for r in results], problem, status)

    def runtime(self) -> RuntimeLayer:
        return NO_RUNTIME  # the base image is a Python image

    def dependencies(self, commit: CommitFiles, offline: Offline) -> Dependencies:
        """Requirements from the commit (see :mod:`.python_deps`); setup.py metadata is built
        offline, in a sandbox of the base image plus the build requirements."""

        def metadata(build_requires: list[str]) -> str:
            code, out = offline(build_requires, python_deps.metadata_command(WORKSPACE))
            if code != 0:
                raise SandboxError(
                    f"building its metadata failed: {python_deps.install_error(out)}"
                )
            return out

        found = python_deps.collect(
            commit.read, commit.top_level, commit.requirement_files, metadata=metadata
        )
        return Dependencies(
            requirements=found.requirements + found.build_requires,
            site_hook=python_deps.SITE_HOOK,
            installable=found.installable,
            note=found.note,
        )


def pytest_id(attrs: dict[str, str]) -> str:
    """pytest's node id from an xunit1 ``<testcase>``: ``tests/test_x.py::TestK::test_y``.

    A collection error has an empty classname and the module as name; its id is the file.
    """
    path, classname, name = attrs.get("file", ""), attrs.get("classname", ""), attrs.get("name", "")
    if not path:
        return junit.plain_id(attrs)
    if not classname:
        return path
    module = path.removesuffix(".py").replace("/", ".")
    parts = classname.split(".")
    stem = module.rsplit(".", 1)[-1]
    if classname == module or classname.startswith(module + "."):
        inner = classname[len(module) :].lstrip(".")
    elif stem in parts:
        inner = ".".join(parts[parts.index(stem) + 1 :])
    else:
        inner = ""
    return "::".join(p for p in (path, *inner.split("."), name) if p)


def _first_real_error(result: TestResult) -> TestResult:
    """pytest says only "collection failure"; the real error is the traceback's last ``E`` line
    (``ModuleNotFoundError: No module named 'text_unidecode'``)."""
    if result.outcome != "error" or result.exception:
        return result
    lines = [ln[1:].strip() for ln in result.detail.splitlines() if ln.startswith("E ")]
    if not lines:
        return result
    return result.model_copy(
        update={
            "message": lines[-1][: junit.MAX_MESSAGE],
            "exception": junit.exception_type(lines[-1]),
        }
    )


_MISSING_NAME = re.compile(r"^AttributeError: module '[\w.]+' has no attribute ")


def _import_failure_is_an_error(result: TestResult) -> TestResult:
    """A test body that fails because an import or a module attribute is missing fails for
    want of code, not because of the behaviour it checks (a "regression test" that only
    imports what the fix adds): an ``error``, like a failed import at collection."""
    if result.outcome != "failed":
        return result
    missing = result.exception in ("ImportError", "ModuleNotFoundError") or bool(
        _MISSING_NAME.match(result.message)
    )
    return result.model_copy(update={"outcome": "error"}) if missing else result


def _check(results: list[TestResult], output: str, exit_code: int) -> tuple[str | None, str]:
    """Does the report agree with pytest's exit status and its own summary line?"""
    counts = {o: sum(r.outcome == o for r in results) for o in ("passed", "failed", "error")}
    bad = counts["failed"] + counts["error"]
    if exit_code in (3, 4):
        return f"pytest stopped with an internal or usage error (exit {exit_code})", "runner_error"
    if exit_code == 5:
        return ("pytest collected no tests", "ok") if not results else _mismatch(exit_code)
    if exit_code not in (0, 1, 2):
        return f"pytest ended with exit status {exit_code} (killed or crashed)", "runner_error"
    if exit_code == 2:
        if not counts["error"]:
            return _mismatch(exit_code, counts)
        first = next(r for r in results if r.outcome == "error")
        return (
            f"pytest was interrupted by {counts['error']} error(s) during collection "
            f"(first: {first.test_id}: {first.message})",
            "runner_error",
        )
    if (exit_code == 0) == (bad > 0):
        return _mismatch(exit_code, counts)
    summary = summary_counts(output)
    if summary is None:
        return "pytest printed no summary line to check the report against", "inconsistent"
    said_bad = summary.get("failed", 0) + summary.get("error", 0) + summary.get("errors", 0)
    said_passed = summary.get("passed", 0) + summary.get("xpassed", 0)
    if said_bad != bad or said_passed != counts["passed"]:
        return (
            f"the report ({counts['passed']} passed, {bad} failed or errors) disagrees with "
            f"pytest's summary ({said_passed} passed, {said_bad} failed or errors)",
            "inconsistent",
        )
    return None, "ok"


def _mismatch(exit_code: int, counts: dict[str, int] | None = None) -> tuple[str, str]:
    shown = ""
    if counts:
        shown = f" ({counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors)"
    return f"the report{shown} disagrees with pytest's exit status {exit_code}", "inconsistent"


def summary_counts(output: str) -> dict[str, int] | None:
    """``3 failed, 4 passed, 1 xfailed in 0.04s`` -> counts; ``None`` when there is no line."""
    for line in reversed(output[-4000:].splitlines()):
        match = _SUMMARY_LINE.match(line.strip())
        if match:
            return {word: int(n) for n, word in _COUNT.findall(match.group(1))}
    return None
