"""`make demo`'s script, exactly as `make demo` runs it, in a temp dir — twice (re-runnable)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def run_demo(workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["NIGHTFIX_DEMO_DIR"] = str(workdir)
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_demo_runs_end_to_end_and_is_rerunnable(tmp_path):
    workdir = tmp_path / "demo"
    for attempt in (1, 2):
        done = run_demo(workdir)
        out = done.stdout
        assert done.returncode == 0, f"attempt {attempt}:\n{out}\n{done.stderr[-3000:]}"
        for needle in (
            "model: SCRIPTED",  # says plainly that no real model is used
            "CRITICAL — ",
            "transaction /checkout",
            "verification passed",
            "awaiting_approval",
            "the demo approves it itself",
            "pull request    #1 (open, ready for review) nightfix/issue-1 -> main",
            "stop reason completed",
            "regression test tests/test_pool.py: 1 failing on the original code",
            "+            self._lock.notify()",
            "cost            $0.0500",
        ):
            assert needle in out, f"attempt {attempt}: {needle!r} missing from:\n{out}"
    assert (workdir / ".nightfix-demo").exists()


def test_demo_refuses_to_wipe_a_directory_it_did_not_make(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    done = run_demo(precious)
    assert done.returncode != 0 and "not a nightfix demo directory" in done.stderr
    assert (precious / "thesis.tex").read_text() == "do not delete"
