"""Static checks that a diff leaves test plumbing alone: the first wall of the gate.

A fix that changes how tests run proves nothing by passing them. The sandbox's toolchain
names its language's test infrastructure (``create_sandbox`` → ``toolchain``); these checks
apply it to the diff before any sandbox runs it. Each failure raises :class:`GateFailed`
with its own check name, so the stop reason says which wall held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nightfix.autonomy import diffs
from nightfix.autonomy.gate_errors import GateFailed
from nightfix.policy import VerificationPolicy

NIGHTFIX_NAMES = re.compile(r"\bNIGHTFIX_\w*")
"""nightfix's own variables: no code in a fix has any business naming them."""


@dataclass(frozen=True)
class Rules:
    """A toolchain's test-infrastructure rules merged with the policy's."""

    test_globs: list[str]
    protected_paths: list[str]
    protected_tables: dict[str, list[str]] = field(default_factory=dict)
    runner_internals: list[str] = field(default_factory=list)
    tamper_patterns: list[str] = field(default_factory=list)
    disable_markers: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, toolchain: dict[str, Any], policy: VerificationPolicy) -> Rules:
        return cls(
            test_globs=list(policy.test_paths or toolchain.get("test_globs") or []),
            protected_paths=[*toolchain.get("protected_paths", []), *policy.protected_paths],
            protected_tables=dict(toolchain.get("protected_tables") or {}),
            runner_internals=list(toolchain.get("runner_internals") or []),
            tamper_patterns=list(toolchain.get("tamper_patterns") or []),
            disable_markers=list(toolchain.get("disable_markers") or []),
        )

    def is_test(self, path: str) -> bool:
        return diffs.matches(path, self.test_globs)


def protected_paths(patches: list[diffs.FilePatch], rules: Rules) -> list[str]:
    """Paths of test infrastructure the diff touches (whole files; TOML tables are
    compared by the gate, which can read both versions)."""
    return sorted(
        {
            path
            for patch in patches
            for path in diffs.touched_paths(patch)
            if diffs.matches(path, rules.protected_paths)
        }
    )


def check_tests_kept(patches: list[diffs.FilePatch], rules: Rules) -> None:
    """Existing tests are neither deleted, renamed nor newly skipped/xfailed/narrowed."""
    for patch in patches:
        old = patch.old_path
        if old is None or not rules.is_test(old):
            continue
        if patch.deleted or (patch.new_path and patch.new_path != old):
            verb = "deletes" if patch.deleted else "renames"
            raise GateFailed("test_removed", f"the fix {verb} the existing test file {old}")
        for line in diffs.added_lines(patch):
            if _first_match(rules.disable_markers, line):
                raise GateFailed(
                    "test_disabled",
                    f"the fix adds a skip/xfail marker to the existing tests in {old}: "
                    f"{line.strip()[:120]}",
                )


def check_runner_untouched(patches: list[diffs.FilePatch], rules: Rules) -> None:
    """No added line reaches into the test runner or names nightfix's own variables."""
    for patch in patches:
        test = rules.is_test(patch.path)
        patterns = rules.tamper_patterns + ([] if test else rules.runner_internals)
        for line in diffs.added_lines(patch):
            hit = NIGHTFIX_NAMES.search(line) or _first_match(patterns, line)
            if hit:
                what = "test" if test else "non-test"
                raise GateFailed(
                    "runner_tampering",
                    f"{what} code in {patch.path} reaches into the test run "
                    f"({hit.group(0)!r} in: {line.strip()[:120]})",
                )


def changed_tables(rules: Rules, path: str, before: str | None, after: str | None) -> list[str]:
    """Protected TOML tables of ``path`` that differ between the two versions."""
    import tomllib

    tables = rules.protected_tables.get(path, [])
    if not tables:
        return []

    def load(text: str | None) -> dict[str, Any]:
        try:
            return tomllib.loads(text or "")
        except tomllib.TOMLDecodeError as exc:
            raise GateFailed("protected_path", f"{path} does not parse as TOML: {exc}") from None

    old, new = load(before), load(after)
    return [t for t in tables if _dig(old, t) != _dig(new, t)]


def _dig(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _first_match(patterns: list[str], line: str) -> re.Match[str] | None:
    for pattern in patterns:
        found = re.search(pattern, line)
        if found:
            return found
    return None
