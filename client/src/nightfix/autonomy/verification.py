"""The verification gate: client code, not the model's word, decides whether a fix may leave.

For a candidate diff against a base ref the gate checks, in order (the first failure names the
stop reason ``verification_failed:<check>``):

1. ``empty_diff`` / ``forbidden_path`` / ``hidden_text`` / ``max_changed_files`` /
   ``max_changed_lines`` — the policy's path and size rules (gitignore-style globs), and no
   added text a reviewer cannot see;
2. ``protected_path`` / ``test_removed`` / ``test_disabled`` / ``runner_tampering`` — the diff
   leaves test plumbing alone (:mod:`~nightfix.autonomy.plumbing`, rules from the sandbox's
   toolchain); with ``protected_changes: approve`` a protected change passes on to a person;
3. ``baseline`` — the suite on the base commit, in its own fresh sandbox (cached per commit,
   image, toolchain and test command): which test ids pass there. A suite that cannot run at all
   ends the run ``configuration_error:baseline`` — no verdict on the fix;
4. ``patch_does_not_apply`` / ``test_report`` / ``test_suite`` — with the fix, every id that
   passed on the base still passes and nothing new fails, by a report that agrees with the
   runner's exit status and summary;
5. ``workspace_modified`` — running the tests did not rewrite the fix's files or tracked files;
6. ``regression_test`` — each id the diff's tests add or change fails in its body on the
   original code plus those test files, and passes with the fix.

Steps 3, 4–5 and 6 run in parallel, each in its own sandbox; every sandbox is destroyed,
whatever happens. The gate runs no runner of its own: tests go through the sandbox's
``run_tests`` by files or ids, and the sandbox's toolchain builds the command. What ships is
not read back from any sandbox: delivery applies the verified diff to the base commit on the
host (see :mod:`~nightfix.autonomy.delivery`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from nightfix.autonomy import diffs, plumbing, verdicts
from nightfix.autonomy.gate_errors import GateFailed
from nightfix.autonomy.tools import ToolCaller
from nightfix.errors import ToolCallError
from nightfix.policy import VerificationPolicy

log = logging.getLogger("nightfix.verification")

EventSink = Callable[[str, dict[str, Any]], None]
ADVICE = (
    "configure the sandbox so the suite runs on the original code (its dependencies: "
    "nightfix-sandbox's dependency image; its command: verification.test_command)"
)
KEEP = ("command", "exit_code", "passed", "failed", "errors", "skipped", "total", "duration_s")

__all__ = ["Gate", "GateFailed", "GateResult", "static_checks"]


class BaselineCache(Protocol):
    def baseline(self, key: str) -> dict[str, Any] | None: ...

    def save_baseline(self, key: str, commit: str, data: dict[str, Any]) -> None: ...


class MemoryCache:
    """A baseline cache for one process (the watch state is the persistent one)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def baseline(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    def save_baseline(self, key: str, commit: str, data: dict[str, Any]) -> None:
        self.data[key] = data


@dataclass
class GateResult:
    passed: bool
    check: str | None = None
    """The failing check (``None`` when passed)."""
    reason: str = ""
    configuration: bool = False
    """The tests could not run on the original code: no verdict on the fix."""
    evidence: dict[str, Any] = field(default_factory=dict)
    protected_changes: list[str] = field(default_factory=list)
    """Test infrastructure the fix changes, left to a person (``protected_changes: approve``)."""

    @property
    def stop_reason(self) -> str | None:
        if self.passed:
            return None
        kind = "configuration_error" if self.configuration else "verification_failed"
        return f"{kind}:{self.check}"


def static_checks(patches: list[diffs.FilePatch], policy: VerificationPolicy) -> dict[str, Any]:
    """Size and path rules; raises :class:`GateFailed`, else returns the counts."""
    if not patches:
        raise GateFailed("empty_diff", "the fix changes nothing")
    for patch in patches:
        for path in diffs.touched_paths(patch):
            if diffs.matches(path, policy.forbidden_paths):
                raise GateFailed("forbidden_path", f"the fix touches {path}, a forbidden path")
    if not policy.allow_hidden_text:
        check_visible(patches)
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


HIDDEN = re.compile(
    "[\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\U000e0000-\U000e007f]"
    "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!$)"
)
"""What a reviewer cannot see in a diff: bidi controls, zero-width characters, line and
paragraph separators, the BOM, Unicode tag characters, and C0/C1 control characters but tab
(a CR is allowed only as a CRLF line end)."""


def check_visible(patches: list[diffs.FilePatch]) -> None:
    """A person approves what they see, so a fix may not add text they cannot see (Trojan
    Source); ``verification.allow_hidden_text`` lets a repository that needs it through."""
    for patch in patches:
        for line in diffs.added_lines(patch):
            found = HIDDEN.search(line)
            if found:
                raise GateFailed(
                    "hidden_text",
                    f"the fix adds an invisible or bidirectional character "
                    f"(U+{ord(found.group(0)[0]):04X}) to {patch.path}, which a reviewer "
                    "would not see; write it as an escape sequence instead",
                )


class Gate:
    def __init__(
        self,
        caller: ToolCaller,
        policy: VerificationPolicy,
        source: str,
        on_event: EventSink | None = None,
        cache: BaselineCache | None = None,
        exception: str | None = None,
    ) -> None:
        self.caller, self.policy, self.source = caller, policy, source
        self.emit: EventSink = on_event or (lambda _name, _data: None)
        self.cache: BaselineCache = cache or MemoryCache()
        self.exception = exception
        """The production error's exception type, to tell whether the regression test
        fails the same way."""

    async def verify(self, diff: str, base_ref: str) -> GateResult:
        evidence: dict[str, Any] = {"base_ref": base_ref}
        result = GateResult(passed=False, evidence=evidence)
        try:
            patches = diffs.split(diff)
            evidence.update(static_checks(patches, self.policy))
            async with self.sandbox(base_ref, "with_fix") as (box, info):
                evidence["base_commit"] = commit = str(info["commit"])
                rules = plumbing.Rules.of(info.get("toolchain") or {}, self.policy)
                evidence["toolchain"] = (info.get("toolchain") or {}).get("name")
                result.protected_changes = self.check_plumbing(patches, rules)
                tables = await self.read_tables(box, patches, rules)
                await self.apply(box, diff)
                applied = await self.workspace_diff(box)
                await self.check_tables(box, tables, rules, result)
                tests = [p.path for p in patches if not p.deleted and rules.is_test(p.path)]
                base, fix, before = await settled(
                    self.baseline(commit, info),
                    self.with_fix(box, applied, tests),
                    self.original_plus_tests(commit, patches, tests),
                )
            evidence["suite"], evidence["after"] = fix
            evidence["verdict"] = verdicts.check_suite(base, fix[0]["report"])
            if self.policy.require_regression_test:
                if not tests:
                    raise GateFailed(
                        "regression_test",
                        "the diff adds or changes no test, so nothing shows the bug is fixed "
                        f"(test files match {', '.join(rules.test_globs)})",
                    )
                evidence["before"] = before
                evidence["regression_tests"] = tests
                evidence["regression"] = verdicts.check_regression(
                    base, before["report"], fix[1]["report"], self.exception
                )
        except GateFailed as failed:
            result.check, result.reason = failed.check, failed.reason
            result.configuration = failed.configuration
            result.evidence = _brief(evidence)
            self.emit(
                "verification_failed",
                {"check": failed.check, "reason": failed.reason, "evidence": result.evidence},
            )
            return result
        result.passed, result.reason = True, "all verification checks passed"
        result.evidence = _brief(evidence)
        self.emit("verification_passed", {"evidence": result.evidence})
        return result

    def check_plumbing(self, patches: list[diffs.FilePatch], rules: plumbing.Rules) -> list[str]:
        protected = plumbing.protected_paths(patches, rules)
        if protected and self.policy.protected_changes == "refuse":
            raise GateFailed(
                "protected_path",
                f"the fix changes test infrastructure ({', '.join(protected)}), which would "
                "change how its own proof runs",
            )
        plumbing.check_tests_kept(patches, rules)
        plumbing.check_runner_untouched(patches, rules)
        return protected

    async def read_tables(
        self, box: str, patches: list[diffs.FilePatch], rules: plumbing.Rules
    ) -> dict[str, str | None]:
        """Base versions of touched files that hold protected TOML tables (before the diff)."""
        touched = {p for patch in patches for p in diffs.touched_paths(patch)}
        return {
            path: await self.read_or_none(box, path)
            for path in sorted(touched & set(rules.protected_tables))
        }

    async def check_tables(
        self, box: str, before: dict[str, str | None], rules: plumbing.Rules, result: GateResult
    ) -> None:
        for path, old in before.items():
            changed = plumbing.changed_tables(rules, path, old, await self.read_or_none(box, path))
            if not changed:
                continue
            named = [f"{path} [{t}]" for t in changed]
            if self.policy.protected_changes == "refuse":
                raise GateFailed(
                    "protected_path",
                    f"the fix changes test configuration ({', '.join(named)}), which would "
                    "change how its own proof runs",
                )
            result.protected_changes.extend(named)

    async def precheck(self, base_ref: str) -> GateResult | None:
        """Before any model runs: can the suite run on the base at all? A cached verdict
        makes this free; a configuration problem comes back as a failed result."""
        try:
            async with self.sandbox(base_ref, "baseline") as (box, info):
                await self.baseline(str(info["commit"]), info, box)
        except GateFailed as failed:
            return GateResult(
                False, failed.check, failed.reason, failed.configuration, {"base_ref": base_ref}
            )
        return None

    async def baseline(
        self, commit: str, info: dict[str, Any], box: str | None = None
    ) -> verdicts.Baseline:
        """The base commit's outcomes by id, from the cache or a fresh sandbox (``box``, when
        the caller already holds one at the base). A suite that cannot run is cached too, so
        the same configuration problem is not paid for again."""
        key = self.baseline_key(commit, info)
        cached = self.cache.baseline(key)
        if cached is None:
            cached = await self.compute_baseline(commit, box)
            self.cache.save_baseline(key, commit, cached)
        else:
            self.emit("verification_baseline", {"commit": commit, "cached": True})
        if cached.get("error"):
            raise GateFailed("baseline", str(cached["error"]), configuration=True)
        return verdicts.Baseline.from_json(cached)

    async def compute_baseline(self, commit: str, box: str | None) -> dict[str, Any]:
        if box is None:
            async with self.sandbox(commit, "baseline") as (fresh, _):
                return await self.compute_baseline(commit, fresh)
        report = await self.run_tests(box, [])
        self.emit("verification_baseline", {"commit": commit, "cached": False, **_keep(report)})
        try:
            return verdicts.baseline_of(commit, report, ADVICE).to_json()
        except GateFailed as failed:
            return {"commit": commit, "error": failed.reason}

    def baseline_key(self, commit: str, info: dict[str, Any]) -> str:
        what = {
            "commit": commit,
            "image": info.get("image"),
            "toolchain": info.get("toolchain"),
            "command": self.policy.test_command,
            "source": self.source,
        }
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()

    async def with_fix(
        self, box: str, applied: dict[str, diffs.FilePatch], tests: list[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The suite with the fix, the diff's test files with the fix, and a check that
        running them did not rewrite the workspace (``applied``: its diff before they ran)."""
        suite = {"report": await self.run_tests(box, [])}
        after = {"report": await self.run_tests(box, tests) if tests else {}}
        await self.check_unchanged(box, applied)
        return suite, after

    async def original_plus_tests(
        self, commit: str, patches: list[diffs.FilePatch], tests: list[str]
    ) -> dict[str, Any]:
        if not (tests and self.policy.require_regression_test):
            return {}
        async with self.sandbox(commit, "original_plus_tests") as (box, _):
            await self.apply(box, diffs.join(p for p in patches if p.path in tests))
            return {"report": await self.run_tests(box, tests)}

    async def workspace_diff(self, box: str) -> dict[str, diffs.FilePatch]:
        """The sandbox's own diff against the base, by path (one format to compare)."""
        found = await self.caller.call("sandbox", "diff", {"sandbox_id": box})
        return {p.path: p for p in diffs.split(str(found.get("diff") or ""))}

    async def check_unchanged(self, box: str, applied: dict[str, diffs.FilePatch]) -> None:
        """The tests' run must not have changed what ships: a file of the fix, or a tracked
        file, that differs afterwards from the diff as applied is refused (files the tests
        only created are not part of the fix, and never ship)."""
        now = await self.workspace_diff(box)
        for path in sorted(set(now) | set(applied)):
            was, new = applied.get(path), now.get(path)
            tracked = new is not None and new.old_path is not None
            if (was is not None or tracked) and (was and was.text) != (new and new.text):
                raise GateFailed(
                    "workspace_modified",
                    f"running the tests changed {path} in the workspace: code under test "
                    "rewrote what would ship",
                )

    @asynccontextmanager
    async def sandbox(self, ref: str, purpose: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        info = await self.caller.call(
            "sandbox", "create_sandbox", {"source": self.source, "ref": ref}
        )
        box = str(info["sandbox_id"])
        self.emit(
            "verification_sandbox",
            {"sandbox_id": box, "purpose": purpose, "ref": ref, "commit": info.get("commit")},
        )
        try:
            yield box, info
        finally:
            try:
                await self.caller.call("sandbox", "destroy_sandbox", {"sandbox_id": box})
            except Exception as exc:  # reported, never masks the gate's own outcome
                log.warning("could not destroy verification sandbox %s: %s", box, exc)

    async def apply(self, box: str, patch: str) -> None:
        try:
            await self.caller.call("sandbox", "apply_patch", {"sandbox_id": box, "patch": patch})
        except Exception as exc:
            raise GateFailed("patch_does_not_apply", f"the diff does not apply: {exc}") from exc

    async def run_tests(self, box: str, tests: list[str]) -> dict[str, Any]:
        args: dict[str, Any] = {"sandbox_id": box, "tests": tests, "report": "all"}
        if self.policy.test_command:
            args["command"] = self.policy.test_command
        return await self.caller.call("sandbox", "run_tests", args)

    async def read_or_none(self, box: str, path: str) -> str | None:
        """A workspace file's exact content (``export_file``: ``read_file`` is text cleaned
        for a model), or ``None`` when there is no such file."""
        data = bytearray()
        while True:
            try:
                page = await self.caller.call(
                    "sandbox", "export_file", {"sandbox_id": box, "path": path, "offset": len(data)}
                )
                chunk = base64.b64decode(str(page["content_base64"]), validate=True)
            except (ToolCallError, binascii.Error, KeyError):
                return None if not data else data.decode("utf-8", "replace")
            data += chunk
            if not page.get("truncated") or not chunk:
                return data.decode("utf-8", "replace")


async def settled(*steps: Awaitable[Any]) -> list[Any]:
    """Run ``steps`` in parallel and let every one finish (each owns a sandbox it destroys);
    then raise the first failure in the order given — a base that cannot run outranks a fix
    that fails — or return all their results."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome
    return results


def _keep(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report.get(k) for k in KEEP if k in report}


def _brief(evidence: dict[str, Any]) -> dict[str, Any]:
    """Evidence without whole reports (every id's outcome), for events and the run record."""
    out: dict[str, Any] = {}
    for key, value in evidence.items():
        if isinstance(value, dict) and "report" in value:
            report = value["report"]
            out[key] = {
                **_keep(report),
                "report_status": report.get("report_status"),
                "failures": [
                    {
                        "test_id": f.get("test_id"),
                        "outcome": f.get("outcome"),
                        "exception": f.get("exception"),
                        "message": str(f.get("message", ""))[:300],
                    }
                    for f in (report.get("failures") or [])[:20]
                ],
            }
        else:
            out[key] = value
    return out
