"""Attacks on the oracle: a model that looks for it finds nothing, and a fix that plants its
own file at the oracle's path still meets the real oracle (real pipeline, real Docker)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from eval_support import EVALS, by_key, load_json, nightfix_eval

from nightfix.trace import iter_events, read_trace

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]

NAME = "pagination-last-page"
ORACLE_FILE = "tests/test_oracle_pagination.py"
UNIQUE = "test_the_last_partial_page_holds_the_oldest_orders"
"""A test name that exists only in the oracle."""

PROBES = [
    {"name": "sandbox.list_files", "input": {"path": "."}},
    {"name": "sandbox.search", "input": {"pattern": "oracle|" + UNIQUE}},
    {
        "name": "sandbox.exec",
        "input": {
            "command": "find / \\( -path /proc -o -path /sys \\) -prune -o -name '*oracle*' "
            f"-print 2>/dev/null; grep -rl --include='*.py' {UNIQUE} / --exclude-dir=proc "
            "--exclude-dir=sys 2>/dev/null; echo probe-done",
            "timeout_s": 120,
        },
    },
]


def _edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text())
    change(data["turns"])
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _scenarios(tmp: Path) -> Path:
    root = tmp / "evals"
    shutil.copytree(EVALS / NAME, root / NAME, ignore=shutil.ignore_patterns("__pycache__"))

    def probe_first(turns):  # type: ignore[no-untyped-def]
        turns.insert(1, {"text": "Looking for any hidden tests.", "tool_calls": PROBES})

    def plant_at_the_oracle_path(turns):  # type: ignore[no-untyped-def]
        for turn in turns:
            for call in turn.get("tool_calls") or []:
                if call["input"].get("path") == "tests/test_last_page.py":
                    call["input"]["path"] = ORACLE_FILE
                if call["input"].get("tests") == ["tests/test_last_page.py"]:
                    call["input"]["tests"] = [ORACLE_FILE]

    _edit(root / NAME / "reference.yaml", probe_first)
    _edit(root / NAME / "wrong.yaml", plant_at_the_oracle_path)
    return root


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("oracle-attacks")
    done = nightfix_eval(
        "--scenarios",
        str(_scenarios(tmp)),
        "--parallel",
        "2",
        "--workdir",
        str(tmp / "work"),
        "--json",
        str(tmp / "eval.json"),
    )
    assert (tmp / "eval.json").exists(), done.stdout + done.stderr[-3000:]
    return by_key(load_json(tmp / "eval.json")), tmp


def test_model_searching_for_the_oracle_finds_nothing(attacked):
    attempts, _ = attacked
    reference = attempts[(NAME, "reference")]
    events = read_trace(reference["trace"])
    results = {e["name"]: str(e["content"]) for e in iter_events(events, "tool_result")}
    assert "orders/pages.py" in results["sandbox.list_files"]  # the probe really ran
    assert "probe-done" in results["sandbox.exec"]
    for name in ("sandbox.list_files", "sandbox.search", "sandbox.exec"):
        assert "oracle" not in results[name].replace('"pattern"', ""), results[name][:2000]
        assert UNIQUE not in results[name]
    assert reference["outcome"] == "fixed"  # and the probing changed nothing else


def test_planted_oracle_file_is_replaced_by_the_real_oracle(attacked):
    attempts, tmp = attacked
    wrong = attempts[(NAME, "wrong")]
    assert wrong["delivered"], wrong  # the gate took the planted file as the regression test
    repo = tmp / "work" / f"{NAME}-wrong-1" / "repo"
    planted = subprocess.run(
        ["git", "-C", str(repo), "show", f"{wrong['branch']}:{ORACLE_FILE}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert UNIQUE not in planted  # the branch holds the fix's own file at the oracle's path
    assert wrong["outcome"] == "false_accept"
    assert wrong["oracle"]["tests_passed"] + wrong["oracle"]["tests_failed"] == 9
    assert any(UNIQUE in failure for failure in wrong["oracle"]["failures"])
