"""run_tests: pytest with JUnit XML by default, or a configured command."""

from __future__ import annotations

import re
import shlex
import uuid
import xml.etree.ElementTree as ET

from nightfix_sandbox.backends import Box, ContainerBackend
from nightfix_sandbox.gitops import digest
from nightfix_sandbox.models import TestFailure, TestReport
from nightfix_sandbox.runner import run_attached

DEFAULT_COMMAND = "python -m pytest -q -p no:cacheprovider"
TAIL = 4000
MAX_XML = 5_000_000
_SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped)")


def is_pytest(command: str) -> bool:
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return any(w == "pytest" or w.endswith("/pytest") for w in words)


def run_tests(
    backend: ContainerBackend, box: Box, command: str | None, timeout_s: int, output_bytes: int
) -> TestReport:
    command = command or DEFAULT_COMMAND
    workspace_digest = digest(backend, box)
    junit = f"/tmp/nightfix-junit-{uuid.uuid4().hex}.xml"  # noqa: S108 - inside the sandbox
    run = f"{command} --junitxml={junit}" if is_pytest(command) else command
    res, report = run_attached(
        backend, box, run, timeout_s, output_bytes, {"NIGHTFIX_JUNIT_XML": junit}, attach=junit
    )
    xml = report.decode("utf-8", "replace")
    output = (res.stdout + ("\n" + res.stderr if res.stderr else "")).strip()
    counts, failures = parse_junit(xml) if xml.strip() else (_parse_summary(output), [])
    total = sum(counts.values())
    return TestReport(
        command=command,
        exit_code=res.exit_code,
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["errors"],
        skipped=counts["skipped"],
        total=total,
        failures=failures,
        duration_s=res.duration_s,
        workspace_digest=workspace_digest,
        output_tail=output[-TAIL:],
        timed_out=res.timed_out,
    )


def parse_junit(xml: str) -> tuple[dict[str, int], list[TestFailure]]:
    """Counts and failing tests from a JUnit XML report (pytest's flavour)."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures: list[TestFailure] = []
    try:
        root = ET.fromstring(xml)  # noqa: S314 - the report is size-capped (MAX_XML)
    except ET.ParseError:
        return counts, failures
    for case in root.iter("testcase"):
        test_id = "::".join(
            filter(None, [_module_path(case.get("classname", "")), case.get("name", "")])
        )
        outcome = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            counts["passed"] += 1
            continue
        key = {"failure": "failed", "error": "errors", "skipped": "skipped"}[outcome.tag]
        counts[key] += 1
        if key in ("failed", "errors"):
            out = "".join((c.text or "") for c in case if c.tag in ("system-out", "system-err"))
            detail = (outcome.text or "") + ("\n" + out if out else "")
            failures.append(
                TestFailure(
                    test_id=test_id,
                    message=outcome.get("message", ""),
                    output_tail=detail.strip()[-TAIL:],
                )
            )
    return counts, failures


def _module_path(classname: str) -> str:
    """`tests.test_calc.TestX` -> `tests/test_calc.py::TestX` (pytest-style ids)."""
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):
        if parts[i - 1].startswith("test") or i == 1:
            head = "/".join(parts[:i]) + ".py"
            return "::".join([head, *parts[i:]])
    return classname


def _parse_summary(output: str) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for n, word in _SUMMARY.findall(output[-2000:]):
        key = "errors" if word.startswith("error") else word
        counts[key] = int(n)
    return counts
