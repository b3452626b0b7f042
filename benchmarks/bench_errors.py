"""Benchmark of `nightfix-errors` against Sentry's Spotlight, in one run, on this machine.

1. Ingest: the same real `sentry-sdk` envelopes (captured from the SDK, each with its own event
   id, the SDK's own compression) posted concurrently over keep-alive connections to
   `nightfix-errors collect` (counted once committed to SQLite, verified in the db) and to the
   Spotlight sidecar (`/stream`, kept in memory). Events/s for each.
2. What a model reads for the same error: `get_issue` over stdio vs Spotlight's `search_errors`
   over stdio: size in tokens (chars/4 for both) and which facts each answer carries.
3. `get_issue` latency over stdio (real MCP client) with 100,000 events stored.

Run: `python benchmarks/bench_errors.py` (`make bench` runs it); `--quick` for a smoke run.
Figures print as a table; raw answers go to `benchmarks/results/` (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from mcp import ClientSession
from mcp.client.stdio import stdio_client

sys.path.insert(0, str(Path(__file__).parent))
import errors_capture as cap
import errors_peers as peers
import errors_profile as prof

from nightfix_errors.db import connect_rw
from nightfix_errors.ingest import WriterStats, write_batch
from nightfix_errors.normalize import normalize_event, stored_fields
from nightfix_errors.projects import create_project
from nightfix_errors.scrub import Scrubber

RESULTS = Path(__file__).parent / "results"
TARGET_RATE = 2000
TARGET_RATIO = 0.8
TARGET_P50_MS = 10.0
OCCURRENCES = (1, 3, 10)  # the same error seen this many times


def tokens(text: str) -> int:
    return round(len(text) / 4)


# -- 1. ingest throughput -------------------------------------------------------------------
def ingest_nightfix(
    envelopes: list[cap.Captured], warm: list[cap.Captured], concurrency: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "errors.db"
        port = peers.free_port()
        pid, key = peers.create_project(db, port)
        auth = f"Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/bench"
        path = f"/api/{pid}/envelope/"
        with peers.collector(db, port):
            cap_warm = [cap.build_request(c, path, port, auth) for c in warm]
            cap.post_all(port, cap_warm, concurrency, retry_429=True)
            peers.wait_count(db, len(warm))
            requests = [cap.build_request(c, path, port, auth) for c in envelopes]
            started = time.perf_counter()
            load = cap.post_all(port, requests, concurrency, retry_429=True)
            committed_at = peers.wait_count(db, len(warm) + len(envelopes))
        stored = peers.count_events(db)
    accepted = load.ok()
    return {
        "accepted": accepted,
        "http_seconds": load.seconds,
        "accepted_rate": accepted / load.seconds,
        "committed_rate": len(envelopes) / (committed_at - started),
        "stored": stored - len(warm),
        "rejected_429": load.statuses.get(429, 0),
        "errors": sum(n for s, n in load.statuses.items() if s >= 300 and s != 429),
    }


def ingest_spotlight(
    exe: Path, envelopes: list[cap.Captured], warm: list[cap.Captured], concurrency: int
) -> dict[str, float]:
    with peers.spotlight_server(exe) as port:
        cap.post_all(port, [cap.build_request(c, "/stream", port, None) for c in warm], 8, False)
        requests = [cap.build_request(c, "/stream", port, None) for c in envelopes]
        load = cap.post_all(port, requests, concurrency, retry_429=False)
    accepted = load.ok()
    return {
        "accepted": accepted,
        "http_seconds": load.seconds,
        "accepted_rate": accepted / load.seconds,
        "errors": sum(n for s, n in load.statuses.items() if s >= 300),
    }


# -- 2. what a model reads ------------------------------------------------------------------
def facts_of(event: dict[str, Any], occurrences: int, users: int) -> dict[str, Any]:
    """What a reader should learn about this error, each as a check on an answer's text."""
    chain = event["exception"]["values"]
    in_app = [f for exc in chain for f in exc["stacktrace"]["frames"] if f.get("in_app")]
    lines = sorted({f["context_line"].strip() for f in in_app if f.get("context_line")})
    functions = sorted({f["function"] for f in in_app})
    raising = chain[0]["stacktrace"]["frames"][-1]
    amount = raising["vars"]["amount"]  # a local of `charge`, not in any message
    message = chain[-1]["value"].rsplit(" ", 1)[0]  # without the user id, which varies
    return {
        "exception types (chain)": lambda t: all(e["type"] in t for e in chain),
        "message": lambda t: message in t,
        f"in-app functions ({len(functions)})": lambda t: all(f in t for f in functions),
        f"source lines ({len(lines)})": lambda t: all(_has_line(t, ln) for ln in lines),
        "raising file:line": lambda t: _has_location(t, raising["filename"], raising["lineno"]),
        "local variables": lambda t: "amount" in t and amount in t,
        "environment + release": lambda t: "production" in t and "shop@2.4.1" in t,
        f"occurrence count ({occurrences})": lambda t: _has_count(t, occurrences, "count|events"),
        f"distinct users ({users})": lambda t: _has_count(t, users, "user_count|users"),
        "first/last seen": lambda t: (
            ("first_seen" in t and "last_seen" in t)
            or bool(re.search(r"(?i)first seen.*last seen", t, re.S))
        ),
    }


