"""The Node toolchain in real Docker sandboxes: a pnpm + vitest TypeScript project and an npm +
jest JavaScript project (bundled under tests/sandbox/repos, lockfiles made by the real tools),
their packages installed on the host from the npm registry (cached) and brought into a
network-less image, and the attacks on the run of record, each named after itself.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from node_support import commit_of, host_tools_present, repo_files

from nightfix_sandbox.backends.docker_backend import DockerBackend
from nightfix_sandbox.config import SandboxConfig
from nightfix_sandbox.deps import DependencyImages
from nightfix_sandbox.service import SandboxService
from nightfix_sandbox.toolchains import node_deps

TS = "node-vitest-pnpm"
JS = "node-jest-npm"
TS_IDS = {
    "src/db/connection.test.ts > pool > hands out a connection",
    "src/db/connection.test.ts > pool > refuses past its size",
    "src/math.test.ts > adds",
}
JS_IDS = {
    "__tests__/pool.test.js > pool > hands out a connection",
    "__tests__/pool.test.js > pool > refuses past its size",
    "src/math.test.js > adds",
}
FAILING_TS = (
    'import { expect, test } from "vitest";\nimport { Pool } from "./db/connection";\n\n'
    'test("pool grows to 20", () => {\n  expect(new Pool().size).toBe(20);\n});\n'
)
FAILING_JS = (
    'const { Pool } = require("../src/pool");\n\n'
    'test("pool grows to 20", () => {\n  expect(new Pool().size).toBe(20);\n});\n'
)


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    host_tools_present()


@contextlib.contextmanager
def serve(
    client: docker.DockerClient, image: str, sources: dict[str, Path], **flags: object
) -> Iterator[SandboxService]:
    config = SandboxConfig(
        sources={k: str(v) for k, v in sources.items()},
        image=image,
        pool_size=0,
        **flags,  # type: ignore[arg-type]
    )
    backend = DockerBackend(client, config.limits)
    svc = SandboxService(config, backend, DependencyImages(client, image))
    try:
        yield svc
    finally:
        svc.close()
        backend.close()


def _ids(report: object) -> dict[str, tuple[str, str | None]]:
    return {r.test_id: (r.outcome, r.exception) for r in report.results or []}  # type: ignore[attr-defined]


def test_pnpm_vitest_typescript_project_runs_in_a_sandbox_with_real_ids(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str, make_repo: object
) -> None:
    repo = make_repo(tmp_path / "ts", repo_files(TS))  # type: ignore[operator]
    with serve(docker_client, sandbox_image, {"ts": repo}) as svc:
        info = svc.create("ts")
        assert info.toolchain.name == "node" and "**/__tests__/**" in info.toolchain.test_globs
        assert info.image.startswith("nightfix-sandbox-node-deps:")
        sid = info.sandbox_id
        assert svc.exec(sid, "node --version").stdout.startswith("v24.")
        report = svc.run_tests(sid, report="all")
        assert (report.report_status, report.report_problem) == ("ok", None), report.output_tail
        assert set(_ids(report)) == TS_IDS and report.passed == 3
        assert svc.diff(sid).files_changed == []  # no node_modules, no cache in the workspace

        svc.write_file(sid, "src/grow.test.ts", FAILING_TS)
        svc.write_file(sid, "src/broken.test.ts", 'import { x } from "./nowhere";\nx();\n')
        report = svc.run_tests(sid, report="all")
        assert report.report_status == "ok", report.report_problem
        assert _ids(report)["src/grow.test.ts > pool grows to 20"] == ("failed", "AssertionError")
        assert _ids(report)["src/broken.test.ts"][0] == "error"
        grow = next(f for f in report.failures if f.test_id.startswith("src/grow"))
        assert "expected 10 to be 20" in grow.message

        by_file = svc.run_tests(sid, tests=["src/math.test.ts"], report="all")
        assert set(_ids(by_file)) == {"src/math.test.ts > adds"}
        wanted = "src/db/connection.test.ts > pool > refuses past its size"
        by_id = svc.run_tests(sid, tests=[wanted], report="all")
        ran = {k for k, (outcome, _) in _ids(by_id).items() if outcome != "skipped"}
        assert ran == {wanted} and by_id.report_status == "ok"


def test_npm_jest_javascript_project_runs_in_a_sandbox_with_real_ids(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str, make_repo: object
) -> None:
    repo = make_repo(tmp_path / "js", repo_files(JS))  # type: ignore[operator]
    with serve(docker_client, sandbox_image, {"js": repo}) as svc:
        info = svc.create("js")
        assert info.toolchain.name == "node"
        sid = info.sandbox_id
        report = svc.run_tests(sid, report="all")
        assert (report.report_status, report.report_problem) == ("ok", None), report.output_tail
        assert set(_ids(report)) == JS_IDS

        svc.write_file(sid, "__tests__/grow.test.js", FAILING_JS)
        svc.write_file(sid, "__tests__/broken.test.js", 'require("./nowhere");\n')
        report = svc.run_tests(sid, report="all")
        assert report.report_status == "ok", report.report_problem
        assert _ids(report)["__tests__/grow.test.js > pool grows to 20"] == (
            "failed",
            "AssertionError",
        )
        assert _ids(report)["__tests__/broken.test.js"][0] == "error"

        by_file = svc.run_tests(sid, tests=["src/math.test.js"], report="all")
        assert set(_ids(by_file)) == {"src/math.test.js > adds"}
        wanted = "__tests__/pool.test.js > pool > refuses past its size"
        by_id = svc.run_tests(sid, tests=[wanted], report="all")
        ran = {k for k, (outcome, _) in _ids(by_id).items() if outcome != "skipped"}
        assert ran == {wanted} and by_id.report_status == "ok"


def test_second_sandbox_of_the_same_lockfile_reuses_the_dependency_image(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str, make_repo: object
) -> None:
    first = make_repo(tmp_path / "a", repo_files(JS))  # type: ignore[operator]
    other = repo_files(JS, {"src/extra.js": "module.exports = 1;\n"})
    other["package.json"] = other["package.json"].replace('"jest"\n', '"jest --ci"\n')
    second = make_repo(tmp_path / "b", other)  # type: ignore[operator]
    with serve(docker_client, sandbox_image, {"a": first, "b": second}) as svc:
        one = svc.create("a")
        assert svc.deps is not None
        builds: list[str] = []
        real = svc.deps._build_directory

        def counted(tag: str, base: str, found: object) -> None:
            builds.append(tag)
            real(tag, base, found)  # type: ignore[arg-type]

        svc.deps._build_directory = counted  # type: ignore[method-assign]
        two = svc.create("b")  # another commit: new code, new test script, same lockfile
        assert two.image == one.image and builds == []
        assert svc.run_tests(two.sandbox_id).passed == 3


def test_repo_config_adding_its_own_reporter_or_output_file_is_overridden(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str, make_repo: object
) -> None:
    forged = json.dumps({"success": True, "numFailedTests": 0, "testResults": []})
    vitest_config = (
        'import { writeFileSync } from "node:fs";\nimport { defineConfig } from "vitest/config";\n'
        "export default defineConfig({ test: {\n"
        '  reporters: ["json", { onTestRunEnd() {\n'
        '    for (const a of process.argv) if (a.includes("outputFile"))'
        f' writeFileSync(a.split("=")[1], {json.dumps(forged)});\n'
        '    writeFileSync("/tmp/forger-ran", "x");\n  } }],\n'
        '  outputFile: { json: "/tmp/elsewhere.json" },\n} });\n'
    )
    processor = (
        "module.exports = (results) => {\n"
        '  require("node:fs").writeFileSync("/tmp/forger-ran", "x");\n'
        "  for (const f of results.testResults) { f.status = 'passed'; f.failureMessage = null;\n"
        "    for (const a of f.testResults) { a.status = 'passed'; a.failureMessages = []; } }\n"
        "  results.numFailedTests = 0; results.numFailedTestSuites = 0; results.success = true;\n"
        "  return results;\n};\n"
    )
    jest_config = (
        'module.exports = { reporters: [["<rootDir>/forge.js", {}]], '
        'testResultsProcessor: "<rootDir>/forge.js" };\n'
    )
    ts = make_repo(  # type: ignore[operator]
        tmp_path / "ts",
        repo_files(TS, {"vitest.config.ts": vitest_config, "src/grow.test.ts": FAILING_TS}),
    )
    js = make_repo(  # type: ignore[operator]
        tmp_path / "js",
        repo_files(
            JS,
            {
                "jest.config.js": jest_config,
                "forge.js": processor,
                "__tests__/grow.test.js": FAILING_JS,
            },
        ),
    )
    with serve(docker_client, sandbox_image, {"ts": ts, "js": js}) as svc:
        for source, failing in (
            ("ts", "src/grow.test.ts > pool grows to 20"),
            ("js", "__tests__/grow.test.js > pool grows to 20"),
        ):
            sid = svc.create(source).sandbox_id
            report = svc.run_tests(sid, report="all")
            assert (report.report_status, report.report_problem) == ("ok", None), source
            assert _ids(report)[failing][0] == "failed" and report.failed == 1, source
            assert report.exit_code == 1, source
            probe = svc.exec(sid, "ls /tmp/forger-ran /tmp/elsewhere.json 2>&1 | wc -l")
            assert svc.exec(sid, "test -e /tmp/forger-ran").exit_code == 1, probe.stdout


def test_test_script_exiting_0_whatever_is_not_the_run_of_record(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str, make_repo: object
) -> None:
    files = repo_files(JS, {"__tests__/grow.test.js": FAILING_JS})
    files["package.json"] = files["package.json"].replace('"jest"\n', '"jest || exit 0"\n')
    repo = make_repo(tmp_path / "js", files)  # type: ignore[operator]
    with serve(docker_client, sandbox_image, {"js": repo}) as svc:
        sid = svc.create("js").sandbox_id
        assert svc.exec(sid, "npm test >/dev/null 2>&1").exit_code == 0  # the script hides it
        report = svc.run_tests(sid)
        assert (report.exit_code, report.failed, report.report_status) == (1, 1, "ok")
        assert "npm" not in report.command and "/node_modules/jest/bin/jest.js" in report.command


def test_test_file_writing_the_report_path_itself_is_refused(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str, make_repo: object
) -> None:
    forged = {
        "testResults": [
            {
                "name": "/sandbox/workspace/src/math.test.ts",
                "status": "passed",
                "assertionResults": [{"ancestorTitles": [], "title": "adds", "status": "passed"}],
            }
        ]
    }
    forger = (
        'import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";\n'
        'import { test } from "vitest";\n'
        'test("forges", () => {\n'
        '  for (const pid of readdirSync("/proc").filter((p) => /^\\d+$/.test(p))) {\n'
        "    let argv: string[] = [];\n"
        '    try { argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\\0"); }'
        " catch { continue; }\n"
        '    const arg = argv.find((a) => a.startsWith("--outputFile.json="));\n'
        "    if (!arg) continue;\n"
        '    const path = arg.slice("--outputFile.json=".length);\n'
        f"    writeFileSync(path, JSON.stringify({json.dumps(forged)}));\n"
        "    chmodSync(path, 0o444);  // the runner's own report cannot replace it\n"
        "  }\n});\n"
    )
    files = repo_files(TS, {"src/forge.test.ts": forger, "src/grow.test.ts": FAILING_TS})
    repo = make_repo(tmp_path / "ts", files)  # type: ignore[operator]
    with serve(docker_client, sandbox_image, {"ts": repo}) as svc:
        sid = svc.create("ts").sandbox_id
        report = svc.run_tests(sid, report="all")
        assert set(_ids(report)) == {"src/math.test.ts > adds"}  # the forgery was read...
        assert report.report_status == "inconsistent", report.report_problem  # ...not believed
        assert "disagrees" in str(report.report_problem)


def test_workspace_node_modules_shadowing_the_installed_packages_is_refused(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str, make_repo: object
) -> None:
    fake = (
        "export const test = () => {};\nexport const describe = () => {};\n"
        "export const it = () => {};\nexport const expect = () => ({ toBe() {}, toThrow() {} });\n"
    )
    repo = make_repo(tmp_path / "ts", repo_files(TS, {"src/grow.test.ts": FAILING_TS}))  # type: ignore[operator]
    with serve(docker_client, sandbox_image, {"ts": repo}) as svc:
        sid = svc.create("ts").sandbox_id
        svc.write_file(
            sid, "node_modules/vitest/package.json", '{"name": "vitest", "main": "i.js"}'
        )
        svc.write_file(sid, "node_modules/vitest/i.js", fake)
        report = svc.run_tests(sid)
        assert report.report_status == "runner_error" and report.passed == 0
        assert "node_modules" in str(report.report_problem)


def test_lifecycle_script_does_not_run_on_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    hook = f"node -e \"require('fs').writeFileSync('{marker}', 'ran')\""
    files = repo_files("node-mocha-npm")
    package = json.loads(files["package.json"])
    package["scripts"] = {"preinstall": hook, "postinstall": hook, "prepare": hook}
    files["package.json"] = json.dumps(package)
    monkeypatch.setenv("NIGHTFIX_SANDBOX_CACHE", str(tmp_path / "cache"))  # a real, fresh install
    modules = node_deps.host_modules(commit_of(files))
    assert modules is not None and (modules / "mocha" / "package.json").exists()
    assert not marker.exists()  # npm ci ran, the project's lifecycle scripts did not
    # The operator's --install-scripts lets them run: the hook is real and would have fired.
    node_deps.host_modules(commit_of(files), allow_scripts=True)
    assert marker.read_text() == "ran"


def test_sandbox_yaml_env_changing_how_node_or_its_runner_starts_is_refused() -> None:
    from nightfix_sandbox import repo_setup
    from nightfix_sandbox.errors import SecurityError

    # NODE_OPTIONS=--require ./test/setup.js would run a file a fix may change before the
    # runner, in the run of record.
    for name in ("NODE_OPTIONS", "NODE_PATH", "npm_config_ignore_scripts", "VITEST_POOL_ID"):
        with pytest.raises(SecurityError, match=f"env: {name} may not be set"):
            repo_setup.load(f"env:\n  {name}: x\n".encode())
    assert repo_setup.load(b"env:\n  NODE_ENV: test\n").env == {"NODE_ENV": "test"}
