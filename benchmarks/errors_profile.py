"""Where the collector's time goes, per event: the ingest stages timed one by one in process.

`python benchmarks/errors_profile.py [--cprofile]` prints the CPU cost of each stage the
collector runs for one real `sentry-sdk` envelope (inflate, envelope parse, scrub, normalize,
SQLite write in batches), and with `--cprofile` the top functions. `bench_errors.py` prints the
stage table next to its throughput figures.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import errors_capture as cap

from nightfix_errors.db import connect_rw
from nightfix_errors.envelope import envelope_events
from nightfix_errors.ingest import WriterStats, write_batch
from nightfix_errors.normalize import normalize_event, stored_fields
from nightfix_errors.projects import create_project
from nightfix_errors.scrub import Scrubber
from nightfix_errors.security import check_json_depth, inflate_capped

LIMIT = 8 * 1024 * 1024


def stage_costs(envelopes: list[cap.Captured]) -> dict[str, float]:
    """Microseconds of CPU per event for each ingest stage."""
    n = len(envelopes)
    enc = envelopes[0].headers.get("Content-Encoding")
    scrubber = Scrubber()
    costs: dict[str, float] = {}

    def timed(name: str, fn: Any, items: list[Any]) -> list[Any]:
        started = time.process_time()
        out = [fn(x) for x in items]
        costs[name] = (time.process_time() - started) / n * 1e6
        return out

    bodies = timed("inflate", lambda c: inflate_capped(c.body, enc, LIMIT), envelopes)
    events = timed("parse envelope", lambda b: envelope_events(b)[0], bodies)
    kept = timed("keep stored fields", stored_fields, events)
    timed("check depth", check_json_depth, kept)
    clean = timed("scrub", scrubber.scrub, kept)
    normalized = timed("normalize", normalize_event, clean)
    with tempfile.TemporaryDirectory() as tmp:
        db = connect_rw(Path(tmp) / "p.db")
        project = create_project(db, "p")
        started = time.process_time()
        for i in range(0, n, 500):
            write_batch(db, [(project.id, ev) for ev in normalized[i : i + 500]], WriterStats())
        costs["sqlite write (batches of 500)"] = (time.process_time() - started) / n * 1e6
        db.close()
    costs["total"] = sum(costs.values())
    return costs


def scrub_shape(event: dict[str, Any]) -> dict[str, int]:
    """How many values one event holds, by top-level key (the scrubber walks the kept ones)."""

    def count(node: Any) -> int:
        if isinstance(node, dict):
            return sum(count(v) + 1 for v in node.values())
        if isinstance(node, list):
            return sum(count(v) for v in node)
        return 1

    return dict(sorted(((k, count(v)) for k, v in event.items()), key=lambda kv: -kv[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--cprofile", action="store_true", help="also print the top functions")
    args = ap.parse_args()
    base = cap.capture_envelopes(60)
    envelopes = cap.variants(base, args.events)
    for stage, us in stage_costs(envelopes).items():
        print(f"{stage:32} {us:8.0f} us/event")
    print("values in one event, by key:", scrub_shape(cap.event_of(base[0])))
    if args.cprofile:
        profiler = cProfile.Profile()
        profiler.runcall(stage_costs, envelopes)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