def token_parts(text: str) -> dict[str, int]:
    """Where the tokens of a JSON answer go (top-level fields, and the latest event's)."""
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    parts = {k: tokens(json.dumps(v, separators=(",", ":"))) for k, v in body.items()}
    for k, v in (body.get("latest_event") or {}).items():
        parts[f"latest_event.{k}"] = tokens(json.dumps(v, separators=(",", ":")))
    return parts


def _has_location(text: str, filename: str, lineno: int) -> bool:
    """`file.py", line N` (a traceback), `file.py:N`, or a JSON frame with both fields."""
    name = re.escape(filename)
    return bool(
        re.search(rf'{name}"?(, line |:){lineno}\b', text)
        or re.search(rf'"filename":\s*"{name}"[^{{}}]*"lineno":\s*{lineno}\b', text)
    )


def _has_line(text: str, line: str) -> bool:
    return line in text or line in text.replace('\\"', '"')


def _has_count(text: str, n: int, words: str) -> bool:
    return bool(
        re.search(rf'"({words})"\s*:\s*{n}\b', text)
        or re.search(rf"\b{n}\s+({words}|occurrences|times)\b", text)
    )


def nightfix_answer(envelopes: list[cap.Captured]) -> tuple[str, float, str]:
    """(the text content a model reads, ms, the structured content as JSON)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "errors.db"
        port = peers.free_port()
        pid, key = peers.create_project(db, port)
        auth = f"Sentry sentry_key={key}, sentry_version=7"
        with peers.collector(db, port):
            reqs = [cap.build_request(c, f"/api/{pid}/envelope/", port, auth) for c in envelopes]
            cap.post_all(port, reqs, 1, retry_429=True)
            peers.wait_count(db, len(envelopes))

        async def ask() -> tuple[str, float, str]:
            with peers.serve_session_params(db) as params:
                async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
                    await session.initialize()
                    listed = await session.call_tool("list_issues", {})
                    issue_id = listed.structured_content["issues"][0]["id"]
                    started = time.perf_counter()
                    result = await session.call_tool("get_issue", {"issue_id": issue_id})
                    ms = (time.perf_counter() - started) * 1000
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            return text, ms, json.dumps(result.structured_content, ensure_ascii=False)

        return asyncio.run(ask())


def spotlight_answer(exe: Path, envelopes: list[cap.Captured]) -> tuple[str, float, str]:
    def post(port: int) -> None:
        cap.post_all(
            port, [cap.build_request(c, "/stream", port, None) for c in envelopes], 1, False
        )

    text, ms = asyncio.run(peers.spotlight_search_errors(exe, post))
    return text, ms, text  # search_errors has no structured content


# -- 3. get_issue latency with 100,000 events -------------------------------------------------
def seed(db: Path, templates: list[dict[str, Any]], total: int, issues: int) -> int:
    """Store `total` events spread over `issues` issues and 14 days; returns the busiest issue's
    share. Goes through the collector's own scrub + normalize + batched writer code."""
    conn = connect_rw(db)
    project = create_project(conn, "bench")
    scrubber = Scrubber()
    normalized = [
        normalize_event(scrubber.scrub(stored_fields(copy.deepcopy(t)))) for t in templates
    ]
    now = time.time()
    rng = random.Random(7)
    batch: list[Any] = []
    for i in range(total):
        base = normalized[i % len(normalized)]
        group = 0 if i % 4 == 0 else rng.randrange(issues)  # a quarter lands in one hot issue
        ev = dataclasses.replace(
            base,
            event_id=uuid.uuid4().hex,
            timestamp=now - rng.random() * 14 * 86400,
            fingerprint=f"{base.fingerprint}-{group}",
        )
        batch.append((project.id, ev))
        if len(batch) == 5000:
            write_batch(conn, batch, WriterStats())
            batch = []
    if batch:
        write_batch(conn, batch, WriterStats())
    conn.close()
    return total


