"""Benchmark of `nightfix-sandbox` against the naive way and `llm-sandbox`, in one run.

All on the same local image (`nightfix-sandbox image build --offline`), nothing pulled:

1. `create_sandbox` + first `exec` latency, p50/p95 over N rounds (default 20):
   (a) from the warm pool, (b) cold (pool disabled), (c) naive: a fresh
   `docker run --rm` per command (repo bind-mounted read-only, no copy), (d) `llm-sandbox`
   (PyPI; installed into the venv here if missing): open a session on the same image,
   copy the repo in, run the command.
2. A 200-test pytest suite: `run_tests` in a sandbox vs `pytest` directly on the host (ratio).
3. Parallel sandboxes each running that suite on this machine's cores: suites/minute for
   1, 2, 3, 4 and 6 sandboxes, and where throughput stops growing.
4. gVisor against runc, side by side: warm create + first exec, cold create + first exec
   and the 200-test suite under `--runtime runsc` and `--runtime runc` (skipped, said so,
   when Docker has no runsc; `--runtimes-only` runs just this part).

Run: `python benchmarks/bench_sandbox.py [--rounds 20] [--quick]` (`make bench` runs it).
Figures print as a table; raw numbers go to `benchmarks/results/sandbox.json` (gitignored).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from nightfix_sandbox.backends.docker_backend import DockerBackend
from nightfix_sandbox.config import Runtime, SandboxConfig, default_image
from nightfix_sandbox.deps import DependencyImages
from nightfix_sandbox.service import SandboxService

RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent
COMMAND = "echo hello"
TARGET_WARM_P50_MS = 150.0
TARGET_SPEEDUP = 3.0
TARGET_OVERHEAD = 1.5


def git_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], cwd=root, check=True)
    return root


def small_repo(root: Path) -> Path:
    files = {f"pkg/mod{i}.py": f"def f{i}(x):\n    return x + {i}\n" for i in range(20)}
    files["README.md"] = "bench\n"
    return git_repo(root, files)


def suite_repo(root: Path) -> Path:
    """200 small tests in 20 files (pure Python, a little arithmetic each)."""
    body = "\n\n".join(
        f"def test_{j}():\n    assert sum(range({j} * 50)) == {sum(range(j * 50))}"
        for j in range(10)
    )
    return git_repo(root, {f"tests/test_m{i}.py": body + "\n" for i in range(20)})


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def make_service(
    sources: dict[str, str], pool: int, runtime: Runtime = "runc"
) -> tuple[SandboxService, DockerBackend]:
    client = docker.from_env(timeout=300)
    config = SandboxConfig(sources=sources, pool_size=pool, install_deps=False, runtime=runtime)
    backend = DockerBackend(client, config.limits, config.runtime)
    service = SandboxService(config, backend, DependencyImages(client, config.image))
    return service, backend


def bench_ours(
    repo: Path, rounds: int, pool: int, preload: bool = True, runtime: Runtime = "runc"
) -> list[float]:
    service, backend = make_service({"repo": str(repo)}, pool, runtime)
    service.start()
    if not preload:
        service.pool.max_preloaded = 0  # only blank warm containers: the code is copied in
    samples = []
    try:
        probe = service.create("repo")
        service.destroy(probe.sandbox_id)
        for _ in range(rounds + 1):
            if pool:  # not timed: the pool is warm when the agent asks
                key = (probe.image, probe.commit if preload else "")
                service.pool.fill_now(*key)
            sid = ""

            def once() -> None:
                nonlocal sid
                sid = service.create("repo").sandbox_id
                assert service.exec(sid, COMMAND).stdout == "hello\n"

            samples.append(timed(once))
            service.destroy(sid)
    finally:
        service.close()
        backend.close()
    return samples[1:]  # the first round warms host-side caches


def bench_naive(repo: Path, rounds: int) -> list[float]:
    client = docker.from_env(timeout=300)
    image = default_image()
    mount = {str(repo): {"bind": "/work", "mode": "ro"}}

    def once() -> None:
        out = client.containers.run(
            image,
            ["sh", "-c", COMMAND],
            remove=True,
            network_mode="none",
            volumes=mount,
            working_dir="/work",
        )
        assert out == b"hello\n"

    return [timed(once) for _ in range(rounds + 1)][1:]


def ensure_llm_sandbox() -> bool:
    try:
        import llm_sandbox  # noqa: F401
    except ImportError:
        print("installing llm-sandbox into the venv ...", file=sys.stderr)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "llm-sandbox"]
        if subprocess.run(pip, check=False).returncode != 0:
            return False
    return True


def bench_llm_sandbox(repo: Path, rounds: int) -> list[float]:
    from llm_sandbox import SandboxSession

    client = docker.from_env(timeout=300)

    sessions: list[Any] = []

    def once() -> None:
        # Timed like ours: open a session on the same image, copy the repo in, first
        # command. Closing (ours: destroy) is outside the timing for both.
        s = SandboxSession(
            client=client,
            image=default_image(),
            lang="python",
            keep_template=True,
            skip_environment_setup=True,
            verbose=False,
            workdir="/tmp/work",
            runtime_configs={
                "network_mode": "none",
                "user": "1000:1000",
                "command": ["sleep", "infinity"],
                "init": True,
            },
        )
        s.open()
        sessions.append(s)
        s.copy_to_runtime(str(repo), "/tmp/work")
        res = s.execute_command(COMMAND)
        assert res.stdout.strip() == "hello", res

    samples = []
    for _ in range(rounds + 1):
        samples.append(timed(once))
        sessions.pop().close()
    return samples[1:]


def bench_suite(repo: Path, rounds: int, runtime: Runtime = "runc") -> dict[str, Any]:
    """Host and sandbox runs alternate, so load from elsewhere hits both alike."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    service, backend = make_service({"suite": str(repo)}, 0, runtime)
    service.start()
    host: list[float] = []
    boxed: list[float] = []
    try:
        sid = service.create("suite").sandbox_id
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["git", "clone", "-q", str(repo), tmp], check=True)
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={tmp}/j.xml",
            ]
            for _ in range(rounds):
                host.append(
                    timed(
                        lambda: subprocess.run(
                            cmd, cwd=tmp, env=env, check=True, capture_output=True
                        )
                    )
                )
                report = None

                def once() -> None:
                    nonlocal report
                    report = service.run_tests(sid)

                boxed.append(timed(once))
                assert report is not None and report.passed == 200, report
    finally:
        service.close()
        backend.close()
    h, b = statistics.median(host), statistics.median(boxed)
    return {"host_ms": h, "sandbox_ms": b, "ratio": b / h}


