"""The autonomy commands' bad-input paths: one clear line, exit code 2, no traceback."""

import subprocess
from pathlib import Path

import yaml
from autonomy_support import NIGHTFIX


def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state": {"db": str(tmp_path / "state.db")},
                "audit": {"path": str(tmp_path / "audit.jsonl")},
                "traces": {"dir": str(tmp_path / "traces")},
            }
        )
    )
    return path


def nightfix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NIGHTFIX, *args], capture_output=True, text=True, timeout=60)


def test_unknown_model_is_one_line_and_exit_2(tmp_path):
    done = nightfix("watch", "--once", "--policy", str(policy(tmp_path)), "--model", "gpt")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "nightfix: unknown model 'gpt': use 'anthropic', 'openai', 'bedrock', 'vertex' "
        "(optionally PROVIDER:MODEL_NAME) or 'replay:PATH'"
    )


def test_replay_provider_needs_a_path(tmp_path):
    path = policy(tmp_path)
    path.write_text(path.read_text() + "model: {provider: replay}\n")
    done = nightfix("watch", "--once", "--policy", str(path))
    assert done.returncode == 2 and "pass --model replay:PATH" in done.stderr


def test_approve_or_deny_an_unknown_run(tmp_path):
    for command in ("approve", "deny"):
        done = nightfix(command, "nope", "--policy", str(policy(tmp_path)))
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "no watch run 'nope'" in done.stderr


def test_invalid_policy_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("watch:\n  max_runs_per_dya: 3\n")
    done = nightfix("watch", "--once", "--policy", str(bad))
    assert done.returncode == 2 and "line 2: watch.max_runs_per_dya: unknown key" in done.stderr


def test_nothing_waits(tmp_path):
    done = nightfix("approvals", "--policy", str(policy(tmp_path)))
    assert done.returncode == 0 and done.stdout.strip() == "nothing waits for approval"
    done = nightfix("approvals", "--json", "--policy", str(policy(tmp_path)))
    assert done.stdout.strip() == "[]"
