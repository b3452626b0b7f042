"""Per-toolchain benchmark of `nightfix-sandbox`: Python, Node (pnpm + vitest, npm + jest), Go.

Every figure goes through the real sandbox service (in-process `SandboxService`, real Docker),
each toolchain side by side in one run, for its bundled project:

1. **cold image build**: the toolchain's runtime layer and the project's dependency layer built
   from nothing, then the first sandbox. So that nothing shared is deleted, every round starts
   from a *private* copy of the base image (`nightfix-bench-tc:base-<nonce>`, the base plus a
   label: a new image id, so every layer keyed by it is new and Docker's build cache cannot
   match) and a private host cache (`NIGHTFIX_SANDBOX_CACHE`) in which the downloaded wheels
   and the package managers' stores are links to the real ones: the package install itself
   (`pnpm install --frozen-lockfile`, `npm ci`, `pip wheel`) runs for real, only downloads
   are not timed. The images built on a private base are removed at the end (their tags hash
   the private base's id, so nothing else can use them).
2. **second sandbox, same lockfile**: a new commit that changes code only, served by a new
   service on the same base: the time of `create_sandbox`, and how many images were built
   (must be 0: the dependency layer is reused).
3. **warm create + first command**: `create_sandbox` from the warm pool plus the runtime's
   version command (`python -V`, `node --version`, `go version`), p50/p95 over `--rounds`.
4. **the bundled suite**: `run_tests` in a sandbox against the same runner on the host
   (`.venv/bin/python -m pytest`, `.venv/bin/node` with the same `node_modules`,
   `.venv/bin/go test -json`), alternating, after one untimed run of each; median ratio,
   target < 1.5x.

Beside the suite: the run of record's command alone through `exec` in the same sandbox, and the
workspace digest `run_tests` computes first, to show where a difference goes.

Run: `python benchmarks/bench_toolchains.py [--rounds N] [--suite-rounds N] [--cold-rounds N]
[--only python|node|go|PROJECT] [--cpus X] [--skip-cold]` (`make bench` runs it with
defaults). Progress on stderr; the table on stdout; raw numbers in
`benchmarks/results/toolchains.json` (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import docker

from nightfix_sandbox import gitops
from nightfix_sandbox.backends.docker_backend import DockerBackend
from nightfix_sandbox.config import Limits, SandboxConfig, cache_dir, default_image
from nightfix_sandbox.deps import DependencyImages
from nightfix_sandbox.image import build_context
from nightfix_sandbox.service import SandboxService
from nightfix_sandbox.toolchains import CommitFiles, Dependencies, RuntimeLayer, node, node_deps

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent
PREFIX = "nightfix-bench-tc"
TARGET_RATIO = 1.5
NOT_IN_REPO = ("fix.patch", "trajectory.yaml", "traffic.*", "node_modules", "__pycache__")
PY_PROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "checkout-service"
version = "1.4.2"
dependencies = ["attrs==26.1.0"]

[tool.setuptools]
packages = ["checkout"]
"""


def say(text: str) -> None:
    print(f"[bench-toolchains {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- the bundled projects ------------------------------------------------------------------
@dataclass(frozen=True)
class Project:
    """One toolchain's bundled project and how its suite runs on the host."""

    key: str
    toolchain: str
    label: str
    source: Path
    first_command: str
    expected_output: str
    extra: dict[str, str] = field(default_factory=dict)
    touch: str = ""
    """A code file a second commit changes (the lockfile stays)."""


PROJECTS = [
    Project(
        "python-plain",
        "python",
        "python (pytest; the demo as it is: no dependencies)",
        ROOT / "examples" / "checkout-service",
        "python -V",
        "Python 3",
        touch="checkout/service.py",
    ),
    Project(
        "python-deps",
        "python",
        "python (pytest; pyproject + attrs, project installed)",
        ROOT / "examples" / "checkout-service",
        "python -V",
        "Python 3",
        extra={"pyproject.toml": PY_PROJECT},
        touch="checkout/service.py",
    ),
    Project(
        "node-pnpm-vitest",
        "node",
        "node (pnpm + vitest, TypeScript)",
        ROOT / "examples" / "checkout-service-ts",
        "node --version",
        "v24.",
        touch="src/checkout.ts",
    ),
    Project(
        "node-npm-jest",
        "node",
        "node (npm + jest)",
        ROOT / "tests" / "sandbox" / "repos" / "node-jest-npm",
        "node --version",
        "v24.",
        touch="src/pool.js",
    ),
    Project(
        "go",
        "go",
        "go (vendored module, go test -json)",
        ROOT / "tests" / "sandbox" / "repos" / "go-inventory",
        "go version",
        "go version go1.27",
        touch="stock/stock.go",
    ),
]


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout


def make_repo(project: Project, dest: Path) -> Path:
    shutil.copytree(project.source, dest, ignore=shutil.ignore_patterns(*NOT_IN_REPO))
    for rel, text in project.extra.items():
        (dest / rel).write_text(text)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "bench project")
    return dest


