"""A Go module through the whole pipeline: `nightfix watch --once` with a scripted model, the
three real servers over stdio, real Docker sandboxes running `go test -json`, the gate proving
the regression by the runner's own ids — and refusing a Go-shaped cheat.

The repository is the bundled, vendored `tests/sandbox/repos/go-inventory` (its dependency
builds from `vendor/` only: the sandbox has no network).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from autonomy_support import Env
from demo_env import git, write_policy
from test_gate_attacks import refused, trajectory

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

MODULE = Path(__file__).parents[1] / "sandbox" / "repos" / "go-inventory"
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
BUG = "if n > s.Left+1 { // the bug: one more than is left can be reserved"
FIXED_SOURCE = (MODULE / "stock" / "stock.go").read_text().replace(BUG, "if n > s.Left {")
REGRESSION_ID = "example.com/inventory/stock::TestReserveMoreThanLeft"


@pytest.fixture
def env(tmp_path: Path, errors_db: Path) -> Env:
    repo = tmp_path / "inventory"
    for path in MODULE.rglob("*"):
        if path.is_file():
            target = repo / path.relative_to(MODULE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "inventory")
    return Env(tmp_path / "nf", repo, write_policy(tmp_path / "nf", repo, errors_db, 2))


def test_go_fix_is_proved_by_test_ids_and_delivered(env: Env, tmp_path: Path, no_leaks) -> None:
    files = {"stock/stock.go": FIXED_SOURCE, "stock/reserve_test.go": REGRESSION_TEST}
    env.watch(trajectory(tmp_path, files))
    [run] = env.runs()
    assert run["status"] == "delivered" and run["stop_reason"] == "completed", run["notes"]
    [pull] = env.pulls()
    assert REGRESSION_ID in pull["body"], pull["body"]
    assert "Reserve(4) of 3 = <nil>, want ErrOutOfStock" in pull["body"]
    changed = git(env.repo, "diff", "--name-only", "main", pull["head"]).split()
    assert changed == ["stock/reserve_test.go", "stock/stock.go"]


def test_go_testmain_exiting_zero_is_refused(env: Env, tmp_path: Path, no_leaks) -> None:
    main = 'package stock\n\nimport (\n\t"os"\n\t"testing"\n)\n\n'
    main += "func TestMain(m *testing.M) {\n\tm.Run()\n\tos.Exit(0)\n}\n"
    files = {"stock/main_test.go": main, "stock/reserve_test.go": REGRESSION_TEST}
    run = refused(env, "verification_failed:runner_tampering", trajectory(tmp_path, files))
    assert "TestMain" in run["notes"]
