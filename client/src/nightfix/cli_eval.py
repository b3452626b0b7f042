"""``nightfix eval``, added to the ``nightfix`` group by :func:`register`."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from nightfix.errors import NightfixError
from nightfix.evals import render, runner, scenarios
from nightfix.evals.live import ModelUnavailable, preflight
from nightfix.evals.pipeline import Plan
from nightfix.evals.results import Attempt, EvalReport

ROOT = Path(__file__).resolve().parents[3]
"""The source checkout (``evals/`` and ``policies/`` live there in an editable install)."""

EVAL_EPILOG = """\b
Exit codes:
    0  everything as expected: with --model replay every reference fix was delivered and
       passed the oracle, and every wrong fix was refused by the gate or caught by the
       oracle (wrong fixes the gate let through are listed as gate false accepts: a
       measured fact, not a failure); with a live model or replay:DIR, every attempt ran,
       no gate false accept, no drift
    1  not as expected: a reference not delivered or failing the oracle, a wrong fix the
       oracle passed, a harness error; live: a gate false accept; replay:DIR: drift
    2  bad input (unknown scenario, bad option, no recorded run for replay:DIR)
    3  the live model is not usable: no key, or its endpoint is not reachable
"""


def _default(variable: str, name: str) -> Path:
    return Path(os.environ.get(variable) or ROOT / name)


def register(main: click.Group) -> None:
    @main.command(name="eval", epilog=EVAL_EPILOG)
    @click.option(
        "--model",
        "model",
        default="replay",
        show_default=True,
        help="'replay' (each scenario's reference and wrong trajectories), 'replay:DIR' (a "
        "recorded live run, DIR/<scenario>.jsonl; reports drift), or a live model: "
        "'anthropic', 'openai', PROVIDER:MODEL_NAME.",
    )
    @click.option(
        "--only", "only", multiple=True, help="Scenario names (repeat or comma-separate)."
    )
    @click.option(
        "--repeat",
        default=1,
        show_default=True,
        type=click.IntRange(1, 50),
        help="Attempts per scenario and trajectory (pass@k uses k = this).",
    )
    @click.option(
        "--parallel",
        default=1,
        show_default=True,
        type=click.IntRange(1, 16),
        help="Attempts at once.",
    )
    @click.option(
        "--json",
        "json_path",
        type=click.Path(dir_okay=False),
        help="Write the report as JSON here.",
    )
    @click.option(
        "--report",
        "report_path",
        type=click.Path(dir_okay=False),
        help="Write the Markdown report here (and its chart, same name .svg).",
    )
    @click.option(
        "--scenarios",
        "scenarios_dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Scenarios directory (default: $NIGHTFIX_EVALS, else the checkout's evals/).",
    )
    @click.option(
        "--policies",
        "policies_dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Shipped policies (default: $NIGHTFIX_POLICIES, else the checkout's policies/).",
    )
    @click.option(
        "--workdir",
        type=click.Path(file_okay=False),
        default=None,
        help="Where attempts run and stay for inspection (default: a new temp dir).",
    )
    def eval_command(
        model: str,
        only: tuple[str, ...],
        repeat: int,
        parallel: int,
        json_path: str | None,
        report_path: str | None,
        scenarios_dir: str | None,
        policies_dir: str | None,
        workdir: str | None,
    ) -> None:
        """Measure how often nightfix fixes bugs, and how often a wrong fix gets through.

        For each scenario under evals/ (a service with one production bug), the whole
        pipeline runs: the Sentry-compatible collector, the scenario's traffic (real
        sentry-sdk), `nightfix watch --once` under a trust-phase-2 policy (investigation in a
        sandbox, the verification gate, a draft pull request to a local repository), then the
        scenario's HIDDEN oracle tests against the delivered branch, in a separate sandbox the
        model never sees. Reported per scenario and in total: delivered, oracle passed (the
        fix rate), gate false accepts (delivered but the oracle fails), gate false refusals
        (a reference fix refused), stop reasons, tokens, cost, wall time, tool calls, time to
        pull request p50/p95, pass@k, and the tokens of the tool definitions offered.
        Progress goes to stderr; the totals to stdout.

        \b
        Examples:
          nightfix eval --parallel 2 --json eval.json --report eval.md
          nightfix eval --model anthropic --repeat 3 --only pagination-last-page
          nightfix eval --model replay:WORKDIR/recorded/live
        """
        logging.getLogger("nightfix.servers").setLevel(logging.WARNING)  # progress says enough
        names = [n.strip() for item in only for n in item.split(",") if n.strip()]
        policies = Path(policies_dir) if policies_dir else _default("NIGHTFIX_POLICIES", "policies")
        try:
            chosen = scenarios.load_all(
                Path(scenarios_dir) if scenarios_dir else _default("NIGHTFIX_EVALS", "evals"),
                names or None,
            )
            if model != "replay" and not model.startswith("replay:"):
                endpoint = preflight(model, policies / "phase-2-draft.yaml")
                click.echo(f"nightfix eval: live model {model} at {endpoint}", err=True)
            base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="nightfix-eval-"))
            base.mkdir(parents=True, exist_ok=True)
            todo = runner.plans(chosen, model, repeat, base.resolve(), policies.resolve())
        except ModelUnavailable as exc:
            click.echo(f"nightfix eval: {exc}", err=True)
            sys.exit(runner.EXIT_MODEL)
        except NightfixError as exc:
            click.echo(f"nightfix eval: {exc}", err=True)
            sys.exit(runner.EXIT_USAGE)
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        console.print(f"nightfix eval: {len(todo)} attempts, {parallel} at a time, in {base}")
        started, clock = runner.now()
        attempts = runner.run_all(todo, parallel, _progress(console, len(todo)))
        report = runner.report(
            model, chosen, attempts, repeat, started, runner.now()[1] - clock, base
        )
        _write(report, json_path, report_path)
        _print_totals(report)
        sys.exit(report.exit_code)


def _progress(console: Console, total: int) -> Callable[[Plan, Attempt | None], None]:
    lock, done = threading.Lock(), [0]
    colours = {
        "fixed": "green",
        "false_accept": "red",
        "refused": "yellow",
        "no_fix": "dim",
        "error": "bold red",
    }

    def show(plan: Plan, attempt: Attempt | None) -> None:
        with lock:
            if attempt is None:
                console.print(f"  [dim]start[/] {plan.label}")
                return
            done[0] += 1
            oracle, verdict = "", attempt.oracle
            if verdict is not None:
                oracle = f", oracle {verdict.tests_passed} passed / {verdict.tests_failed} failed"
            why = attempt.problem or attempt.stop_reason or ""
            console.print(
                f"  [{done[0]:>2}/{total}] {plan.label}: [{colours[attempt.outcome]}]"
                f"{attempt.outcome}[/] ({why}{oracle}) {attempt.wall_s:.0f}s"
            )

    return show


def _write(report: EvalReport, json_path: str | None, report_path: str | None) -> None:
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(report.model_dump_json(indent=1) + "\n", encoding="utf-8")
    if report_path:
        render.write(report, Path(report_path))


def _print_totals(report: EvalReport) -> None:
    for s in (s for s in report.summaries if s.scenario == "total"):
        click.echo(
            f"{s.kind}: {s.attempts} attempts, {s.delivered} delivered, {s.oracle_passed} "
            f"oracle passed (fix rate {s.fix_rate:.0%}), {s.gate_false_accepts} gate false "
            f"accepts, {s.gate_false_refusals} gate false refusals"
        )
    if report.context:
        c = report.context
        click.echo(
            f"tool definitions: ~{c.tool_definitions_total} tokens (estimated; target "
            f"{c.target}{f', over by {c.over_target_by}' if c.over_target_by else ''})"
        )
    for problem in report.unexpected:
        click.echo(f"unexpected: {problem}")