def bench_parallel(repo: Path, counts: list[int]) -> list[dict[str, float]]:
    service, backend = make_service({"suite": str(repo)}, 0)
    service.start()
    rows = []
    try:
        for n in counts:
            ids = [service.create("suite").sandbox_id for _ in range(n)]
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(n) as pool:
                reports = list(pool.map(service.run_tests, ids))
            wall = time.perf_counter() - start
            assert all(r.passed == 200 for r in reports)
            rows.append({"sandboxes": n, "wall_s": wall, "suites_per_min": n / wall * 60})
            for sid in ids:
                service.destroy(sid)
    finally:
        service.close()
        backend.close()
    return rows


def bench_runtimes(repo: Path, suite: Path, rounds: int, suite_rounds: int) -> dict[str, Any]:
    """gVisor (runsc) against runc: the same measurements, alternating runtimes."""
    registered = docker.from_env().info().get("Runtimes") or {}
    if "runsc" not in registered:
        print("runsc is not registered with Docker: skipping gVisor vs runc", file=sys.stderr)
        return {}
    rows: dict[str, Any] = {}
    for runtime in ("runc", "runsc"):
        rt: Runtime = "runsc" if runtime == "runsc" else "runc"
        rows[runtime] = {
            "warm": bench_ours(repo, rounds, pool=1, runtime=rt),
            "cold": bench_ours(repo, rounds, pool=0, runtime=rt),
        }
    for runtime, ms in bench_suite_pair(suite, suite_rounds).items():
        rows[runtime]["suite"] = ms
    print(f"\ngVisor vs runc ({rounds} rounds, load avg {os.getloadavg()[0]:.1f})")
    print("| measure | runc | runsc | runsc / runc |\n|---|---:|---:|---:|")
    for key, label in (("warm", "warm create + first exec"), ("cold", "cold create + first exec")):
        a, b = (statistics.median(rows[r][key]) for r in ("runc", "runsc"))
        pa, pb = (pct(rows[r][key], 95) for r in ("runc", "runsc"))
        print(f"| {label}, p50 ms | {a:.0f} | {b:.0f} | {b / a:.1f}x |")
        print(f"| {label}, p95 ms | {pa:.0f} | {pb:.0f} | {pb / pa:.1f}x |")
    a, b = (rows[r]["suite"] for r in ("runc", "runsc"))
    print(f"| 200-test suite (run_tests), median ms | {a:.0f} | {b:.0f} | {b / a:.1f}x |")
    return rows


