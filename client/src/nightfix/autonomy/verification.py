"""The verification gate: client code, not the model's word, decides whether a fix may leave.

For a candidate diff against ``base_commit`` the gate checks, in order (the first failure names
the stop reason ``verification_failed:<check>``):

1. ``empty_diff`` — there is a change at all;
2. ``forbidden_path`` / ``max_changed_files`` / ``max_changed_lines`` — the policy's size and
   path rules;
3. ``patch_does_not_apply`` / ``test_suite`` — in a fresh sandbox from ``base_commit`` the diff
   applies and the full test suite passes;
4. ``regression_test`` (with ``require_regression_test``) — the diff adds or changes a test
   file whose tests, applied *alone* to another fresh sandbox from ``base_commit``, fail there
   (the bug is real and caught), and pass with the fix.

Every sandbox it creates is destroyed, whatever happens. The evidence (commands, counts,
failing test ids and messages before, passing after, workspace digests) goes into the result,
the trace and the pull request body.
"""

from __future__ import annotations

import base64
import logging
import shlex
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from nightfix.autonomy import diffs
from nightfix.autonomy.tools import ToolCaller
from nightfix.policy import VerificationPolicy

log = logging.getLogger("nightfix.verification")

EventSink = Callable[[str, dict[str, Any]], None]
REGRESSION_COMMAND = "python -m pytest -q -p no:cacheprovider"


@dataclass
class GateResult:
    passed: bool
    check: str | None = None
    """The failing check (``None`` when passed)."""
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str | None] = field(default_factory=dict)
    """Post-fix content of each changed path (``None``: deleted), read from the fix sandbox."""

    @property
    def stop_reason(self) -> str | None:
        return None if self.passed else f"verification_failed:{self.check}"


class GateFailed(Exception):
    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check, self.reason = check, reason


def static_checks(patches: list[diffs.FilePatch], policy: VerificationPolicy) -> dict[str, Any]:
    """Size and path rules; raises :class:`GateFailed`, else returns the counts."""
    if not patches:
        raise GateFailed("empty_diff", "the fix changes nothing")
    for patch in patches:
        for path in diffs.touched_paths(patch):
            if diffs.matches(path, policy.forbidden_paths):
                raise GateFailed("forbidden_path", f"the fix touches {path}, a forbidden path")
    files = len(patches)
    lines = sum(p.added + p.removed for p in patches)
    if files > policy.max_changed_files:
        raise GateFailed(
            "max_changed_files",
            f"the fix changes {files} files, more than {policy.max_changed_files}",
        )
    if lines > policy.max_changed_lines:
        raise GateFailed(
            "max_changed_lines",
            f"the fix changes {lines} lines, more than {policy.max_changed_lines}",
        )
    return {"changed_files": [p.path for p in patches], "changed_lines": lines}


