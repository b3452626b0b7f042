"""`make demo`'s script, exactly as `make demo` runs it, in a temp dir — twice (re-runnable) —
and `make demo EXAMPLE=...` for the TypeScript and Go example services."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def run_demo(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["NIGHTFIX_DEMO_DIR"] = str(workdir)
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), *args],
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


EXAMPLE_STORIES = {
    # example: (what the criticality line says, the regression ids the gate must name, a line
    # of the fix's diff)
    "checkout-service-ts": (
        "(the SDK drops repeated identical errors) on transaction POST /checkout, level error",
        [
            "test/pool.test.ts > ConnectionPool under load > makes an 11th concurrent checkout "
            "wait for a free connection instead of failing",
            "test/pool.test.ts > ConnectionPool under load > waits acquireTimeoutMs for a "
            "connection before giving up",
        ],
        "+    const next = this.waiting.shift();",
    ),
    "inventory-service-go": (
        "on transaction GET /top, level fatal",
        ["example.com/inventory/stock::TestTopSellersWithFewerItemsThanAskedReturnsThemAll"],
        "+\tif n > len(all) {",
    ),
}


@pytest.mark.parametrize("example", sorted(EXAMPLE_STORIES))
def test_example_demo_delivers_a_pull_request_proved_by_its_regression_ids(tmp_path, example):
    """`make demo EXAMPLE=...`: the service's traffic through its real SDK (@sentry/node at
    default settings, sentry-go), the trigger, `watch --once` with the example's trajectory,
    the node/go sandbox, the gate by the runner's ids, the approval, a ready pull request."""
    workdir = tmp_path / "demo"
    done = run_demo(workdir, "--example", example)
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr[-3000:]}"
    why, regression_ids, fixed_line = EXAMPLE_STORIES[example]
    for needle in (
        "model: SCRIPTED",
        f"examples/{example}/trajectory.yaml",
        "CRITICAL — ",
        why,
        "verification passed",
        "awaiting_approval",
        "the demo approves it itself",
        "stop reason completed",
        "pull request    #1 (open, ready for review) nightfix/issue-1 -> main",
        fixed_line,
    ):
        assert needle in out, f"{needle!r} missing from:\n{out}"
    github = str(Path(sys.executable).parent / "nightfix-github")
    shown = subprocess.run(
        [github, "pulls", "show", "1", "--local", str(workdir / example), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    body = json.loads(shown.stdout)["body"]
    regression = body.split("**Regression test(s):**", 1)[1].split("\n- [x]", 1)[0]
    for test_id in regression_ids:  # the gate's proof names the runner's own ids
        assert f"`{test_id}`" in regression, body
    assert f"on the original code plus the new tests only: {len(regression_ids)} failed" in body


def test_demo_refuses_to_wipe_a_directory_it_did_not_make(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    done = run_demo(precious)
    assert done.returncode != 0 and "not a nightfix demo directory" in done.stderr
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_demo_with_an_api_key_lets_claude_drive(tmp_path):
    """With ANTHROPIC_API_KEY the demo uses the real anthropic SDK; here it talks to a local
    server speaking the Messages API that answers with the trajectory's turns."""
    sys.path.insert(0, str(ROOT / "tests" / "client"))
    import yaml
    from fake_messages_api import FakeMessagesAPI, message

    turns = yaml.safe_load((ROOT / "examples/checkout-service/trajectory.yaml").read_text())
    script = []
    for n, turn in enumerate(turns["turns"], start=1):
        blocks = [{"type": "text", "text": turn["text"]}] if turn.get("text") else []
        for call in turn["tool_calls"]:
            args = json.loads(json.dumps(call["input"]).replace("${issue_id}", "1"))
            name = call["name"].replace(".", "__")
            blocks.append({"type": "tool_use", "id": f"toolu_{n}", "name": name, "input": args})
        script.append(message(blocks, {"input_tokens": 1000, "output_tokens": 100}))
    secret = "sk-ant-test-" + "9" * 24
    with FakeMessagesAPI(script) as api:
        env = {
            **os.environ,
            "ANTHROPIC_API_KEY": secret,
            "ANTHROPIC_BASE_URL": api.url,
            "NIGHTFIX_DEMO_DIR": str(tmp_path / "demo"),
        }
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "demo.py")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "model: Claude (ANTHROPIC_API_KEY is set)" in done.stdout
    assert "SCRIPTED" not in done.stdout
    assert "pull request    #1 (open, ready for review)" in done.stdout
    assert len(api.requests) == len(script)
    assert "cost            $0.0315" in done.stdout  # 7 x (1000 in, 100 out) at $3/$15 per Mtok
    leaked = [
        p
        for p in (tmp_path / "demo").rglob("*")
        if p.is_file() and secret.encode() in p.read_bytes()
    ]
    assert leaked == []
