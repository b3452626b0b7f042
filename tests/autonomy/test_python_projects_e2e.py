"""`nightfix watch --once` on Python projects as they really are: a hatch-vcs `src/` package
whose version file is generated at build time, and a `setup.py`-only package whose tests live in
a root-level `test.py`. Their error in the real collector (sent through the real sentry-sdk
transport), the three real MCP servers over stdio, real Docker sandboxes (the project itself
installed editable), a scripted model, the gate on: each ends in a delivered pull request whose
regression proof is pytest's own test id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
import yaml
from autonomy_support import Env
from demo_env import Collector, git, wait_for_issue, write_policy

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

HATCH_PYPROJECT = """\
[build-system]
requires = ["hatchling", "hatch-vcs"]
build-backend = "hatchling.build"

[project]
name = "cartcalc"
dynamic = ["version"]

[tool.hatch.version]
source = "vcs"

[tool.hatch.build.hooks.vcs]
version-file = "src/cartcalc/_version.py"
"""
HATCH_PRICING = """\
def average_price(prices: list[float]) -> float:
    return sum(prices) / len(prices)
"""
HATCH_FIXED = """\
def average_price(prices: list[float]) -> float:
    if not prices:
        return 0.0
    return sum(prices) / len(prices)
"""
HATCH = {
    "pyproject.toml": HATCH_PYPROJECT,
    ".gitignore": "src/cartcalc/_version.py\n",
    "src/cartcalc/__init__.py": "from cartcalc._version import __version__\n",
    "src/cartcalc/pricing.py": HATCH_PRICING,
    "tests/test_pricing.py": "from cartcalc import __version__\n"
    "from cartcalc.pricing import average_price\n\n\n"
    "def test_average_of_three_prices():\n    assert average_price([1.0, 2.0, 3.0]) == 2.0\n\n\n"
    "def test_the_generated_version_file_is_importable():\n    assert __version__\n",
}
HATCH_REGRESSION = (
    "from cartcalc.pricing import average_price\n\n\n"
    "def test_an_empty_cart_has_no_average_price():\n    assert average_price([]) == 0.0\n"
)

SETUP_PY = (
    "from setuptools import setup\n\n"
    "setup(name='legacy-units', version='1.0', py_modules=['units'])\n"
)
UNITS = """\
FACTORS = {"g": 0.001, "kg": 1.0, "lb": 0.4536}


def parse_weight(text: str) -> float:
    value, unit = text.split()
    return float(value) * FACTORS[unit]
"""
UNITS_FIXED = UNITS.replace("FACTORS[unit]", "FACTORS[unit.lower()]")
ROOT_TEST = (
    "from units import parse_weight\n\n\n"
    "def test_kilograms():\n    assert parse_weight('2 kg') == 2.0\n"
)
ROOT_TEST_WITH_REGRESSION = ROOT_TEST + (
    "\n\ndef test_units_written_in_capitals_are_understood():\n"
    "    assert parse_weight('3 KG') == 3.0\n"
)
LEGACY = {
    "setup.py": SETUP_PY,
    "setup.cfg": "[tool:pytest]\npython_files = test.py\n",
    "units.py": UNITS,
    "test.py": ROOT_TEST,
}

CASES: dict[str, dict[str, Any]] = {
    "hatch-vcs-src": {
        "files": HATCH,
        "exception": ("ZeroDivisionError", "division by zero"),
        "frame": ("src/cartcalc/pricing.py", "average_price", 2),
        "fix": {
            "tests/test_empty_cart.py": HATCH_REGRESSION,
            "src/cartcalc/pricing.py": HATCH_FIXED,
        },
        "regression_id": "tests/test_empty_cart.py::test_an_empty_cart_has_no_average_price",
    },
    "setup-py-root-test": {
        "files": LEGACY,
        "exception": ("KeyError", "'KG'"),
        "frame": ("units.py", "parse_weight", 6),
        "fix": {"test.py": ROOT_TEST_WITH_REGRESSION, "units.py": UNITS_FIXED},
        "regression_id": "test.py::test_units_written_in_capitals_are_understood",
    },
}


def _repo(dest: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_text(text)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "service 1.0")
    return dest


def _errors(db: Path, exception: tuple[str, str], frame: tuple[str, str, int]) -> Path:
    """The project's production error in the collector's store, once per request."""
    path, function, line = frame
    with Collector(db) as collector:
        client = sentry_sdk.Client(dsn=collector.dsn, environment="production")
        for i in range(6):
            client.capture_event(
                {
                    "level": "error",
                    "platform": "python",
                    "environment": "production",
                    "user": {"id": f"user-{i}"},
                    "exception": {
                        "values": [
                            {
                                "type": exception[0],
                                "value": exception[1],
                                "stacktrace": {
                                    "frames": [
                                        {
                                            "filename": path,
                                            "abs_path": f"/srv/app/{path}",
                                            "function": function,
                                            "lineno": line,
                                            "in_app": True,
                                        }
                                    ]
                                },
                            }
                        ]
                    },
                }
            )
        client.flush(timeout=10)
        wait_for_issue(db, min_events=5, title=exception[0])
    return db


def _trajectory(tmp: Path, files: dict[str, str]) -> Path:
    """A scripted model: read the issue, write ``files`` (the regression test, the fix), run
    the tests, finish."""
    usage = {"input_tokens": 100, "output_tokens": 10, "cache_read_input_tokens": 0}
    calls: list[dict[str, Any]] = [
        {"name": "sandbox.write_file", "input": {"path": p, "content": c}} for p, c in files.items()
    ]
    calls.append({"name": "sandbox.run_tests", "input": {}})
    finish = {
        "name": "finish",
        "input": {
            "root_cause": "an input the code did not expect",
            "fix": "handle it",
            "tests_run": ["the suite"],
            "confidence": "high",
        },
    }
    turns = [
        {"tool_calls": [{"name": "errors.get_issue", "input": {"issue_id": "${issue_id}"}}]},
        *({"tool_calls": [call]} for call in calls),
        {"tool_calls": [finish]},
    ]
    path = tmp / "fix.yaml"
    path.write_text(
        yaml.safe_dump({"turns": [{**t, "usage": usage} for t in turns]}, sort_keys=False)
    )
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_python_project_fix_is_delivered_with_regression_proof_by_id(
    tmp_path: Path, no_leaks: None, name: str
) -> None:
    case = CASES[name]
    repo = _repo(tmp_path / name, case["files"])
    db = _errors(tmp_path / "errors.db", case["exception"], case["frame"])
    policy = write_policy(tmp_path / "nf", repo, db, 2)
    env = Env(tmp_path / "nf", repo, policy)
    env.watch(_trajectory(tmp_path, case["fix"]))
    [run] = env.runs()
    assert (run["status"], run["stop_reason"]) == ("delivered", "completed"), run
    [pull] = env.pulls()
    assert case["regression_id"] in pull["body"], pull["body"]
    assert "fails with the production error's own exception" in pull["body"], pull["body"]
    changed = git(repo, "diff", "--name-only", "main", pull["head"]).split()
    assert changed == sorted(case["fix"])
