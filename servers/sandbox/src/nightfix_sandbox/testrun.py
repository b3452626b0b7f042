"""run_tests: the toolchain's run of record for the suite or given tests, its report read by id.

The toolchain builds the command (runner options last, so a repository cannot add its own to
a run of record), reads its report into results by test id, and cross-checks the report against
the runner's exit status and summary line: a report that is missing, unreadable or disagrees
is never believed (``report_status``). The report is a file the command writes under ``/tmp``;
PID 1's supervisor hands it back with the result, read as a regular file only.
"""

from __future__ import annotations

import re
import uuid
from typing import Literal

from nightfix_sandbox.backends import Box, ContainerBackend
from nightfix_sandbox.gitops import digest
from nightfix_sandbox.models import TestFailure, TestReport, TestResult
from nightfix_sandbox.runner import run_attached
from nightfix_sandbox.toolchains import Parsed, Toolchain

TAIL = 4000
MAX_FAILURES = 50
_SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped)")
Detail = Literal["summary", "all"]


def run_tests(
    backend: ContainerBackend,
    box: Box,
    chain: Toolchain,
    command: str | None,
    tests: list[str],
    timeout_s: int,
    output_bytes: int,
    report: Detail = "summary",
    env: dict[str, str] | None = None,
) -> TestReport:
    """``env``: the sandbox's own environment (its sandbox file); the plan's env wins."""
    workspace_digest = digest(backend, box)
    path = f"/tmp/nightfix-junit-{uuid.uuid4().hex}.xml"  # noqa: S108 - inside the sandbox
    plan = chain.plan(command, tests, path)
    res, raw = run_attached(
        backend,
        box,
        plan.command,
        timeout_s,
        output_bytes,
        {**(env or {}), **plan.env},
        attach=path,
    )
    output = (res.stdout + ("\n" + res.stderr if res.stderr else "")).strip()
    parsed = chain.read(plan, raw, output, res.exit_code)
    if res.timed_out or res.killed:
        why = res.reason or ("timeout" if res.timed_out else "killed")
        parsed = Parsed(parsed.results, f"the test run did not finish ({why})", "runner_error")
    counts = _counts(parsed.results)
    if parsed.status == "missing":
        counts = _parse_summary(output)  # a plain command's own summary, for reading only
    return TestReport(
        command=plan.command,
        exit_code=res.exit_code,
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["errors"],
        skipped=counts["skipped"],
        total=sum(counts.values()),
        failures=_failures(parsed.results),
        duration_s=res.duration_s,
        workspace_digest=workspace_digest,
        output_tail=output[-TAIL:],
        timed_out=res.timed_out,
        tests=tests,
        report_status=parsed.status,  # type: ignore[arg-type]
        report_problem=parsed.problem,
        results=parsed.results if report == "all" else None,
    )


def _counts(results: list[TestResult]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for r in results:
        counts["errors" if r.outcome == "error" else r.outcome] += 1
    return counts


def _failures(results: list[TestResult]) -> list[TestFailure]:
    bad = [r for r in results if r.outcome in ("failed", "error")][:MAX_FAILURES]
    return [
        TestFailure(
            test_id=r.test_id,
            outcome=r.outcome,
            exception=r.exception,
            message=r.message,
            output_tail=r.detail[-TAIL:],
        )
        for r in bad
    ]


def _parse_summary(output: str) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for n, word in _SUMMARY.findall(output[-2000:]):
        key = "errors" if word.startswith("error") else word
        counts[key] = int(n)
    return counts
