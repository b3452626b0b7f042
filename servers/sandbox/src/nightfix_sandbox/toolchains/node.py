"""TypeScript/JavaScript: vitest, jest, mocha or ``node:test``, chosen from ``package.json``.

The runner is the one the ``test`` script names, else the first of vitest, jest, mocha among
the dependencies, else Node's own ``node --test``. The run of record calls the runner's own
entry point from the installed packages (``/node_modules``), never the ``test`` script, with
nightfix's reporter options last on the command line (command-line options win over the
repository's configuration, so its config cannot redirect or replace the report), and is
cross-checked against the runner's exit status and the summary it prints.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from nightfix_sandbox.models import TestResult, ToolchainInfo
from nightfix_sandbox.toolchains import (
    COMMON_PROTECTED,
    CommitFiles,
    Dependencies,
    Offline,
    Parsed,
    RunPlan,
    RuntimeLayer,
    custom,
    node_deps,
)
from nightfix_sandbox.toolchains import node_reports as reports

RUNNERS = ("vitest", "jest", "mocha", "node-test")
M = node_deps.MODULES
SHADOW_EXIT = node_deps.SHADOW_EXIT
PYTHON_PROJECT = {"pyproject.toml", "setup.py", "setup.cfg"}
ENV = {"CI": "true", "NO_COLOR": "1", "FORCE_COLOR": "0"}

INFO = ToolchainInfo(
    name="node",
    test_globs=[
        "*.test.*",
        "*.spec.*",
        "*_test.*",
        "**/__tests__/**",
        "**/test/**",
        "**/tests/**",
    ],
    protected_paths=[
        *COMMON_PROTECTED,
        "package.json",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "pnpm-lock.yaml",
        "pnpm-workspace.yaml",
        ".pnpmfile.cjs",
        "yarn.lock",
        ".yarnrc",
        ".yarnrc.yml",
        ".npmrc",
        "node_modules/",
        "vitest.config.*",
        "vitest.workspace.*",
        "vitest.setup.*",
        "vite.config.*",
        "jest.config.*",
        "jest.setup.*",
        "jest.preset.*",
        "setupTests.*",
        ".mocharc*",
        "babel.config.*",
        ".babelrc*",
        "tsconfig*.json",
        ".swcrc",
    ],
    protected_tables={},
    runner_internals=[
        r"""\b(require\s*\(|from\s+|import\s*\()\s*['"](vitest/(node|runners|suite)|@vitest/"""
        r"""(runner|snapshot)|jest-circus|@jest/(core|reporters|test-result)|mocha/lib)\b""",
    ],
    tamper_patterns=[
        r"\boutputFile\b",
        r"\breporters?\s*[:=]",
        r"\btestResultsProcessor\b",
        r"--test-reporter",
        r"(?i)\bjunit\b",
        r"\bVITEST_\w+|\bJEST_WORKER_ID\b",
    ],
    disable_markers=[
        r"\b(it|test|describe|suite|context|specify)\s*\.\s*(skip|only|todo|skipIf|runIf|fails|failing|concurrent\.skip)\b",
        r"\b(xit|xtest|xdescribe|xcontext|xspecify|fit|fdescribe)\s*\(",
        r"\bthis\.skip\s*\(",
        r"\b(t|ctx|context)\.(skip|todo)\s*\(",
        r"\{\s*(skip|todo|only)\s*:",
    ],
)


def choose_runner(package: dict[str, object]) -> str:
    """The runner the ``test`` script names, else the first one among the dependencies."""
    scripts = package.get("scripts")
    script = scripts.get("test", "") if isinstance(scripts, dict) else ""
    words = str(script)
    for name in ("vitest", "jest", "mocha"):
        if re.search(rf"(^|[\s/]){name}(\s|$)", words):
            return name
    if re.search(r"\bnode\b.*\s--test\b", words):
        return "node-test"
    declared: set[str] = set()
    for field in ("devDependencies", "dependencies"):
        deps = package.get(field)
        if isinstance(deps, dict):
            declared |= set(deps)
    return next((r for r in ("vitest", "jest", "mocha") if r in declared), "node-test")


class NodeToolchain:
    name = "node"

    def __init__(self, runner: str = "node-test") -> None:
        self.runner = runner
        self.allow_scripts = False

    def detect(self, files: Iterable[str]) -> bool:
        """``package.json`` at the top, and no Python project beside it (pin to choose)."""
        names = set(files)
        return "package.json" in names and not names & PYTHON_PROJECT

    def bind(self, commit: CommitFiles) -> NodeToolchain:
        """This toolchain for one commit: its runner, chosen from its ``package.json``."""
        bound = NodeToolchain(choose_runner(node_deps.package_json(commit)))
        bound.allow_scripts = commit.trusted_install
        return bound

    def info(self) -> ToolchainInfo:
        return INFO

    def runtime(self) -> RuntimeLayer:
        return node_deps.runtime()

    def dependencies(self, commit: CommitFiles, offline: Offline) -> Dependencies:
        return node_deps.dependencies(commit, allow_scripts=commit.trusted_install)

    def plan(self, command: str | None, tests: list[str], report: str) -> RunPlan:
        if command:
            return custom.plan(command, tests, report)
        files, pattern = selection(tests, self.runner)
        line = " ".join([node_deps.GUARD, *argv(self.runner, files, pattern, report)])
        return RunPlan(line, dict(ENV), runner=self.runner)

    def read(self, plan: RunPlan, report: bytes, output: str, exit_code: int) -> Parsed:
        if plan.runner not in RUNNERS:
            return custom.read(report, exit_code)
        return read_report(plan.runner, report, output, exit_code)


def read_report(
    runner: str, report: bytes, output: str, exit_code: int, root: str = reports.ROOT
) -> Parsed:
    """``runner``'s report (its files under ``root``), cross-checked by :func:`check`."""
    if exit_code == SHADOW_EXIT and "nightfix: the workspace holds" in output:
        return Parsed([], "the workspace holds its own node_modules packages", "runner_error")
    if not report.strip():
        lines = [ln.strip() for ln in reports.clean(output).splitlines() if ln.strip()]
        last = lines[-1] if lines else "no output"
        said = next((ln for ln in lines if re.search(r"\w*Error\b", ln)), last)
        return Parsed([], f"{runner} wrote no report (exit {exit_code}): {said[:300]}", "missing")
    try:
        results = _parse(runner, report, root)
    except reports.ReportError as exc:
        return Parsed([], str(exc), "unparsable")
    problem, status = check(runner, results, output, exit_code)
    return Parsed(results, problem, status)


def selection(tests: list[str], runner: str) -> tuple[list[str], str | None]:
    """Test files to run and a name pattern for the ids among ``tests`` (``None``: all).

    The pattern matches a test's full name as the runner builds it: vitest joins the
    ``describe`` titles and the test's with `` > ``, jest, mocha and node:test with a space."""
    joiner = reports.SEP if runner == "vitest" else " "
    files: list[str] = []
    names: list[str] = []
    whole: set[str] = set()
    for test in tests:
        file, sep, rest = test.partition(reports.SEP)
        if file not in files:
            files.append(file)
        if sep:
            names.append(joiner.join(rest.split(reports.SEP)))
        else:
            whole.add(file)
    if not names or whole:
        return files, None  # a whole file was asked for: no name filter
    alternatives = "|".join(js_escape(n) for n in dict.fromkeys(names))
    return files, f"^(?:{alternatives})$"


def js_escape(text: str) -> str:
    """A literal for a JavaScript RegExp (valid with and without the ``u`` flag)."""
    return re.sub(r"([.*+?^${}()|\[\]\\])", r"\\\1", text)


def argv(
    runner: str,
    files: list[str],
    pattern: str | None,
    report: str,
    modules: str = M,
    processor: str = node_deps.IDENTITY_PROCESSOR,
) -> list[str]:
    """The run of record's words (shell-quoted), nightfix's reporter options last."""
    q = shlex.quote
    paths = [q(f) for f in files]
    if runner == "vitest":
        name = ["-t", q(pattern)] if pattern else []
        out = f"--outputFile.json={q(report)}"
        caches = ["--no-cache", "--no-fsModuleCache"]  # nothing written into the workspace
        return ["node", f"{modules}/vitest/vitest.mjs", "run", *paths, *name, "--passWithNoTests",
                *caches, "--reporter=default", "--reporter=json", out]  # fmt: skip
    if runner == "jest":
        name = ["-t", q(pattern)] if pattern else []
        by_path = ["--runTestsByPath", *paths] if paths else []
        out = f"--outputFile={q(report)}"
        keep = f"--testResultsProcessor={processor}"
        return ["node", f"{modules}/jest/bin/jest.js", *by_path, *name, "--ci", "--passWithNoTests",
                "--watchAll=false", "--reporters=default", keep, "--json", out]  # fmt: skip
    if runner == "mocha":
        name = [f"--grep={q(pattern)}"] if pattern else []
        return ["node", f"{modules}/mocha/bin/mocha.js", *paths, *name, "--no-color",
                "--reporter=json", f"--reporter-option=output={q(report)}"]  # fmt: skip
    name = [f"--test-name-pattern={q(pattern)}"] if pattern else []
    out = f"--test-reporter-destination={q(report)}"
    return ["node", "--test", *name, "--test-reporter=spec", "--test-reporter-destination=stdout",
            "--test-reporter=junit", out, *paths]  # fmt: skip


def _parse(runner: str, report: bytes, root: str) -> list[TestResult]:
    if runner in ("vitest", "jest"):
        return reports.parse_jestlike(report, runner, root)
    if runner == "mocha":
        return reports.parse_mocha(report, root)
    return reports.parse_node_test(report, root)


def check(
    runner: str, results: list[TestResult], output: str, exit_code: int
) -> tuple[str | None, str]:
    """Does the report agree with the runner's exit status and the summary it printed?"""
    in_files = [r for r in results if reports.SEP in r.test_id]
    load_errors = len(results) - len(in_files)
    failed = sum(r.outcome in ("failed", "error") for r in in_files)
    passed = sum(r.outcome == "passed" for r in results)
    bad = failed + load_errors
    if runner == "mocha":
        if exit_code < 0 or exit_code > 255:
            return f"mocha ended with exit status {exit_code} (killed or crashed)", "runner_error"
        if exit_code != min(bad, 255):
            return _mismatch(runner, exit_code, passed, bad)
        return None, "ok"
    if exit_code not in (0, 1):
        return f"{runner} ended with exit status {exit_code} (killed or crashed)", "runner_error"
    if (exit_code == 0) == (bad > 0):
        return _mismatch(runner, exit_code, passed, bad)
    summary = _summary(runner, output)
    if summary is None:
        return f"{runner} printed no summary to check the report against", "inconsistent"
    said_failed, said_passed, said_file_errors = summary
    if runner == "node-test":
        failed = bad  # node counts a file that did not load as a failed test
    if said_failed != failed or said_passed != passed or said_file_errors < load_errors:
        return (
            f"the report ({passed} passed, {failed} failed, {load_errors} files that did not "
            f"load) disagrees with {runner}'s summary ({said_passed} passed, {said_failed} "
            "failed)",
            "inconsistent",
        )
    return None, "ok"


def _summary(runner: str, output: str) -> tuple[int, int, int] | None:
    """(failed tests, passed tests, files failed) as the runner printed them."""
    if runner == "node-test":
        found = reports.node_test_summary(output)
        if found is None:
            return None
        return found["fail"], found["pass"], found["fail"]
    found = (reports.vitest_summary if runner == "vitest" else reports.jest_summary)(output)
    if found is None:
        return None
    return found.get("failed", 0), found.get("passed", 0), found.get("files_failed", 0)


def _mismatch(runner: str, exit_code: int, passed: int, bad: int) -> tuple[str, str]:
    return (
        f"the report ({passed} passed, {bad} failed or errors) disagrees with {runner}'s "
        f"exit status {exit_code}",
        "inconsistent",
    )