class Gate:
    def __init__(
        self,
        caller: ToolCaller,
        policy: VerificationPolicy,
        source: str,
        on_event: EventSink | None = None,
    ) -> None:
        self.caller, self.policy, self.source = caller, policy, source
        self.emit: EventSink = on_event or (lambda _name, _data: None)

    async def verify(self, diff: str, base_commit: str) -> GateResult:
        evidence: dict[str, Any] = {"base_commit": base_commit}
        result = GateResult(passed=False, evidence=evidence)
        try:
            patches = diffs.split(diff)
            evidence.update(static_checks(patches, self.policy))
            tests = [
                p
                for p in patches
                if not p.deleted and diffs.matches(p.path, self.policy.test_paths)
            ]
            async with self.sandbox(base_commit, "with_fix") as box:
                await self.apply(box, diff)
                evidence["suite"] = suite = await self.run_tests(box, self.policy.test_command)
                if (
                    suite["exit_code"] != 0
                    or suite["failed"]
                    or suite["errors"]
                    or not suite["total"]
                ):
                    raise GateFailed("test_suite", _suite_reason(suite))
                if self.policy.require_regression_test and tests:
                    evidence["after"] = await self.run_tests(box, _command(tests))
                result.files = await self.read_files(box, patches)
            if self.policy.require_regression_test:
                await self.check_regression(tests, base_commit, evidence)
        except GateFailed as failed:
            result.check, result.reason = failed.check, failed.reason
            self.emit(
                "verification_failed",
                {"check": failed.check, "reason": failed.reason, "evidence": evidence},
            )
            return result
        result.passed, result.reason = True, "all verification checks passed"
        self.emit("verification_passed", {"evidence": evidence})
        return result

    async def check_regression(
        self, tests: list[diffs.FilePatch], base_commit: str, evidence: dict[str, Any]
    ) -> None:
        if not tests:
            raise GateFailed(
                "regression_test",
                "the diff adds or changes no test, so nothing shows the bug is fixed "
                f"(test files match {', '.join(self.policy.test_paths)})",
            )
        evidence["regression_tests"] = [p.path for p in tests]
        async with self.sandbox(base_commit, "original_plus_tests") as box:
            await self.apply(box, diffs.join(tests))
            evidence["before"] = before = await self.run_tests(box, _command(tests))
        if not (before["failed"] or before["errors"]) or before["exit_code"] == 0:
            raise GateFailed(
                "regression_test",
                "the new or changed tests pass on the original code, so they do not catch the bug",
            )
        after = evidence.get("after") or {}
        if after.get("exit_code") != 0 or after.get("failed") or after.get("errors"):
            raise GateFailed("regression_test", "the regression tests do not pass with the fix")

    @asynccontextmanager
    async def sandbox(self, ref: str, purpose: str) -> AsyncIterator[str]:
        info = await self.caller.call(
            "sandbox", "create_sandbox", {"source": self.source, "ref": ref}
        )
        box = str(info["sandbox_id"])
        self.emit(
            "verification_sandbox",
            {"sandbox_id": box, "purpose": purpose, "ref": ref, "commit": info.get("commit")},
        )
        try:
            yield box
        finally:
            try:
                await self.caller.call("sandbox", "destroy_sandbox", {"sandbox_id": box})
            except Exception as exc:  # reported, never masks the gate's own outcome
                log.warning("could not destroy verification sandbox %s: %s", box, exc)

    async def apply(self, box: str, patch: str) -> None:
        try:
            await self.caller.call("sandbox", "apply_patch", {"sandbox_id": box, "patch": patch})
        except GateFailed:
            raise
        except Exception as exc:
            raise GateFailed("patch_does_not_apply", f"the diff does not apply: {exc}") from exc

    async def run_tests(self, box: str, command: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {"sandbox_id": box}
        if command:
            args["command"] = command
        report = await self.caller.call("sandbox", "run_tests", args)
        keep = (
            "command",
            "exit_code",
            "passed",
            "failed",
            "errors",
            "skipped",
            "total",
            "duration_s",
            "workspace_digest",
            "timed_out",
        )
        summary = {k: report.get(k) for k in keep}
        summary["failures"] = [
            {"test_id": f.get("test_id"), "message": str(f.get("message", ""))[:500]}
            for f in (report.get("failures") or [])[:20]
        ]
        return summary

    async def read_files(self, box: str, patches: list[diffs.FilePatch]) -> dict[str, str | None]:
        files: dict[str, str | None] = {}
        for patch in patches:
            if patch.old_path and patch.old_path != patch.new_path:
                files[patch.old_path] = None
            if patch.new_path:
                files[patch.new_path] = await self.read_whole(box, patch.new_path)
        return files

    async def read_whole(self, box: str, path: str) -> str:
        """The file's exact content, through `export_file`: it ships, so it must be the bytes
        the fix wrote; `read_file` is text cleaned for a model (hidden characters marked)."""
        data = bytearray()
        while True:
            page = await self.caller.call(
                "sandbox", "export_file", {"sandbox_id": box, "path": path, "offset": len(data)}
            )
            chunk = base64.b64decode(str(page["content_base64"]), validate=True)
            data += chunk
            if not page.get("truncated") or not chunk:
                return data.decode("utf-8", "replace")


def _command(tests: list[diffs.FilePatch]) -> str:
    return f"{REGRESSION_COMMAND} {' '.join(shlex.quote(p.path) for p in tests)}"


def _suite_reason(suite: dict[str, Any]) -> str:
    if suite.get("timed_out"):
        return "the test suite timed out with the fix applied"
    if not suite.get("total"):
        return "the test suite ran no tests"
    failing = ", ".join(str(f["test_id"]) for f in suite.get("failures", [])[:5])
    return (
        f"the test suite fails with the fix: {suite.get('failed')} failed, "
        f"{suite.get('errors')} errors" + (f" ({failing})" if failing else "")
    )
