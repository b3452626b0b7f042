"""Reports of the JavaScript runners, read into neutral results with the runner's own ids.

A test id is the test file's path in the repository, then each enclosing ``describe`` and the
test's title, joined by `` > `` (``src/db/connection.test.ts > pool > waits for a
connection``); a file that failed to load or compile is one ``error`` result whose id is the
file. Each runner's summary (printed to the output) is read too, so the report can be checked
against it.
"""

from __future__ import annotations

import json
import posixpath
import re
import xml.etree.ElementTree as ET
from typing import Any

from nightfix_sandbox.models import TestResult

SEP = " > "
MAX_MESSAGE = 2000
ROOT = "/sandbox/workspace"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR_NAME = re.compile(r"^\s*(?:Uncaught )?([A-Z][\w$]*)(?: \[[\w-]+\])?:(?:\s|$)")
_STACK = re.compile(r"^\s+at ")
# An imported binding that does not exist (yet) called in a test body: it fails for want of
# code, not for the behaviour it checks, like Python's ImportError in a test body.
_MISSING_IMPORT = re.compile(
    r"^TypeError: (?:\(0\s*,\s*[\w$]+\.[\w$]+\)|__vi_import_\d+__\.[\w$]+|[\w$]+\.default)"
    r" is not a (?:function|constructor)"
)


class ReportError(ValueError):
    """The report is not the runner's report format."""


def make_id(file: str, *names: str) -> str:
    return SEP.join([file, *[n for n in names if n]])


def relative(path: str, root: str = ROOT) -> str:
    """A report's absolute file path as a repository path (``src/a.test.ts``)."""
    path = path.removeprefix("file://")
    if path.startswith(root + "/"):
        return path[len(root) + 1 :]
    return posixpath.normpath(path).lstrip("/") if path.startswith("/") else path


def error_name(text: str) -> str | None:
    """``TypeError: x`` -> ``TypeError``; ``AssertionError [ERR_ASSERTION]: x`` ->
    ``AssertionError``; ``ConnectionPoolExhausted: all 10 ...`` -> ``ConnectionPoolExhausted``
    (a stack's first line is ``<error's name>: <message>``); ``None`` when the text does not
    start with a capitalised name and a colon."""
    match = _ERROR_NAME.match(text)
    return match.group(1) if match else None


def message_of(text: str) -> str:
    """The failure text without its stack frames."""
    lines = [ln for ln in _ANSI.sub("", text).splitlines() if not _STACK.match(ln)]
    return "\n".join(lines).strip()[:MAX_MESSAGE]


def _plain(test_id: str, outcome: str) -> TestResult:
    """A passed or skipped test."""
    return TestResult(test_id=test_id, outcome=outcome, exception=None, detail="")  # type: ignore[arg-type]


def _failed(test_id: str, text: str, exception: str | None) -> TestResult:
    text = _ANSI.sub("", text)
    outcome = "error" if _MISSING_IMPORT.match(text.strip()) else "failed"
    return TestResult(
        test_id=test_id,
        outcome=outcome,  # type: ignore[arg-type]
        exception=exception or error_name(text),
        message=message_of(text),
        detail=text.strip()[-4000:],
    )


def _load_error(file: str, text: str) -> TestResult:
    text = _ANSI.sub("", text).replace("● Test suite failed to run", "").strip()
    found = re.search(r"\b([A-Z]\w*(?:Error|Exception))\b(?: \[[\w-]+\])?:", text)
    return TestResult(
        test_id=file,
        outcome="error",
        exception=found.group(1) if found else error_name(text),
        message=message_of(text) or "the test file failed to load",
        detail=text[-4000:],
    )


