"""Benchmark of the verification gate against one plain suite run of the same code, in one run.

For two repositories — the demo's checkout service (6 tests) and a bundled ledger service of
1,000 tests with a rounding bug — it measures, against the real sandbox server over stdio and
real Docker:

1. **plain suite**: what a person would do once: a sandbox, the fix applied, the whole suite run;
2. **gate, cold**: ``Gate.verify`` with an empty baseline cache (baseline + suite with the fix +
   regression test on the original code, in parallel sandboxes);
3. **gate, warm**: the same with the baseline cached (the usual case: a base commit is verified
   again, or `nightfix watch` checked the suite before the model ran).

Target: the gate at most 2.5x one plain suite run. Run: `python benchmarks/bench_gate.py
[--rounds 3]` (`make bench` runs it). Raw numbers go to `benchmarks/results/gate.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import demo_env
from bench_sandbox import git_repo

from nightfix.autonomy.verification import Gate, MemoryCache
from nightfix.policy import ServerSpec, VerificationPolicy
from nightfix.servers import ServerPool

RESULTS = Path(__file__).parent / "results"
TARGET = 2.5
LEDGER_BUG = "def to_cents(amount: float) -> int:\n    return int(amount * 100)\n"
LEDGER_FIX = """diff --git a/ledger/money.py b/ledger/money.py
--- a/ledger/money.py
+++ b/ledger/money.py
@@ -1,2 +1,2 @@
 def to_cents(amount: float) -> int:
-    return int(amount * 100)
+    return round(amount * 100)
diff --git a/tests/test_rounding.py b/tests/test_rounding.py
new file mode 100644
--- /dev/null
+++ b/tests/test_rounding.py
@@ -0,0 +1,5 @@
+from ledger.money import to_cents
+
+
+def test_to_cents_does_not_lose_a_cent_to_float_error():
+    assert to_cents(0.29) == 29
"""


def ledger_repo(root: Path, files: int = 50, per_file: int = 20) -> Path:
    """A service with ``files * per_file`` tests (1,000 by default), all passing on the base."""
    tests = {
        f"tests/test_accounts_{i:02d}.py": "from ledger.money import to_cents\n\n\n"
        + "\n\n".join(
            f"def test_whole_amount_{i}_{j}():\n    assert to_cents({i * per_file + j}.0) == "
            f"{(i * per_file + j) * 100}"
            for j in range(per_file)
        )
        + "\n"
        for i in range(files)
    }
    return git_repo(root, {"ledger/__init__.py": "", "ledger/money.py": LEDGER_BUG, **tests})


async def plain_suite(pool: ServerPool, diff: str) -> float:
    start = time.perf_counter()
    box = (await pool.call("sandbox", "create_sandbox", {"source": "app"}))["sandbox_id"]
    try:
        await pool.call("sandbox", "apply_patch", {"sandbox_id": box, "patch": diff})
        report = await pool.call("sandbox", "run_tests", {"sandbox_id": box})
        assert report["failed"] == 0 and report["passed"] > 0, report
    finally:
        await pool.call("sandbox", "destroy_sandbox", {"sandbox_id": box})
    return time.perf_counter() - start


async def gate_run(pool: ServerPool, diff: str, cache: MemoryCache) -> float:
    start = time.perf_counter()
    result = await Gate(pool, VerificationPolicy(), "app", cache=cache).verify(diff, "HEAD")
    assert result.passed, result.reason
    return time.perf_counter() - start


async def measure(repo: Path, diff: str, rounds: int) -> dict[str, Any]:
    spec = ServerSpec(
        command=[demo_env.tool("nightfix-sandbox"), "serve", "--source", f"app={repo}"]
    )
    plain, cold, warm = [], [], []
    async with ServerPool({"sandbox": spec}, errlog=subprocess.DEVNULL) as pool:
        await plain_suite(pool, diff)  # warm-up: dependency image, pool, page cache
        for _ in range(rounds):  # interleaved, so load moves all three alike
            plain.append(await plain_suite(pool, diff))
            cold.append(await gate_run(pool, diff, MemoryCache()))
            cache = MemoryCache()
            await gate_run(pool, diff, cache)
            warm.append(await gate_run(pool, diff, cache))
    p, c, w = (statistics.median(x) for x in (plain, cold, warm))
    return {
        "plain_s": p,
        "gate_cold_s": c,
        "gate_warm_s": w,
        "cold_ratio": c / p,
        "warm_ratio": w / p,
        "raw": {"plain": plain, "cold": cold, "warm": warm},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measure (median)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        demo = demo_env.make_repo(Path(tmp) / "checkout")
        fix = (demo_env.SERVICE / "fix.patch").read_text()
        print(f"== gate vs plain suite, {args.rounds} rounds, load {load:.1f}", flush=True)
        rows["demo (6 tests)"] = asyncio.run(measure(demo, fix, args.rounds))
        print("   demo done", flush=True)
        ledger = ledger_repo(Path(tmp) / "ledger")
        rows["ledger (1,000 tests)"] = asyncio.run(measure(ledger, LEDGER_FIX, args.rounds))
    print(
        f"{'suite':<22}{'plain':>9}{'gate cold':>11}{'gate warm':>11}{'cold/plain':>12}"
        f"{'warm/plain':>12}  target <= {TARGET}x"
    )
    for name, r in rows.items():
        verdict = "met" if r["cold_ratio"] <= TARGET else "MISSED"
        print(
            f"{name:<22}{r['plain_s']:>8.2f}s{r['gate_cold_s']:>10.2f}s{r['gate_warm_s']:>10.2f}s"
            f"{r['cold_ratio']:>11.2f}x{r['warm_ratio']:>11.2f}x  {verdict}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gate.json").write_text(json.dumps({"load": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