def code_only_commit(repo: Path, touch: str) -> str:
    """A second commit that changes a code file and no lockfile; its sha."""
    path = repo / touch
    comment = "#" if path.suffix == ".py" else "//"
    path.write_text(path.read_text() + f"\n{comment} bench: a code-only change\n")
    git(repo, "commit", "-qam", "code-only change")
    return git(repo, "rev-parse", "HEAD").strip()


# -- images and caches that belong to this benchmark only ---------------------------------
class CountingImages(DependencyImages):
    """The real image builder, recording each image it builds and how long that took."""

    def __init__(self, client: docker.DockerClient, base: str) -> None:
        super().__init__(client, base)
        self.built: list[str] = []
        self.build_s: dict[str, float] = {}

    @contextmanager
    def _record(self, tag: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.build_s[tag] = time.perf_counter() - start
        self.built.append(tag)

    def _build_runtime(self, tag: str, layer: RuntimeLayer) -> None:
        with self._record(tag):
            super()._build_runtime(tag, layer)

    def _build_directory(self, tag: str, base: str, found: Dependencies) -> None:
        with self._record(tag):
            super()._build_directory(tag, base, found)

    def _build(self, tag: str, reqs: list[str], site_hook: str | None, base: str) -> None:
        with self._record(tag):
            super()._build(tag, reqs, site_hook, base)


def private_base(client: docker.DockerClient, shared: str) -> str:
    """A copy of the shared base with a new image id (a label), tagged under our prefix."""
    nonce = uuid.uuid4().hex[:12]
    tag = f"{PREFIX}:base-{nonce}"
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as tmp:
        (Path(tmp) / "Dockerfile").write_text(f"FROM {shared}\nLABEL {PREFIX}.nonce={nonce}\n")
        build_context(client, Path(tmp), tag, network=False, labels={f"{PREFIX}": "1"})
    return tag


@contextmanager
def private_cache() -> Iterator[Path]:
    """A fresh NIGHTFIX_SANDBOX_CACHE whose downloads (wheels, package stores) link to the real
    cache, so installs run for real and nothing is fetched twice."""
    real = cache_dir()
    for sub in ("wheels", "wheels/go", "node/pnpm-store", "node/npm-cache", "node/yarn-cache"):
        (real / sub).mkdir(parents=True, exist_ok=True)
    before = os.environ.get("NIGHTFIX_SANDBOX_CACHE")
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-cache-") as tmp:
        mine = Path(tmp)
        (mine / "node").mkdir()
        (mine / "wheels").symlink_to(real / "wheels")
        for sub in ("pnpm-store", "npm-cache", "yarn-cache"):
            (mine / "node" / sub).symlink_to(real / "node" / sub)
        os.environ["NIGHTFIX_SANDBOX_CACHE"] = str(mine)
        try:
            yield mine
        finally:
            if before is None:
                os.environ.pop("NIGHTFIX_SANDBOX_CACHE", None)
            else:
                os.environ["NIGHTFIX_SANDBOX_CACHE"] = before
            # pnpm/npm may leave read-only files behind
            subprocess.run(["chmod", "-R", "u+w", tmp], check=False)


def remove_images(client: docker.DockerClient, tags: list[str]) -> None:
    for tag in reversed(tags):  # children before their parents
        try:
            client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            say(f"could not remove {tag}: {exc}")


# -- the service -----------------------------------------------------------------------------
def service_for(
    client: docker.DockerClient, repo: Path, base: str, pool: int, cpus: float
) -> tuple[SandboxService, DockerBackend, CountingImages]:
    config = SandboxConfig(
        sources={"repo": str(repo)}, image=base, pool_size=pool, limits=Limits(cpus=cpus)
    )
    backend = DockerBackend(client, config.limits, config.runtime)
    images = CountingImages(client, base)
    return SandboxService(config, backend, images), backend, images


@contextmanager
def serving(
    client: docker.DockerClient, repo: Path, base: str, pool: int, cpus: float
) -> Iterator[tuple[SandboxService, CountingImages]]:
    service, backend, images = service_for(client, repo, base, pool, cpus)
    service.start()
    try:
        yield service, images
    finally:
        service.close()
        backend.close()


def ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


# -- 1 + 2: cold build, then a second sandbox of the same lockfile ---------------------------
def bench_cold(
    client: docker.DockerClient, project: Project, repo: Path, base: str, cpus: float
) -> tuple[dict[str, Any], list[str]]:
    """Images built from ``base`` for ``repo`` (a fresh private base, so nothing is cached),
    then a new service's sandbox of a code-only commit; the figures and the images made."""
    made: list[str] = []
    with serving(client, repo, base, 0, cpus) as (service, images):
        say(f"{project.key}: cold build + first sandbox on {base}")
        info = None

        def first() -> None:
            nonlocal info
            info = service.create("repo")

        cold_ms = ms(first)
        made += images.built
        assert info is not None
        built, build_s = list(images.built), dict(images.build_s)
    second_commit = code_only_commit(repo, project.touch)
    with serving(client, repo, base, 0, cpus) as (service, images):
        say(f"{project.key}: a second sandbox of a code-only commit, same lockfile")
        second = None

        def again() -> None:
            nonlocal second
            second = service.create("repo", second_commit)

        second_ms = ms(again)
        made += images.built
        assert second is not None and second.commit == second_commit
        rebuilt = list(images.built)
    return {
        "cold_ms": cold_ms,
        "build_s": build_s,
        "images_built": built,
        "second_ms": second_ms,
        "second_images_built": rebuilt,
        "same_image": second.image == info.image,
    }, made


# -- 3: warm create + first command ----------------------------------------------------------
def bench_warm(
    client: docker.DockerClient,
    project: Project,
    repo: Path,
    base: str,
    rounds: int,
    cpus: float,
) -> list[float]:
    samples: list[float] = []
    with serving(client, repo, base, 1, cpus) as (service, images):
        probe = service.create("repo")
        service.destroy(probe.sandbox_id)
        built = len(images.built)  # --skip-cold: the probe may build the layers once
        for _ in range(rounds + 1):
            service.pool.fill_now(probe.image, probe.commit)  # the pool is warm when asked
            sid = ""

            def once() -> None:
                nonlocal sid
                sid = service.create("repo").sandbox_id
                res = service.exec(sid, project.first_command)
                assert project.expected_output in res.stdout + res.stderr, res

            samples.append(ms(once))
            service.destroy(sid)
        assert len(images.built) == built, images.built  # warm: no layer is built again
    return samples[1:]  # the first round warms host-side caches


# -- 4: the bundled suite, sandbox vs host ---------------------------------------------------
def host_suite(project: Project, repo: Path, where: Path) -> Callable[[], int]:
    """The same runner on the host, on a clone of the same commit; returns tests passed."""
    clone = where / f"{project.key}-host"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    if project.toolchain == "python":
        report = where / f"{project.key}-junit.xml"
        # No plugins, as in the sandbox, whose image has pytest alone (the host venv has many).
        env |= {
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(clone),
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        line = [*cmd, "-o", "junit_family=xunit1", f"--junitxml={report}"]

        def run_py() -> int:
            proc = subprocess.run(line, cwd=clone, env=env, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stdout[-2000:]
            return report.read_text().count("<testcase") - report.read_text().count("<failure")

        return run_py
    if project.toolchain == "node":
        names = ("package.json", *node_deps.LOCKFILES)
        present = {p: (clone / p).read_bytes() for p in names if (clone / p).exists()}
        commit = CommitFiles(read=present.get, top_level=sorted(present), snapshot=lambda: b"")
        modules = node_deps.host_modules(commit)
        assert modules is not None
        (clone / "node_modules").symlink_to(modules)
        runner = node.choose_runner(node_deps.package_json(commit))
        report = where / f"{project.key}-report.json"
        processor = where / "identity-processor.cjs"
        processor.write_text("module.exports = (results) => results;\n")
        words = node.argv(
            runner, [], None, str(report), str(clone / "node_modules"), str(processor)
        )
        env |= node.ENV

        def run_node() -> int:
            report.unlink(missing_ok=True)
            proc = subprocess.run(
                " ".join(words), shell=True, cwd=clone, env=env, capture_output=True, text=True
            )
            out = proc.stdout + proc.stderr
            parsed = node.read_report(runner, report.read_bytes(), out, proc.returncode, str(clone))
            assert parsed.status == "ok", (parsed.problem, out[-2000:])
            return sum(r.outcome == "passed" for r in parsed.results)

        return run_node
    gohome = where / f"{project.key}-gohome"
    env |= {
        "GOCACHE": str(gohome / "cache"),
        "GOTMPDIR": str(gohome / "build"),
        "GOPATH": str(gohome / "path"),
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
        "GOENV": "off",
        "GOTELEMETRY": "off",
        "GOFLAGS": "-mod=vendor" if (clone / "vendor" / "modules.txt").exists() else "",
        "CGO_ENABLED": "0",  # as in the sandbox, whose image has no C compiler
    }
    (gohome / "build").mkdir(parents=True)

    def run_go() -> int:
        proc = subprocess.run(
            [str(BIN / "go"), "test", "-json", "-count=1", "-vet=off", "./..."],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        events = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
        return sum(1 for e in events if e.get("Action") == "pass" and e.get("Test"))

    return run_go


def bench_suite(
    client: docker.DockerClient,
    project: Project,
    repo: Path,
    base: str,
    where: Path,
    rounds: int,
    cpus: float,
) -> dict[str, Any]:
    host = host_suite(project, repo, where)
    host_ms: list[float] = []
    box_ms: list[float] = []
    exec_ms: list[float] = []
    digest_ms: list[float] = []
    with serving(client, repo, base, 0, cpus) as (service, _):
        sid = service.create("repo").sandbox_id
        counts: dict[str, int] = {}
        line = runner_line(service, sid)
        box = service._get(sid).box

        def by_exec() -> None:
            res = service.exec(sid, line, timeout_s=600)
            assert res.exit_code == 0, res

        def boxed() -> None:
            rep = service.run_tests(sid)
            assert rep.report_status == "ok" and rep.failed == 0, rep
            counts["sandbox"] = rep.passed

        def on_host() -> None:
            counts["host"] = host()

        say(f"{project.key}: one untimed suite run each (sandbox, host)")
        boxed()
        on_host()
        by_exec()
        for i in range(rounds):
            say(f"{project.key}: suite round {i + 1}/{rounds}")
            host_ms.append(ms(on_host))
            box_ms.append(ms(boxed))
            exec_ms.append(ms(by_exec))
            digest_ms.append(ms(partial(gitops.digest, service.backend, box)))
    if counts["host"] != counts["sandbox"]:
        raise AssertionError(f"{project.key}: host passed {counts['host']}, sandbox {counts}")
    h, b = statistics.median(host_ms), statistics.median(box_ms)
    return {
        "tests": counts["sandbox"],
        "host_ms": host_ms,
        "sandbox_ms": box_ms,
        "host_median_ms": h,
        "sandbox_median_ms": b,
        "ratio": b / h,
        "exec_ms": exec_ms,
        "exec_median_ms": statistics.median(exec_ms),
        "digest_ms": digest_ms,
        "digest_median_ms": statistics.median(digest_ms),
    }


def runner_line(service: SandboxService, sid: str) -> str:
    """The run of record's own command line and environment, for a plain ``exec``: what the
    runner alone costs in the sandbox, without run_tests' digest and report reading."""
    plan = service._get(sid).chain.plan(None, [], "/tmp/nightfix-bench-report")
    exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in plan.env.items())
    return f"rm -f /tmp/nightfix-bench-report; {exports}{plan.command}"


# -- the run ---------------------------------------------------------------------------------
def bench_project(
    client: docker.DockerClient, project: Project, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """Every measure of one project, on private bases and a private host cache (all removed
    at the end); the warm and suite measures reuse the first cold round's images."""
    row: dict[str, Any] = {"label": project.label, "cold": []}
    made: list[str] = []
    try:
        with private_cache() if not args.skip_cold else nullcontext():
            for i in range(0 if args.skip_cold else args.cold_rounds):
                base = private_base(client, default_image())
                made.append(base)
                repo = make_repo(project, work / f"{project.key}-cold{i}")
                figures, images = bench_cold(client, project, repo, base, args.cpus)
                made += images
                row["cold"].append(figures)
            base = made[0] if made else default_image()
            repo = make_repo(project, work / f"{project.key}-warm")
            say(f"{project.key}: warm create + first command, {args.rounds} rounds")
            row["warm_ms"] = bench_warm(client, project, repo, base, args.rounds, args.cpus)
            row["suite"] = bench_suite(
                client, project, repo, base, work, args.suite_rounds, args.cpus
            )
    finally:
        remove_images(client, made)
    return row


def layers(build_s: dict[str, float]) -> str:
    """``runtime 41.0 + deps 9.2`` (seconds per image built), or ``no image built``."""
    if not build_s:
        return "no image built"
    names = {"deps": "deps", "node-deps": "deps", "go-deps": "deps"}
    parts = []
    for tag, secs in build_s.items():
        kind = tag.split(":")[0].removeprefix("nightfix-sandbox-")
        parts.append(f"{names.get(kind, 'runtime')} {secs:.1f}")
    return "images: " + " + ".join(parts)


def report(rows: dict[str, dict[str, Any]], args: argparse.Namespace, load: list[float]) -> None:
    print(
        f"\nper-toolchain benchmark: {args.rounds} warm rounds, {args.suite_rounds} suite rounds, "
        f"{0 if args.skip_cold else args.cold_rounds} cold build(s); sandbox --cpus {args.cpus}; "
        f"host {os.cpu_count()} "
        f"cores; load average {min(load):.1f}-{max(load):.1f} during the run"
    )
    print(
        "| toolchain (project) | cold build + first sandbox, s | second sandbox, "
        "same lockfile, s (images built) | warm create + first command p50 / p95, ms |"
        " suite: tests, host / sandbox (`run_tests`) median ms | the runner alone (`exec`) /"
        " workspace digest, ms | ratio (target < 1.5x) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows.values():
        colds = row["cold"]
        cold = " / ".join(f"{c['cold_ms'] / 1000:.1f} ({layers(c['build_s'])})" for c in colds)
        cold = cold or "skipped"
        second = " / ".join(
            f"{c['second_ms'] / 1000:.2f} ({len(c['second_images_built'])})" for c in colds
        )
        second = second or "skipped"
        warm = row["warm_ms"]
        s = row["suite"]
        verdict = "PASS" if s["ratio"] < TARGET_RATIO else "MISS"
        print(
            f"| {row['label']} | {cold} | {second} | {statistics.median(warm):.0f} / "
            f"{pct(warm, 95):.0f} | {s['tests']}: {s['host_median_ms']:.0f} / "
            f"{s['sandbox_median_ms']:.0f} | {s['exec_median_ms']:.0f} / "
            f"{s['digest_median_ms']:.0f} | {s['ratio']:.2f}x {verdict} |"
        )
    if args.skip_cold:
        return
    reused = all(
        not c["second_images_built"] and c["same_image"] for r in rows.values() for c in r["cold"]
    )
    print(
        "second sandbox of the same lockfile reused every cached layer (no build): "
        + ("yes" if reused else "NO")
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10, help="warm create rounds (default 10)")
    ap.add_argument("--suite-rounds", type=int, default=5, help="suite runs each (default 5)")
    ap.add_argument("--cold-rounds", type=int, default=1, help="cold builds each (default 1)")
    ap.add_argument(
        "--only",
        action="append",
        choices=list(dict.fromkeys(["python", "node", "go", *(p.key for p in PROJECTS)])),
        help="only this toolchain or project (repeatable)",
    )
    ap.add_argument(
        "--cpus", type=float, default=1.0, help="each sandbox's CPU quota (server default 1.0)"
    )
    ap.add_argument(
        "--skip-cold",
        action="store_true",
        help="no cold builds: warm and suite measures on the shared base's layers (built if "
        "missing and then kept, as any server's cache)",
    )
    args = ap.parse_args()
    if min(args.rounds, args.suite_rounds, args.cold_rounds) < 1:
        ap.error("--rounds, --suite-rounds and --cold-rounds must be at least 1")
    chosen = [p for p in PROJECTS if not args.only or {p.key, p.toolchain} & set(args.only)]
    subprocess.run(
        [str(BIN / "nightfix-sandbox"), "image", "build", "--offline", "--if-missing"], check=True
    )
    client = docker.from_env(timeout=900)
    rows: dict[str, dict[str, Any]] = {}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as tmp:
        for project in chosen:
            rows[project.key] = bench_project(client, project, args, Path(tmp))
            load.append(os.getloadavg()[0])
    report(rows, args, load)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "toolchains.json"
    out.write_text(json.dumps({"args": vars(args), "load": load, "toolchains": rows}, indent=1))
    say(f"raw numbers in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