async def latency(db: Path, calls: int) -> dict[str, Any]:
    with peers.serve_session_params(db) as params:
        async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            listed = await session.call_tool("list_issues", {"sort": "freq", "limit": 5})
            issues = listed.structured_content["issues"]
            hot = issues[0]
            samples: dict[str, list[float]] = {"get_issue": [], "list_issues": []}
            for i in range(calls + 20):
                started = time.perf_counter()
                await session.call_tool("get_issue", {"issue_id": issues[i % len(issues)]["id"]})
                if i >= 20:
                    samples["get_issue"].append((time.perf_counter() - started) * 1000)
            for i in range(calls // 3 + 10):
                started = time.perf_counter()
                await session.call_tool("list_issues", {"sort": "recent", "limit": 25})
                if i >= 10:
                    samples["list_issues"].append((time.perf_counter() - started) * 1000)
    return {"hot_count": hot["count"], "samples": samples}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- report ---------------------------------------------------------------------------------
def row(*cells: Any) -> str:
    widths = (44, 22, 22, 14)
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000, help="envelopes per ingest run")
    ap.add_argument(
        "--rounds", type=int, default=2, help="ingest rounds, alternating systems; best kept"
    )
    ap.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    ap.add_argument("--stored", type=int, default=100_000, help="events stored for latency")
    ap.add_argument("--calls", type=int, default=300, help="get_issue calls timed")
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.events, args.stored, args.calls = 2_000, 5_000, 50
    RESULTS.mkdir(exist_ok=True)
    out: dict[str, Any] = {"cpus": os.cpu_count(), "args": vars(args), "load": os.getloadavg()}

    exe = peers.ensure_spotlight()
    print(f"Spotlight {peers.spotlight_version(exe)}; capturing real sentry-sdk envelopes ...")
    base = cap.capture_envelopes(300)
    warm = cap.variants(base, 1000)
    envelopes = cap.variants(base, args.events)
    sizes = [len(c.body) for c in envelopes]
    encoding = base[0].headers.get("Content-Encoding", "identity")

    print(
        f"ingest: {args.events} envelopes x {args.concurrency} connections, "
        f"{args.rounds} rounds alternating the two systems ..."
    )
    nf_runs, sp_runs = [], []
    for _ in range(args.rounds):
        nf_runs.append(ingest_nightfix(envelopes, warm, args.concurrency))
        sp_runs.append(ingest_spotlight(exe, envelopes, warm, args.concurrency))
    nf = max(nf_runs, key=lambda r: r["committed_rate"])
    sp = max(sp_runs, key=lambda r: r["accepted_rate"])
    nf["all_rates"] = [round(r["committed_rate"]) for r in nf_runs]
    sp["all_rates"] = [round(r["accepted_rate"]) for r in sp_runs]
    out["ingest"] = {"nightfix": nf, "spotlight": sp}
    out["stages_us"] = prof.stage_costs(envelopes[:2000])

    print(f"answers for one error ({OCCURRENCES} occurrences) ...")
    checkout = [
        c for c in base if cap.event_of(c)["exception"]["values"][-1]["type"] == "RuntimeError"
    ]
    answers: dict[str, Any] = {}
    for n in OCCURRENCES:
        event = cap.event_of(checkout[0])
        facts = facts_of(event, n, n)
        for name, (text, ms, structured) in (
            ("nightfix get_issue", nightfix_answer(checkout[:n])),
            ("spotlight search_errors", spotlight_answer(exe, checkout[:n])),
        ):
            (RESULTS / f"errors_answer_{name.split()[0]}_{n}.txt").write_text(text)
            got = {f: bool(check(text)) for f, check in facts.items()}
            answers[f"{name} x{n}"] = {
                "tokens": tokens(text),
                "ms": ms,
                "facts": got,
                "parts": token_parts(structured),
                "structured_tokens": tokens(structured),
            }
    out["answers"] = answers

    print(f"latency: seeding {args.stored} events ...")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "errors.db"
        started = time.perf_counter()
        templates = [cap.event_of(c) for c in base[:30]]
        seed(db, templates, args.stored, issues=1000)
        seed_s = time.perf_counter() - started
        lat = asyncio.run(latency(db, args.calls))
    out["latency"] = {"seed_seconds": seed_s, **lat}
    (RESULTS / "errors.json").write_text(json.dumps(out, indent=2, default=str))
    report(out, sizes, encoding)


