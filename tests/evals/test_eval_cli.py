"""The command's failure modes: a live model with no reachable endpoint fails clearly, at
once, before any scenario runs; bad input is exit 2 with one line; a traffic script that fails
is a harness error (exit 1), not a measured result."""

from __future__ import annotations

import shutil
import socket

from eval_support import EVALS, load_json, nightfix_eval

NO_KEY = {"ANTHROPIC_API_KEY": ""}  # read as not set


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_live_model_without_a_key_fails_clearly(tmp_path):
    done = nightfix_eval(
        "--model", "anthropic", "--workdir", str(tmp_path / "w"), env=NO_KEY, timeout=120
    )
    assert done.returncode == 3, done.stderr
    assert "ANTHROPIC_API_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "w").exists()  # nothing ran


def test_live_model_with_an_unreachable_endpoint_fails_clearly(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    done = nightfix_eval(
        "--model",
        "anthropic",
        "--workdir",
        str(tmp_path / "w"),
        env={"ANTHROPIC_API_KEY": "sk-test-not-a-real-key", "ANTHROPIC_BASE_URL": url},
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert f"model endpoint {url} is not reachable" in done.stderr
    assert "sk-test-not-a-real-key" not in done.stderr + done.stdout
    assert not (tmp_path / "w").exists()


def test_openai_default_endpoint_unreachable_offline_fails_clearly(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    done = nightfix_eval(
        "--model",
        "openai:gpt-test",
        "--workdir",
        str(tmp_path / "w"),
        env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": url},
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "is not reachable" in done.stderr


def test_unknown_scenario_is_bad_input(tmp_path):
    done = nightfix_eval("--only", "no-such-scenario", "--workdir", str(tmp_path / "w"))
    assert done.returncode == 2
    assert "unknown scenario(s) no-such-scenario" in done.stderr


def test_replay_dir_without_recordings_is_bad_input(tmp_path):
    done = nightfix_eval(
        "--model",
        f"replay:{tmp_path}",
        "--only",
        "pagination-last-page",
        "--workdir",
        str(tmp_path / "w"),
    )
    assert done.returncode == 2
    assert "no recorded run" in done.stderr and "pagination-last-page.jsonl" in done.stderr


def test_help_documents_the_exit_codes():
    done = nightfix_eval("--help")
    assert done.returncode == 0
    for code in ("0  everything as expected", "1  not as expected", "2  bad input", "3  the live"):
        assert code in done.stdout


def test_traffic_that_fails_is_a_harness_error_not_a_result(tmp_path):
    scenarios = tmp_path / "evals"
    shutil.copytree(EVALS / "webhook-retry", scenarios / "webhook-retry")
    traffic = "import sys\nprint('0 failed deliveries reported')\nsys.exit(1)\n"
    (scenarios / "webhook-retry" / "traffic.py").write_text(traffic)
    done = nightfix_eval(
        "--scenarios",
        str(scenarios),
        "--workdir",
        str(tmp_path / "w"),
        "--json",
        str(tmp_path / "eval.json"),
    )
    assert done.returncode == 1
    report = load_json(tmp_path / "eval.json")
    assert {a["outcome"] for a in report["attempts"]} == {"error"}
    assert all("the traffic script failed" in a["problem"] for a in report["attempts"])
    assert len(report["unexpected"]) == 2