def bench_suite_pair(repo: Path, rounds: int) -> dict[str, float]:
    """`run_tests` of the suite under runc and runsc, alternating, so load hits both alike."""
    pairs = {rt: make_service({"suite": str(repo)}, 0, rt) for rt in ("runc", "runsc")}
    times: dict[str, list[float]] = {rt: [] for rt in pairs}
    try:
        ids = {}
        for rt, (service, _) in pairs.items():
            service.start()
            ids[rt] = service.create("suite").sandbox_id
        for _ in range(rounds):
            for rt, (service, _) in pairs.items():
                report = None

                def once(svc: SandboxService = service, sid: str = ids[rt]) -> None:
                    nonlocal report
                    report = svc.run_tests(sid)

                times[rt].append(timed(once))
                assert report is not None and report.passed == 200, report
    finally:
        for service, backend in pairs.values():
            service.close()
            backend.close()
    return {rt: statistics.median(xs) for rt, xs in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="5 rounds, fewer parallel steps")
    ap.add_argument("--runtimes-only", action="store_true", help="only gVisor vs runc")
    args = ap.parse_args()
    rounds = 5 if args.quick else max(20, args.rounds)
    subprocess.run(
        [str(BIN / "nightfix-sandbox"), "image", "build", "--offline", "--if-missing"], check=True
    )
    if args.runtimes_only:
        with tempfile.TemporaryDirectory(prefix="nf-bench-") as tmp:
            rows = bench_runtimes(
                small_repo(Path(tmp) / "small"),
                suite_repo(Path(tmp) / "suite"),
                rounds,
                3 if args.quick else 9,
            )
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "sandbox-runtimes.json").write_text(json.dumps(rows, indent=1))
        return 0
    with tempfile.TemporaryDirectory(prefix="nf-bench-") as tmp:
        repo = small_repo(Path(tmp) / "small")
        suite = suite_repo(Path(tmp) / "suite")
        lat: dict[str, list[float]] = {
            "(a) nightfix-sandbox, warm pool (code preloaded)": bench_ours(repo, rounds, pool=1),
            "(a2) nightfix-sandbox, warm pool (blank, code copied)": bench_ours(
                repo, rounds, pool=1, preload=False
            ),
            "(b) nightfix-sandbox, cold": bench_ours(repo, rounds, pool=0),
            "(c) naive docker run --rm": bench_naive(repo, rounds),
        }
        if ensure_llm_sandbox():
            lat["(d) llm-sandbox session"] = bench_llm_sandbox(repo, rounds)
        suite_res = bench_suite(suite, 3 if args.quick else 9)
        par = bench_parallel(suite, [1, 2, 4] if args.quick else [1, 2, 3, 4, 6])
        runtimes = bench_runtimes(repo, suite, rounds, 3 if args.quick else 9)

    print(f"\ncreate + first exec ({rounds} rounds, load avg {os.getloadavg()[0]:.1f})")
    print("| setup | p50 ms | p95 ms |\n|---|---:|---:|")
    for name, xs in lat.items():
        print(f"| {name} | {statistics.median(xs):.0f} | {pct(xs, 95):.0f} |")
    warm = statistics.median(lat["(a) nightfix-sandbox, warm pool (code preloaded)"])
    naive = statistics.median(lat["(c) naive docker run --rm"])
    print(
        f"warm p50 {warm:.0f} ms (target < {TARGET_WARM_P50_MS:.0f}); "
        f"naive/warm = {naive / warm:.1f}x (target >= {TARGET_SPEEDUP:.0f}x)"
    )
    print(
        f"\n200-test pytest suite: host {suite_res['host_ms']:.0f} ms, sandbox "
        f"{suite_res['sandbox_ms']:.0f} ms, ratio {suite_res['ratio']:.2f}x "
        f"(target < {TARGET_OVERHEAD}x)"
    )
    print("\n| parallel sandboxes | wall s | suites/min |\n|---:|---:|---:|")
    for row in par:
        print(f"| {row['sandboxes']} | {row['wall_s']:.1f} | {row['suites_per_min']:.0f} |")
    best = max(par, key=lambda r: r["suites_per_min"])
    print(f"throughput peaks at {best['sandboxes']} sandboxes on {os.cpu_count()} cores")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sandbox.json").write_text(
        json.dumps(
            {"latency_ms": lat, "suite": suite_res, "parallel": par, "runtimes": runtimes},
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
