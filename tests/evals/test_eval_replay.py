"""`nightfix eval --model replay` over every scenario, as CI runs it: every reference fix is
delivered and passes the hidden oracle; every wrong fix is refused by the gate or caught by
the oracle (those the gate let through are listed: a product fact, not a failure); the JSON
and the Markdown with its chart are written. Then a recorded run replays with
``replay:DIR``, without drift, and a tampered recording shows its drift."""

from __future__ import annotations

import json

import pytest
from eval_support import EVALS, by_key, load_json, nightfix_eval

# 13 scenarios x 2 trajectories; the Node and Go attempts build toolchain images on a cold
# machine and run their suites in real sandboxes (see README: the measured wall time).
pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(3600)]

SCENARIOS = sorted(p.parent.name for p in EVALS.glob("*/scenario.yaml"))


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("eval-replay")
    done = nightfix_eval(
        "--parallel",
        "2",
        "--workdir",
        str(tmp / "work"),
        "--json",
        str(tmp / "eval.json"),
        "--report",
        str(tmp / "eval.md"),
        timeout=3500,
    )
    return done, tmp


def test_every_reference_fixed_and_every_wrong_fix_refused_or_caught(replayed):
    done, tmp = replayed
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    report = load_json(tmp / "eval.json")
    attempts = by_key(report)
    assert sorted(report["scenarios"]) == SCENARIOS
    for name in SCENARIOS:
        reference, wrong = attempts[(name, "reference")], attempts[(name, "wrong")]
        assert reference["outcome"] == "fixed", reference
        assert reference["delivered"] and reference["oracle"]["passed"]
        assert reference["oracle"]["tests_passed"] > 0
        assert wrong["outcome"] in ("refused", "false_accept"), wrong
        if wrong["delivered"]:
            assert not wrong["oracle"]["passed"] and wrong["oracle"]["failures"]
    let_through = [
        f"{name} (wrong #1)" for name in SCENARIOS if attempts[(name, "wrong")]["delivered"]
    ]
    assert report["gate_false_accepts"] == let_through
    print(f"gate false accepts ({len(let_through)}/{len(SCENARIOS)}): {let_through}")
    totals = {s["kind"]: s for s in report["summaries"] if s["scenario"] == "total"}
    assert totals["reference"]["fix_rate"] == 1.0
    assert totals["reference"]["gate_false_refusals"] == 0
    assert totals["wrong"]["oracle_passed"] == 0
    assert totals["wrong"]["gate_false_accepts"] == len(let_through)


def test_json_and_markdown_with_chart_are_written(replayed):
    _, tmp = replayed
    report = load_json(tmp / "eval.json")
    for attempt in report["attempts"]:
        assert attempt["tokens_in"] > 0 and attempt["tokens_out"] > 0
        assert attempt["tool_calls"] >= 5 and attempt["wall_s"] > 0
        if attempt["delivered"]:
            assert attempt["time_to_pr_s"] > 0 and attempt["cost_usd"] > 0
    context = report["context"]
    assert context["tool_definitions_total"] > 0
    assert {c["tool"] for c in context["tool_definitions"]} >= {
        "errors.get_issue",
        "sandbox.run_tests",
        "finish",
    }
    assert "sandbox.create_sandbox" not in {c["tool"] for c in context["tool_definitions"]}
    assert {r["tool"] for r in context["tool_results"]} >= {"errors.get_issue", "sandbox.run_tests"}
    markdown = (tmp / "eval.md").read_text()
    assert "![outcome of each attempt](eval.svg)" in markdown
    assert "## Totals" in markdown and "## Context economy" in markdown
    assert f"## Gate false accepts: {len(report['gate_false_accepts'])}" in markdown
    for name in SCENARIOS:
        assert name in markdown
    assert (tmp / "eval.svg").read_text().startswith("<svg")


def test_recorded_run_replays_without_drift(replayed):
    _, tmp = replayed
    recorded = tmp / "work" / "recorded" / "reference"
    assert (recorded / "webhook-retry.jsonl").exists()
    done = nightfix_eval(
        "--model",
        f"replay:{recorded}",
        "--only",
        "webhook-retry",
        "--workdir",
        str(tmp / "again"),
        "--json",
        str(tmp / "again.json"),
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    [attempt] = load_json(tmp / "again.json")["attempts"]
    assert (attempt["kind"], attempt["outcome"], attempt["drift"]) == ("live", "fixed", [])


def test_replay_drift_in_the_tool_call_sequence_is_reported(replayed):
    _, tmp = replayed
    tampered = tmp / "tampered"
    tampered.mkdir()
    source = tmp / "work" / "recorded" / "reference" / "webhook-retry.jsonl"
    lines = source.read_text().splitlines()
    turns = [i for i, line in enumerate(lines) if json.loads(line).get("type") == "model_turn"]
    del lines[turns[1]]  # the model no longer reads the file before writing the test
    (tampered / "webhook-retry.jsonl").write_text("\n".join(lines) + "\n")
    done = nightfix_eval(
        "--model",
        f"replay:{tampered}",
        "--only",
        "webhook-retry",
        "--workdir",
        str(tmp / "drift"),
        "--json",
        str(tmp / "drift.json"),
    )
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    [attempt] = load_json(tmp / "drift.json")["attempts"]
    assert attempt["drift"] and attempt["drift"][0].startswith("tool-call sequence")
    assert "replay drifted" in done.stdout
