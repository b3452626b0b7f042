"""An operator's own test command: any runner that writes JUnit XML to ``$NIGHTFIX_JUNIT_XML``.

Test files or ids go where the command says ``{tests}``, else after it. Its exit status is
read the common way: 0 means every test passed, anything else that some did not.
"""

from __future__ import annotations

import shlex

from nightfix_sandbox.toolchains import Parsed, RunPlan, junit

REPORT_ENV = "NIGHTFIX_JUNIT_XML"


def plan(command: str, tests: list[str], report: str) -> RunPlan:
    selected = " ".join(shlex.quote(t) for t in tests)
    if "{tests}" in command:
        line = command.replace("{tests}", selected)
    else:
        line = f"{command} {selected}".strip()
    return RunPlan(line, {REPORT_ENV: report}, runner="custom")


def read(report: bytes, exit_code: int) -> Parsed:
    if not report.strip():
        return Parsed([], f"the command wrote no JUnit report to ${REPORT_ENV}", "missing")
    try:
        results = junit.parse(report)
    except junit.ReportError as exc:
        return Parsed([], str(exc), "unparsable")
    bad = sum(r.outcome in ("failed", "error") for r in results)
    if (exit_code == 0) == (bad > 0):
        return Parsed(
            results,
            f"the report ({bad} failed or errors) disagrees with the exit status {exit_code}",
            "inconsistent",
        )
    return Parsed(results)