def report(out: dict[str, Any], sizes: list[int], encoding: str) -> None:
    nf, sp = out["ingest"]["nightfix"], out["ingest"]["spotlight"]
    ratio = nf["committed_rate"] / sp["accepted_rate"]
    print()
    load = ", ".join(f"{x:.1f}" for x in out["load"])
    print(f"## nightfix-errors vs Spotlight ({out['cpus']} CPUs, load average {load}, one run)")
    print(
        f"envelopes: real sentry-sdk, {encoding}, median {statistics.median(sizes)} B, "
        f"{out['args']['events']} posted over {out['args']['concurrency']} connections per round"
    )
    print(row("ingest", "nightfix-errors", "Spotlight", "target"))
    print(
        row(
            "events/s accepted (HTTP 2xx)",
            f"{nf['accepted_rate']:,.0f}",
            f"{sp['accepted_rate']:,.0f}",
            "",
        )
    )
    print(
        row(
            "events/s committed to SQLite (in db)",
            f"{nf['committed_rate']:,.0f}",
            "n/a (memory only)",
            f">= {TARGET_RATE:,}",
        )
    )
    print(
        row("nightfix committed / Spotlight accepted", f"{ratio:.2f}x", "", f">= {TARGET_RATIO}x")
    )
    print(row("rates of each round", nf["all_rates"], sp["all_rates"], "best kept"))
    print(row("events in the store after the run", f"{nf['stored']:,}", "", ""))
    print(
        row(
            "429 answers (retried) / other errors",
            f"{nf['rejected_429']} / {nf['errors']}",
            f"- / {sp['errors']}",
            "",
        )
    )
    stages = ", ".join(f"{k} {v:.0f}" for k, v in out["stages_us"].items())
    print(f"collector CPU per event by stage (us, in process): {stages}")
    print()
    for n in OCCURRENCES:
        a = out["answers"][f"nightfix get_issue x{n}"]
        b = out["answers"][f"spotlight search_errors x{n}"]
        print(row(f"one error, {n} occurrence(s)", "get_issue", "search_errors", ""))
        print(row("  tokens (chars/4)", a["tokens"], b["tokens"], "fewer"))
        for fact in a["facts"]:
            print(row(f"  {fact}", _yes(a["facts"][fact]), _yes(b["facts"][fact]), ""))
        print(row("  facts told", sum(a["facts"].values()), sum(b["facts"].values()), "more"))
    biggest = sorted(
        out["answers"]["nightfix get_issue x1"]["parts"].items(), key=lambda kv: -kv[1]
    )
    print(
        "  get_issue structured content by field (tokens): "
        + ", ".join(f"{k} {v}" for k, v in biggest[:6])
    )
    print(
        "  get_issue structured content as JSON (what a client that reads structured content "
        "instead of the text shows a model), tokens for 1/3/10 occurrences: "
        + " / ".join(
            str(out["answers"][f"nightfix get_issue x{n}"]["structured_tokens"])
            for n in OCCURRENCES
        )
    )
    lat = out["latency"]
    g, li = lat["samples"]["get_issue"], lat["samples"]["list_issues"]
    print()
    print(
        f"latency over stdio, {out['args']['stored']:,} events stored "
        f"(seeded in {lat['seed_seconds']:.0f} s; busiest issue {lat['hot_count']:,} events)"
    )
    print(
        row(
            "get_issue p50 / p99 ms",
            f"{pct(g, 0.5):.1f} / {pct(g, 0.99):.1f}",
            "",
            f"p50 < {TARGET_P50_MS:g}",
        )
    )
    print(row("list_issues p50 / p99 ms", f"{pct(li, 0.5):.1f} / {pct(li, 0.99):.1f}", "", ""))
    verdicts = {
        "ingest >= 2,000 events/s": nf["committed_rate"] >= TARGET_RATE,
        "ingest >= 0.8x Spotlight": ratio >= TARGET_RATIO,
        "get_issue p50 < 10 ms": pct(g, 0.5) < TARGET_P50_MS,
    }
    for n in OCCURRENCES:
        a = out["answers"][f"nightfix get_issue x{n}"]
        b = out["answers"][f"spotlight search_errors x{n}"]
        verdicts[f"fewer tokens than search_errors ({n} occurrence(s))"] = a["tokens"] < b["tokens"]
        verdicts[f"more facts than search_errors ({n} occurrence(s))"] = sum(
            a["facts"].values()
        ) > sum(b["facts"].values())
    print()
    for what, ok in verdicts.items():
        print(f"{'MET   ' if ok else 'MISSED'}  {what}")


def _yes(value: bool) -> str:
    return "yes" if value else "no"


if __name__ == "__main__":
    main()
