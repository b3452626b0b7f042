"""``go test -json`` (test2json events) read natively into results by test id.

Ids are ``<import path>::<Test>[/<subtest>...]`` (``example.com/inv/stock::TestReserve/sub``):
``::`` splits the package from the test without ambiguity (import paths hold dots, subtest
names hold dots and slashes). A package that does not build, or fails outside any test (a
``TestMain`` or ``init`` that exits, a panic before the first test), is one ``error`` result
whose id is the import path alone.

Where the events come from: ``go test`` writes the stream to its own stdout, and everything a
test prints reaches it only *inside* an ``output`` event (test2json wraps the test binary's
output), so a test printing ``{"Action":"pass",...}`` lines forges nothing. What a test can
do is write to the report file itself (same user); :func:`check` refuses a report whose
events contradict each other (a second outcome for one test, events after a package's end,
a failed test in a passed package) or ``go test``'s exit status, which the test cannot set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from nightfix_sandbox.models import TestResult

MAX_MESSAGE = 2000
MAX_DETAIL = 4000
_TERMINAL = {"pass": "passed", "fail": "failed", "skip": "skipped"}
_ACTIONS = {"start", "run", "pause", "cont", "output", "bench", *_TERMINAL}
_BUILD_ACTIONS = {"build-output", "build-fail"}
_FILE_LINE = re.compile(r"^\s+\S+\.go:\d+: ")
_PANIC = re.compile(r"^panic: (.*?)(?: \[recovered.*\])?$")
_FRAME_RESULT = re.compile(r"^(ok|FAIL)\s+(\S+)")


class ReportError(ValueError):
    """The stream is not test2json events we can read."""


@dataclass
class _Test:
    outcome: str | None = None
    outcomes: int = 0
    output: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)


@dataclass
class _Package:
    outcome: str | None = None
    outcomes: int = 0
    failed_build: str | None = None
    frame: str | None = None
    """``ok``/``FAIL`` from go's own package summary line."""
    output: list[str] = field(default_factory=list)
    tests: dict[str, _Test] = field(default_factory=dict)
    late: list[str] = field(default_factory=list)
    """Events that came after the package's end: never written by go itself."""


@dataclass
class Stream:
    packages: dict[str, _Package] = field(default_factory=dict)
    build_output: dict[str, list[str]] = field(default_factory=dict)


def parse(raw: bytes) -> Stream:
    """Every event of the stream, by package and test; raises :class:`ReportError`."""
    stream = Stream()
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            raise ReportError(f"line {number} of the go test -json stream is not JSON") from None
        if not isinstance(event, dict):
            raise ReportError(f"line {number} of the go test -json stream is not an event")
        _add(stream, event, number)
    return stream


def _add(stream: Stream, event: dict[str, Any], number: int) -> None:
    action = event.get("Action")
    if action in _BUILD_ACTIONS:
        key = str(event.get("ImportPath") or "")
        stream.build_output.setdefault(key, []).append(str(event.get("Output") or ""))
        return
    package, test = event.get("Package"), event.get("Test")
    if action not in _ACTIONS or not isinstance(package, str) or not package:
        raise ReportError(f"line {number} is not a go test event (Action {action!r})")
    pkg = stream.packages.setdefault(package, _Package())
    if pkg.outcome is not None:
        pkg.late.append(f"{action} {test or package}")
        return
    output = str(event.get("Output") or "")
    if not test:
        if action in _TERMINAL:
            pkg.outcome, pkg.outcomes = action, pkg.outcomes + 1
            pkg.failed_build = event.get("FailedBuild") or None
        elif action == "output":
            pkg.output.append(output)
            frame = _FRAME_RESULT.match(output)
            if frame and frame.group(2) == package:
                pkg.frame = frame.group(1)
        return
    case = pkg.tests.setdefault(str(test), _Test())
    if action in _TERMINAL:
        case.outcome, case.outcomes = action, case.outcomes + 1
    elif action == "output":
        case.output.append(output)
        if event.get("OutputType") == "error":  # t.Error/t.Fatal lines (Go 1.25+)
            case.errors.append(output.strip())
        elif _FILE_LINE.match(output):  # t.Log as well as t.Error lines
            case.logged.append(output.strip())


def results(stream: Stream) -> list[TestResult]:
    """One result per test id, plus an ``error`` per package that failed outside its tests."""
    found: list[TestResult] = []
    for name, pkg in stream.packages.items():
        for test, case in pkg.tests.items():
            found.append(_result(name, test, case, pkg))
        if pkg.outcome == "fail" and not any(c.outcome == "fail" for c in pkg.tests.values()):
            found.append(_package_error(name, pkg, stream))
    return found


