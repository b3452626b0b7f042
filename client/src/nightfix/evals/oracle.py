"""The hidden oracle, run against the delivered branch in a sandbox the model never sees.

The harness starts its own ``nightfix-sandbox`` server (an MCP client of it, like the gate),
with the scenario's repository as the only source, creates a sandbox at the delivered branch,
writes the oracle's files into it — over whatever the branch holds at those paths, so a fix
that planted its own "oracle" still meets the real one — and runs exactly those files with
``report="all"``. The oracle files live outside ``repo/``, so no sandbox of the run ever held
them; untrusted fix code runs only inside the sandbox, never on the host. Any language the
sandbox has a toolchain for works the same way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from nightfix.errors import NightfixError
from nightfix.evals.results import OracleResult
from nightfix.policy import ServerSpec
from nightfix.servers import ServerPool

SOURCE = "scenario"


def sandbox_spec(sandbox_cmd: str, repo: Path) -> ServerSpec:
    return ServerSpec(
        command=[sandbox_cmd, "serve", "--source", f"{SOURCE}={repo}", "--pool-size", "0"],
        startup_timeout_s=120,
    )


async def run_oracle(
    sandbox_cmd: str, repo: Path, branch: str, files: dict[str, str], log: Path
) -> OracleResult:
    """Run ``files`` (path -> text) at ``branch`` of ``repo``; the oracle's verdict."""
    with log.open("ab") as errlog:
        async with ServerPool({"sandbox": sandbox_spec(sandbox_cmd, repo)}, errlog=errlog) as pool:
            made = await pool.call("sandbox", "create_sandbox", {"source": SOURCE, "ref": branch})
            sandbox_id = made["sandbox_id"]
            try:
                for path, text in files.items():
                    await pool.call(
                        "sandbox",
                        "write_file",
                        {"sandbox_id": sandbox_id, "path": path, "content": text},
                    )
                report = await pool.call(
                    "sandbox",
                    "run_tests",
                    {"sandbox_id": sandbox_id, "tests": sorted(files), "report": "all"},
                )
            finally:
                await pool.call("sandbox", "destroy_sandbox", {"sandbox_id": sandbox_id})
    return verdict(report)


def verdict(report: dict[str, Any]) -> OracleResult:
    """Passed only when the report can be believed, something ran, and nothing failed."""
    failures = [
        f"{f.get('test_id')}: {_first_line(f.get('message'))}" for f in report.get("failures") or []
    ]
    passed, failed = int(report.get("passed", 0)), int(report.get("failed", 0))
    errors = int(report.get("errors", 0))
    problem = None
    if report.get("report_status", "ok") != "ok":
        problem = f"test report {report.get('report_status')}: {report.get('report_problem')}"
    elif report.get("timed_out"):
        problem = "the oracle timed out"
    elif passed == 0 and failed == 0 and errors == 0:
        problem = "no oracle test ran: " + str(report.get("output_tail", ""))[-300:]
    ok = problem is None and failed == 0 and errors == 0 and passed > 0
    return OracleResult(
        passed=ok,
        tests_passed=passed,
        tests_failed=failed + errors,
        failures=failures,
        problem=problem,
    )


def _first_line(message: object) -> str:
    lines = str(message or "").splitlines()
    return lines[0][:160] if lines else ""


def branch_exists(repo: Path, branch: str) -> bool:
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        capture_output=True,
    )
    return done.returncode == 0


def require_branch(repo: Path, branch: str) -> None:
    if not branch_exists(repo, branch):
        raise NightfixError(f"the delivered branch {branch} is not in {repo}")
