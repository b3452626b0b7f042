"""The bundled scenarios load, keep their oracle hidden, and their trajectories parse; a bad
scenario is refused with a message that says what is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nightfix.errors import NightfixError
from nightfix.evals.scenarios import TRAJECTORIES, load, load_all
from nightfix.evals.security import OracleExposed, check_oracle_hidden
from nightfix.models.replay import load_turns

ROOT = Path(__file__).resolve().parents[2]
EVALS = ROOT / "evals"


def test_at_least_seven_python_scenarios_of_distinct_bug_kinds():
    scenarios = load_all(EVALS)
    python = [s for s in scenarios if s.language == "python"]
    assert len(python) >= 7
    assert len({s.bug_kind for s in python}) == len(python)


@pytest.mark.parametrize("name", sorted(p.parent.name for p in EVALS.glob("*/scenario.yaml")))
def test_scenario_shape(name):
    scenario = load(EVALS / name)
    assert (scenario.directory / scenario.traffic[-1]).is_file()
    assert any(p.name.startswith("test_") for p in scenario.repo.rglob("*.py"))
    for kind in TRAJECTORIES:
        turns = load_turns(scenario.trajectory(kind), {"issue_id": "1"})
        names = [c.name for t in turns for c in t.tool_calls]
        assert names[-1] == "finish"
        assert "sandbox.run_tests" in names
        written = [
            c.input["path"] for t in turns for c in t.tool_calls if c.name.endswith("write_file")
        ]
        assert any(p.startswith("tests/") for p in written), "a regression test is written"


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
