"""The TypeScript and Go example services as a team has them: their suites pass on the bug,
`fix.patch` applies, the suite passes with it, and its regression test fails without it.

Run on the host with the venv's Node (pnpm 12.4.2, the example's own lockfile) and Go (GOPATH
off: a module with no dependencies, built offline); the sandbox side is tested elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import demo_env
import sdk_tools

pytestmark = pytest.mark.e2e
TS = demo_env.service_dir("checkout-service-ts")
GO = demo_env.service_dir("inventory-service-go")


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def split_patch(repo: Path, patch: Path) -> tuple[list[str], list[str]]:
    """(source files, test files) the patch touches, after checking it applies."""
    demo_env.git(repo, "apply", "--check", str(patch))
    names = demo_env.git(repo, "apply", "--numstat", str(patch)).splitlines()
    files = [line.split("\t")[2] for line in names]
    tests = [f for f in files if "test" in Path(f).name]
    return [f for f in files if f not in tests], tests


def test_repository_leaves_out_the_drivers_and_the_answers(tmp_path: Path) -> None:
    for service, driver in ((TS, "traffic.cjs"), (GO, "traffic.go")):
        repo = demo_env.make_repo(tmp_path / service.name, service=service)
        tracked = demo_env.git(repo, "ls-files").splitlines()
        assert driver not in tracked and "fix.patch" not in tracked
        assert "trajectory.yaml" not in tracked
        assert not any(t.startswith(("node_modules/", "dist/")) for t in tracked)


def test_typescript_fix_passes_and_its_regression_test_fails_without_it(tmp_path: Path) -> None:
    repo = demo_env.make_repo(tmp_path / "checkout-service-ts", service=TS)
    package = (repo / "package.json").read_text()
    assert '"packageManager": "pnpm@12.4.2"' in package
    env = sdk_tools.tool_env()
    install = run([sdk_tools.pnpm(), "install", "--frozen-lockfile", "--ignore-scripts"], repo, env)
    assert install.returncode == 0, install.stdout + install.stderr
    vitest = [str(repo / "node_modules" / ".bin" / "vitest"), "run"]

    on_bug = run(vitest, repo, env)
    assert on_bug.returncode == 0, on_bug.stdout + on_bug.stderr  # the suite passes on the bug

    sources, tests = split_patch(repo, TS / "fix.patch")
    assert sources == ["src/db/connection.ts"] and tests == ["test/pool.test.ts"]
    demo_env.git(repo, "apply", str(TS / "fix.patch"))
    fixed = run(vitest, repo, env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr

    demo_env.git(repo, "checkout", "--", *sources)  # the fix undone, its test kept
    report = tmp_path / "vitest.json"
    json_reporter = ["--reporter=default", "--reporter=json", f"--outputFile.json={report}"]
    regression = run([*vitest, *json_reporter, "test/pool.test.ts"], repo, env)
    assert regression.returncode != 0
    assert "makes an 11th concurrent checkout wait" in regression.stdout
    assert "ConnectionPoolExhausted" in regression.stdout + regression.stderr
    # the gate's rule: every test the fix adds must fail on the original code (a new test
    # that passes there proves nothing, and the gate refuses the whole fix for it)
    [suite] = json.loads(report.read_text())["testResults"]
    outcomes = {t["title"]: t["status"] for t in suite["assertionResults"]}
    assert len(outcomes) == 2 and set(outcomes.values()) == {"failed"}, outcomes


def test_go_fix_passes_and_its_regression_test_fails_without_it(tmp_path: Path) -> None:
    repo = demo_env.make_repo(tmp_path / "inventory-service-go", service=GO)
    env = {
        **sdk_tools.tool_env(),
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOCACHE": str(sdk_tools.cache_root() / "go-build"),
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    go_test = [sdk_tools.venv_tool("go"), "test", "./..."]
    on_bug = run(go_test, repo, env)
    assert on_bug.returncode == 0, on_bug.stdout + on_bug.stderr

    sources, tests = split_patch(repo, GO / "fix.patch")
    assert sources == ["stock/stock.go"] and tests == ["stock/stock_test.go"]
    demo_env.git(repo, "apply", str(GO / "fix.patch"))
    fixed = run(go_test, repo, env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr

    demo_env.git(repo, "checkout", "--", *sources)
    regression = run(go_test, repo, env)
    assert regression.returncode != 0
    assert "TestTopSellersWithFewerItemsThanAskedReturnsThemAll" in regression.stdout
    assert "slice bounds out of range" in regression.stdout


@pytest.mark.parametrize("service", [TS, GO], ids=lambda s: s.name)
def test_trajectory_reads_the_failing_file_and_applies_the_known_fix(
    service: Path, tmp_path: Path
) -> None:
    """The scripted run: issue, the failing file, a regression test, tests, the fix, finish;
    its test is fix.patch's test and its patch the rest of fix.patch, so the script is the fix."""
    turns = yaml.safe_load((service / "trajectory.yaml").read_text())["turns"]
    calls = [c for t in turns for c in t.get("tool_calls", [])]
    names = [c["name"] for c in calls]
    assert names == [
        "errors.get_issue",
        "sandbox.read_file",
        "sandbox.write_file",
        "sandbox.run_tests",
        "sandbox.apply_patch",
        "sandbox.run_tests",
        "finish",
    ]
    repo = demo_env.make_repo(tmp_path / service.name, service=service)
    written = calls[2]["input"]
    assert calls[3]["input"] == {"tests": [written["path"]]}
    (repo / written["path"]).write_text(written["content"])
    patch = tmp_path / "source.patch"
    patch.write_text(calls[4]["input"]["patch"])
    demo_env.git(repo, "apply", str(patch))
    demo_env.git(repo, "add", "-A")
    after_script = demo_env.git(repo, "diff", "--cached", "HEAD")
    demo_env.git(repo, "reset", "-q", "--hard")
    demo_env.git(repo, "apply", "--index", str(service / "fix.patch"))
    assert demo_env.git(repo, "diff", "--cached", "HEAD") == after_script
    source = calls[1]["input"]["path"]
    assert source in calls[4]["input"]["patch"]
