"""The bundled scenarios load, keep their oracle hidden, and their trajectories parse; a bad
scenario is refused with a message that says what is wrong."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest

from nightfix.errors import NightfixError
from nightfix.evals.scenarios import TRAJECTORIES, load, load_all
from nightfix.evals.security import OracleExposed, check_oracle_hidden
from nightfix.evals.world import sdk_env
from nightfix.models.replay import load_turns

ROOT = Path(__file__).resolve().parents[2]
EVALS = ROOT / "evals"
LOCKFILES = ("package-lock.json", "pnpm-lock.yaml", "yarn.lock")
NODE_TEST = re.compile(r"(^|/)(__tests__|test|tests)/|\.(test|spec)\.[cm]?[jt]sx?$")
TEST_FILES: dict[str, Callable[[str], bool]] = {
    "python": lambda p: PurePosixPath(p).name.startswith("test_") and p.endswith(".py"),
    "typescript": lambda p: bool(NODE_TEST.search(p)) and p.endswith(".ts"),
    "javascript": lambda p: bool(NODE_TEST.search(p)) and p.endswith(".js"),
    "go": lambda p: p.endswith("_test.go"),
}
"""Which repository paths are tests, per language (what the sandbox's toolchain runs)."""


def test_at_least_seven_python_scenarios_of_distinct_bug_kinds():
    scenarios = load_all(EVALS)
    python = [s for s in scenarios if s.language == "python"]
    assert len(python) >= 7
    assert len({s.bug_kind for s in python}) == len(python)


@pytest.mark.parametrize("name", sorted(p.parent.name for p in EVALS.glob("*/scenario.yaml")))
def test_scenario_shape(name):
    scenario = load(EVALS / name)
    assert (scenario.directory / scenario.traffic[-1]).is_file()
    is_test = TEST_FILES[scenario.language]
    assert any(is_test(p.relative_to(scenario.repo).as_posix()) for p in scenario.repo.rglob("*"))
    assert all(is_test(path) for path in scenario.oracle_files()), "the oracle is tests only"
    for kind in TRAJECTORIES:
        turns = load_turns(scenario.trajectory(kind), {"issue_id": "1"})
        names = [c.name for t in turns for c in t.tool_calls]
        assert names[-1] == "finish"
        assert "sandbox.run_tests" in names
        written = [
            c.input["path"] for t in turns for c in t.tool_calls if c.name.endswith("write_file")
        ]
        assert any(is_test(p) for p in written), "a regression test is written"


@pytest.mark.parametrize(
    "name",
    sorted(p.parent.name for p in EVALS.glob("*/scenario.yaml") if (p.parent / "repo").is_dir()),
)
def test_scenario_dependencies_install_offline(name):
    """Node: a lockfile the sandbox installs from (never a bare package.json); Go: no
    module to download (the sandbox has no module proxy) unless vendored."""
    scenario = load(EVALS / name)
    if scenario.toolchain == "node":
        assert (scenario.repo / "package.json").is_file()
        assert [f for f in LOCKFILES if (scenario.repo / f).is_file()], "a lockfile"
    if scenario.toolchain == "go":
        gomod = (scenario.repo / "go.mod").read_text()
        assert "require" not in gomod or (scenario.repo / "vendor" / "modules.txt").is_file()


def test_three_typescript_or_javascript_and_two_go_scenarios():
    scenarios = load_all(EVALS)
    node = [s for s in scenarios if s.toolchain == "node"]
    go = [s for s in scenarios if s.toolchain == "go"]
    assert len(node) >= 3 and {s.language for s in node} <= {"typescript", "javascript"}
    assert len(go) >= 2 and {s.language for s in go} == {"go"}
    assert all(s.traffic[0] == "node" for s in node) and all(s.traffic[0] == "go" for s in go)


def test_node_or_go_traffic_outside_a_checkout_says_what_it_needs(tmp_path):
    copy = tmp_path / "evals" / "price-contract-ts"
    shutil.copytree(EVALS / "price-contract-ts", copy)
    with pytest.raises(NightfixError, match=r"its node traffic needs .*examples/sdk_tools.py"):
        sdk_env(load(copy), copy / "repo", tmp_path)


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(NightfixError, match=r"unknown scenario.*pagination-last-page"):
        load_all(EVALS, ["no-such-scenario"])


def test_invalid_scenario_yaml_names_the_file_and_field(tmp_path):
    copy = tmp_path / "pagination-last-page"
    shutil.copytree(EVALS / "pagination-last-page", copy)
    meta = copy / "scenario.yaml"
    meta.write_text(meta.read_text().replace("bug_kind: off-by-one", "bug_kind: cosmic-rays"))
    with pytest.raises(NightfixError, match=r"scenario.yaml: invalid scenario.*bug_kind"):
        load(copy)


def _scenario_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "pagination-last-page"
    shutil.copytree(
        EVALS / "pagination-last-page", copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    return copy


def test_oracle_inside_the_repository_is_refused(tmp_path):
    copy = _scenario_copy(tmp_path)
    inner = copy / "repo" / "oracle"
    shutil.copytree(copy / "oracle", inner)
    files = {"tests/test_x.py": "def test_x():\n    assert True\n"}
    with pytest.raises(OracleExposed, match="inside"):
        check_oracle_hidden(copy / "repo", inner, files)


def test_oracle_copied_into_the_repository_is_refused(tmp_path):
    copy = _scenario_copy(tmp_path)
    oracle = copy / "oracle" / "tests" / "test_oracle_pagination.py"
    shutil.copy(oracle, copy / "repo" / "tests" / "test_more_pages.py")  # renamed copy
    with pytest.raises(OracleExposed, match="copy of an oracle file"):
        load(copy)


def test_oracle_file_name_in_the_repository_is_refused(tmp_path):
    copy = _scenario_copy(tmp_path)
    (copy / "repo" / "tests" / "test_oracle_pagination.py").write_text("# placeholder\n")
    with pytest.raises(OracleExposed, match="oracle file's name"):
        load(copy)


def test_link_out_of_the_repository_is_refused(tmp_path):
    copy = _scenario_copy(tmp_path)
    (copy / "repo" / "tests" / "hidden").symlink_to(copy / "oracle")
    with pytest.raises(OracleExposed, match="is a link"):
        load(copy)