def _json(report: bytes) -> Any:
    try:
        return json.loads(report.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError(f"the JSON report does not parse ({exc})") from None


# -- jest and vitest (vitest's json reporter writes jest's format) -------------------------

_OUTCOME = {"passed": "passed", "failed": "failed", "pending": "skipped", "skipped": "skipped",
            "todo": "skipped", "disabled": "skipped", "focused": "passed"}  # fmt: skip


def parse_jestlike(report: bytes, runner: str, root: str = ROOT) -> list[TestResult]:
    """jest ``--json`` / vitest ``--reporter=json``: files with their assertion results."""
    data = _json(report)
    if not isinstance(data, dict) or not isinstance(data.get("testResults"), list):
        raise ReportError(f"the {runner} report has no testResults list")
    results: list[TestResult] = []
    for suite in data["testResults"]:
        file = relative(str(suite.get("name", "")), root)
        cases = suite.get("assertionResults") or []
        message = str(suite.get("message") or suite.get("failureMessage") or "")
        if suite.get("status") == "failed" and not any(c.get("status") == "failed" for c in cases):
            results.append(_load_error(file, message))
        for case in cases:
            test_id = make_id(file, *case.get("ancestorTitles", []), str(case.get("title", "")))
            outcome = _OUTCOME.get(str(case.get("status")), "skipped")
            if outcome != "failed":
                results.append(_plain(test_id, outcome))
                continue
            text = "\n".join(str(m) for m in case.get("failureMessages") or [])
            if text.startswith("Error: expect("):  # jest's matchers: the name says nothing
                text = text.removeprefix("Error: ")
            results.append(_failed(test_id, text, _jest_exception(case, text)))
    return results


def _jest_exception(case: dict[str, Any], text: str) -> str | None:
    """jest's matcher failures are assertion errors (its ``JestAssertionError``)."""
    details = case.get("failureDetails") or []
    first = details[0] if details and isinstance(details[0], dict) else {}
    if "matcherResult" in first or re.match(
        r"assert\.\w+\(", text
    ):  # node:assert, as jest shows it
        return "AssertionError"
    name = first.get("name")
    if isinstance(name, str) and name and name != "Error":
        return name
    return error_name(text) or (name if isinstance(name, str) and name else None)


# -- mocha (json reporter) -----------------------------------------------------------------


def parse_mocha(report: bytes, root: str = ROOT) -> list[TestResult]:
    data = _json(report)
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise ReportError("the mocha report has no tests list")
    failures = {_mocha_key(t) for t in data.get("failures", [])}
    pending = {_mocha_key(t) for t in data.get("pending", [])}
    tests = list(data["tests"])
    seen = {_mocha_key(t) for t in tests}
    tests += [t for t in data.get("failures", []) if _mocha_key(t) not in seen]  # hooks
    results = []
    for test in tests:
        file = relative(str(test.get("file") or ""), root)
        title, full = str(test.get("title", "")), str(test.get("fullTitle", ""))
        parents = full[: -len(title)].strip() if title and full.endswith(title) else ""
        test_id = make_id(file, parents, title)
        key = _mocha_key(test)
        if key in pending:
            results.append(_plain(test_id, "skipped"))
        elif key in failures:
            err = test.get("err") or {}
            stack = str(err.get("stack") or err.get("message") or "")
            result = _failed(test_id, stack, err.get("name") or error_name(stack))
            if title.startswith('"before') or title.startswith('"after'):
                result = result.model_copy(update={"outcome": "error"})  # a hook, not a test
            results.append(result)
        else:
            results.append(_plain(test_id, "passed"))
    return results


def _mocha_key(test: dict[str, Any]) -> tuple[str, str]:
    return str(test.get("file")), str(test.get("fullTitle"))


# -- node:test (junit reporter) ------------------------------------------------------------

_CAUSE = re.compile(r"\bcause: ([A-Za-z_$][\w$]*)(?: \[[\w-]+\])?:")


def parse_node_test(report: bytes, root: str = ROOT) -> list[TestResult]:
    try:
        tree = ET.fromstring(report)  # noqa: S314 - size-capped, expat refuses entity bombs
    except ET.ParseError as exc:
        raise ReportError(f"the JUnit report does not parse ({exc})") from None
    if tree.tag not in ("testsuites", "testsuite"):
        raise ReportError(f"the report's root element is <{tree.tag}>, not a JUnit <testsuites>")
    results: list[TestResult] = []
    _walk(tree, [], results, root)
    return results


def _walk(node: ET.Element, parents: list[str], out: list[TestResult], root: str) -> None:
    for child in node:
        if child.tag == "testsuite":
            _walk(child, [*parents, child.get("name", "")], out, root)
        elif child.tag == "testcase":
            out.append(_node_case(child, parents, root))


def _node_case(case: ET.Element, parents: list[str], root: str) -> TestResult:
    file = relative(case.get("file", ""), root)
    name = case.get("name", "")
    failure = case.find("failure")
    if case.find("skipped") is not None:
        return _plain(make_id(file, *parents, name), "skipped")
    if failure is None:
        return _plain(make_id(file, *parents, name), "passed")
    text = failure.text or ""
    cause = _CAUSE.search(text)
    if not parents and name in (file, relative(name, root)):  # the file itself did not load
        return _load_error(file, _stderr_of(case) or text)
    message = failure.get("message") or ""
    exception = cause.group(1) if cause else error_name(message)
    result = _failed(make_id(file, *parents, name), text, exception)
    return result.model_copy(update={"message": message_of(message) or result.message})


def _stderr_of(case: ET.Element) -> str:
    return "".join((c.text or "") for c in case if c.tag in ("system-err", "system-out"))


# -- summaries the runners print -----------------------------------------------------------


def clean(output: str) -> str:
    return _ANSI.sub("", output)


def vitest_summary(output: str) -> dict[str, int] | None:
    """``Tests  2 failed | 3 passed | 1 skipped (6)`` and ``Test Files  1 failed | ...``."""
    text = clean(output)[-6000:]
    tests = re.search(r"^\s*Tests\s+(.+?)\s*\((\d+)\)\s*$", text, re.M)
    files = re.search(r"^\s*Test Files\s+(.+?)\s*\((\d+)\)\s*$", text, re.M)
    if not tests and not files:
        return None
    out = {f"{w}": int(n) for n, w in re.findall(r"(\d+) (\w+)", tests.group(1))} if tests else {}
    if files:
        out.update({f"files_{w}": int(n) for n, w in re.findall(r"(\d+) (\w+)", files.group(1))})
    return out


def jest_summary(output: str) -> dict[str, int] | None:
    """``Tests:       3 failed, 1 skipped, 3 passed, 7 total`` and ``Test Suites: ...``."""
    text = clean(output)[-6000:]
    tests = re.search(r"^Tests:\s+(.+)$", text, re.M)
    suites = re.search(r"^Test Suites:\s+(.+)$", text, re.M)
    if not tests and not suites:
        return None
    out = {w: int(n) for n, w in re.findall(r"(\d+) (\w+)", tests.group(1))} if tests else {}
    if suites:
        out.update({f"files_{w}": int(n) for n, w in re.findall(r"(\d+) (\w+)", suites.group(1))})
    return out


def node_test_summary(output: str) -> dict[str, int] | None:
    """The spec reporter's closing lines: ``ℹ pass 2`` / ``ℹ fail 3``."""
    found = dict(re.findall(r"^\S+ (tests|pass|fail|skipped|todo|cancelled) (\d+)\s*$",
                            clean(output)[-3000:], re.M))  # fmt: skip
    return {k: int(v) for k, v in found.items()} if "pass" in found and "fail" in found else None