def _result(package: str, test: str, case: _Test, pkg: _Package) -> TestResult:
    test_id = f"{package}::{test}"
    if case.outcome is None:
        return TestResult(
            test_id=test_id,
            outcome="error",
            exception=None,
            message="the test never finished: the test binary stopped while it ran",
            detail=_tail(case.output + pkg.output),
        )
    outcome = _TERMINAL[case.outcome]
    if outcome != "failed":
        return TestResult(test_id=test_id, outcome=outcome, exception=None, detail="")  # type: ignore[arg-type]
    exception, message = _failure(case)
    if not (case.errors or case.logged) and exception is None:
        subs = [t for t, c in pkg.tests.items() if t.startswith(test + "/") and c.outcome == "fail"]
        message = f"subtest {subs[0]} failed" if subs else message
    return TestResult(
        test_id=test_id,
        outcome="failed",
        exception=exception,
        message=message[:MAX_MESSAGE],
        detail=_tail(case.output),
    )


def _failure(case: _Test) -> tuple[str | None, str]:
    """(exception, message): a panic names ``runtime.Error`` (a runtime error) or ``panic``;
    otherwise the ``file_test.go:12: ...`` lines the test reported."""
    for line in case.output:
        panic = _PANIC.match(line.strip())
        if panic:
            kind = "runtime.Error" if panic.group(1).startswith("runtime error:") else "panic"
            return kind, line.strip()
    if case.errors or case.logged:
        return None, "\n".join(case.errors or case.logged)
    said = [ln.strip() for ln in case.output if ln.strip() and not _is_frame(ln)]
    return None, "\n".join(said[-5:]) or "the test failed without a message"


def _is_frame(line: str) -> bool:
    return line.startswith(("=== ", "--- ")) or line.lstrip().startswith("--- ")


def _package_error(name: str, pkg: _Package, stream: Stream) -> TestResult:
    if pkg.failed_build:
        lines = [ln for ln in stream.build_output.get(pkg.failed_build, []) if ln.strip()]
        body = [ln.strip() for ln in lines if not ln.startswith("#")]
        return TestResult(
            test_id=name,
            outcome="error",
            exception="BuildError",
            message=("the package does not build: " + "; ".join(body))[:MAX_MESSAGE],
            detail=_tail(lines),
        )
    said = [ln.strip() for ln in pkg.output if ln.strip() and not _FRAME_RESULT.match(ln)]
    return TestResult(
        test_id=name,
        outcome="error",
        exception=None,
        message=("the package failed outside its tests: " + " | ".join(said[-5:]))[:MAX_MESSAGE],
        detail=_tail(pkg.output),
    )


def _tail(lines: list[str]) -> str:
    return "".join(lines).strip()[-MAX_DETAIL:]


def check(stream: Stream, found: list[TestResult], exit_code: int) -> tuple[str | None, str]:
    """Does the stream agree with itself and with ``go test``'s exit status?

    Returns (problem, status) like the Python toolchain: ``ok``, ``inconsistent`` or
    ``runner_error``.
    """
    if exit_code not in (0, 1):
        return f"go test ended with exit status {exit_code} (usage error, killed or crashed)", (
            "runner_error"
        )
    problem = check_events_consistent(stream)
    if problem:
        return problem, "inconsistent"
    unfinished = [n for n, p in stream.packages.items() if p.outcome is None]
    if unfinished:
        return f"go test did not finish package {unfinished[0]}", "runner_error"
    bad = [r for r in found if r.outcome in ("failed", "error")]
    failed_pkgs = [n for n, p in stream.packages.items() if p.outcome == "fail"]
    if (exit_code == 0) != (not bad and not failed_pkgs):
        return (
            f"the report ({len(bad)} failed or errors, {len(failed_pkgs)} failed packages) "
            f"disagrees with go test's exit status {exit_code}",
            "inconsistent",
        )
    return None, "ok"


def check_events_consistent(stream: Stream) -> str | None:
    """What go itself never writes: a second outcome for one test or package, events after a
    package's end, a failed or unfinished test in a passed package, a package outcome that
    contradicts go's own ``ok``/``FAIL`` line. Forged lines appended to the report show up
    as one of these."""
    for name, pkg in stream.packages.items():
        if pkg.late:
            return f"events after the end of package {name} ({pkg.late[0]})"
        if pkg.outcomes > 1:
            return f"package {name} has {pkg.outcomes} outcomes"
        twice = next((t for t, c in pkg.tests.items() if c.outcomes > 1), None)
        if twice:
            return f"{name}::{twice} has {pkg.tests[twice].outcomes} outcomes"
        if pkg.outcome == "pass":
            broken = next((t for t, c in pkg.tests.items() if c.outcome in ("fail", None)), None)
            if broken:
                return f"package {name} passed, yet {name}::{broken} did not"
            if pkg.frame != "ok":
                return f"package {name} passed without go's own 'ok' line"
        if pkg.outcome == "fail" and pkg.frame not in ("FAIL", None):
            return f"package {name} failed, yet go's own line says {pkg.frame}"
    return None
