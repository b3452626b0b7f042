"""The eval report for people: Markdown, with an SVG chart of the outcomes beside it."""

from __future__ import annotations

from html import escape
from pathlib import Path

from nightfix.evals.results import EvalReport, Summary

COLOURS = {
    "fixed": "#2e7d32",
    "false_accept": "#c62828",
    "refused": "#ef6c00",
    "no_fix": "#9e9e9e",
    "error": "#212121",
}
LABELS = {
    "fixed": "fixed (oracle passed)",
    "false_accept": "gate false accept",
    "refused": "refused by the gate",
    "no_fix": "no fix",
    "error": "harness error",
}
ROW, LEFT, WIDTH = 22, 250, 420


def svg(report: EvalReport) -> str:
    """Horizontal stacked bars: one per scenario and trajectory, segments by outcome."""
    rows = [s for s in report.summaries if s.scenario != "total"]
    height = 40 + ROW * len(rows) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 20}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="10" y="18" font-weight="bold">nightfix eval: {escape(report.model)} — '
        "outcome of each attempt</text>",
    ]
    for i, row in enumerate(rows):
        y = 32 + i * ROW
        parts.append(f'<text x="10" y="{y + 14}">{escape(row.scenario)} ({row.kind})</text>')
        x = float(LEFT)
        for outcome, colour in COLOURS.items():
            count = row.outcomes.get(outcome, 0)
            if not count:
                continue
            w = WIDTH * count / max(row.attempts, 1)
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 6}" fill="{colour}">'
                f"<title>{LABELS[outcome]}: {count}</title></rect>"
            )
            x += w
    y = 40 + ROW * len(rows)
    x = 10
    for outcome, colour in COLOURS.items():
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{y + 11}">{LABELS[outcome]}</text>')
        x += 30 + 7 * len(LABELS[outcome])
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _n(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _tokens(s: Summary) -> str:
    return f"{'~' if s.tokens_estimated else ''}{s.tokens_in:,} / {s.tokens_out:,}"


def markdown(report: EvalReport, chart_name: str | None) -> str:
    totals = [s for s in report.summaries if s.scenario == "total"]
    rows = [s for s in report.summaries if s.scenario != "total"]
    out = [
        f"# nightfix eval — model `{report.model}`",
        "",
        f"{report.started_at}, {len(report.scenarios)} scenarios, {len(report.attempts)} "
        f"attempts (repeat {report.repeat}), {report.wall_s:.0f} s.",
        "",
    ]
    if chart_name:
        out += [f"![outcome of each attempt]({chart_name})", ""]
    out += [
        "## Totals",
        "",
        "| trajectory | attempts | delivered | oracle passed | fix rate | gate false accepts "
        "| gate false refusals | tokens in / out | cost $ | tool calls | time to PR p50 / p95 s "
        f"| pass@1 | pass@k (k={report.repeat}) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in totals:
        out.append(
            f"| {s.kind} | {s.attempts} | {s.delivered} | {s.oracle_passed} | "
            f"{s.fix_rate:.0%} | {s.gate_false_accepts} | {s.gate_false_refusals} | "
            f"{_tokens(s)} | {s.cost_usd:.4f} | {s.tool_calls} | "
            f"{_n(s.time_to_pr_p50_s)} / {_n(s.time_to_pr_p95_s)} | {_n(s.pass_at_1, 2)} | "
            f"{_n(s.pass_at_k, 2)} |"
        )
    out += [
        "",
        "## Per scenario",
        "",
        "| scenario | trajectory | outcomes | stop reasons | tokens in / out | cost $ | wall s "
        "| tool calls | time to PR p50 s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in rows:
        outcomes = ", ".join(f"{k} {v}" for k, v in s.outcomes.items())
        stops = ", ".join(f"`{k}` {v}" for k, v in s.stop_reasons.items())
        out.append(
            f"| {s.scenario} | {s.kind} | {outcomes} | {stops} | {_tokens(s)} | "
            f"{s.cost_usd:.4f} | {s.wall_s:.0f} | {s.tool_calls} | {_n(s.time_to_pr_p50_s)} |"
        )
    out += ["", f"## Gate false accepts: {len(report.gate_false_accepts)}", ""]
    out += [f"- {label}" for label in report.gate_false_accepts] or ["none"]
    failures = [a for a in report.attempts if a.oracle and not a.oracle.passed]
    if failures:
        out += ["", "What the oracle caught:", ""]
        for a in failures:
            first = (a.oracle.failures or [a.oracle.problem or "?"])[0] if a.oracle else "?"
            out.append(f"- {a.scenario} ({a.kind} #{a.repeat}): `{first}`")
    out += _context(report)
    out += ["", "## Unexpected", ""]
    out += [f"- {p}" for p in report.unexpected] or ["nothing: every expectation held"]
    return "\n".join(out) + "\n"


def _context(report: EvalReport) -> list[str]:
    ctx = report.context
    if ctx is None:
        return []
    verdict = (
        f"over the {ctx.target:,} target by {ctx.over_target_by:,}"
        if ctx.over_target_by
        else f"within the {ctx.target:,} target"
    )
    out = [
        "",
        "## Context economy",
        "",
        f"Tokens are {ctx.estimate}.",
        "",
        f"Tool definitions offered (errors + repository reads + sandbox + finish): "
        f"**{ctx.tool_definitions_total:,} tokens**, {verdict}.",
        "",
        "| tool | definition tokens |",
        "|---|---|",
    ]
    out += [f"| {c.tool} | {c.tokens} |" for c in ctx.tool_definitions]
    out += ["", "| tool result | calls | mean tokens | max tokens |", "|---|---|---|---|"]
    out += [
        f"| {r.tool} | {r.calls} | {r.mean_tokens} | {r.max_tokens} |" for r in ctx.tool_results
    ]
    return out


def write(report: EvalReport, path: Path) -> Path:
    """Write the Markdown report and its chart (``<path stem>.svg`` beside it)."""
    chart = path.with_suffix(".svg")
    path.parent.mkdir(parents=True, exist_ok=True)
    chart.write_text(svg(report), encoding="utf-8")
    path.write_text(markdown(report, chart.name), encoding="utf-8")
    return chart
