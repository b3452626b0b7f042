"""SandboxService: the sandboxes a server holds, and every operation on them."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from nightfix_sandbox import gitops, repo_setup, testrun, toolchains, workspace
from nightfix_sandbox.backends import Box, ContainerBackend
from nightfix_sandbox.config import SANDBOX_ROOT, WORKSPACE, SandboxConfig
from nightfix_sandbox.deps import DependencyImages
from nightfix_sandbox.errors import SandboxError, SandboxNotFoundError
from nightfix_sandbox.models import (
    DestroyResult,
    DiffResult,
    ExecResult,
    FileBytes,
    FileContent,
    FileList,
    PatchResult,
    SandboxInfo,
    SandboxList,
    SearchResult,
    TestReport,
    WriteResult,
)
from nightfix_sandbox.pool import WarmPool
from nightfix_sandbox.runner import run_command, run_helper
from nightfix_sandbox.security import (
    check_command,
    check_sandbox_id,
    check_test_selectors,
    check_timeout,
)
from nightfix_sandbox.sources import SourceRegistry
from nightfix_sandbox.toolchains import python_deps

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Sandbox:
    info: SandboxInfo
    box: Box
    chain: toolchains.Toolchain
    setup: repo_setup.SandboxSetup = field(default_factory=lambda: repo_setup.SandboxSetup())
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class SandboxService:
    """Creates sandboxes from named sources only and runs every tool against them."""

    def __init__(
        self, config: SandboxConfig, backend: ContainerBackend, deps: DependencyImages | None
    ) -> None:
        self.config = config
        self.backend = backend
        self.sources = SourceRegistry(config.sources)
        self.deps = deps
        self.pool = WarmPool(backend, config.pool_size)
        self._boxes: dict[str, Sandbox] = {}
        self._images: dict[tuple[str, str, str], str] = {}
        self._installable: set[tuple[str, str, str]] = set()
        self._notes: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="nf-reaper", daemon=True)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.backend.remove_orphans()
        self.pool.start([self.config.image])
        self._reaper.start()
        if self.config.pool_size:
            threading.Thread(target=self._preload, name="nf-preload", daemon=True).start()

    def _preload(self) -> None:
        """Warm containers already holding each local source's HEAD."""
        for name, where in self.config.sources.items():
            if "://" in where or where.startswith("git@") or self._stop.is_set():
                continue  # URL sources are cloned on first use, not at start-up
            try:
                repo, commit = self.sources.resolve(name, "HEAD")
                setup = self._setup(name, repo, commit)
                image = self._image_for(
                    name, repo, commit, setup, self._chain(name, repo, commit, setup)
                )
                self.pool.want(image, commit, partial(self.sources.snapshot, repo, commit))
            except Exception as exc:  # start-up must not fail on a warm-up
                log.warning("could not preload source %s: %s", name, exc)

    def _setup(self, source: str, repo: Path, commit: str) -> repo_setup.SandboxSetup:
        """The commit's .nightfix/sandbox.yaml with the operator's flags on top."""
        file = repo_setup.load(self.sources.read(repo, commit, repo_setup.SANDBOX_FILE))
        return repo_setup.merge(
            file,
            self.config.requirements.get(source),
            self.config.setup_commands.get(source),
            self.config.test_command,
        )

    def _chain(
        self, source: str, repo: Path, commit: str, setup: repo_setup.SandboxSetup
    ) -> toolchains.Toolchain:
        """The commit's toolchain: pinned by its sandbox file, else detected from its files."""
        chain = toolchains.detect(self.sources.top_level(repo, commit), setup.toolchain)
        return toolchains.for_commit(chain, self._commit_files(source, repo, commit, setup))

    def _image_for(
        self,
        source: str,
        repo: Path,
        commit: str,
        setup: repo_setup.SandboxSetup,
        chain: toolchains.Toolchain,
    ) -> str:
        """The commit's image: the base, the toolchain's runtime layer, its dependencies."""
        key = (source, str(repo), commit)
        if key not in self._images:
            image = self.config.image
            if self.deps is not None:
                image = self.deps.runtime_image(chain.name, chain.runtime())
                if self.config.install_deps:
                    files = self._commit_files(source, repo, commit, setup)
                    found = chain.dependencies(files, self._offline_for(files.snapshot))
                    with_deps = self.deps.dependency_image(image, chain.name, found)
                    if found.installable and with_deps != image:
                        self._installable.add(key)
                    if found.note:
                        self._notes[key] = found.note
                    image = with_deps
            self._images[key] = image
        return self._images[key]

    def _commit_files(
        self, source: str, repo: Path, commit: str, setup: repo_setup.SandboxSetup
    ) -> toolchains.CommitFiles:
        return toolchains.CommitFiles(
            read=partial(self.sources.read, repo, commit),
            top_level=self.sources.top_level(repo, commit),
            snapshot=partial(self.sources.snapshot, repo, commit),
            requirement_files=setup.requirements,
            trusted_install=source in self.config.install_scripts,
        )

    def _offline_for(self, snapshot: Callable[[], bytes]) -> toolchains.Offline:
        deps = self.deps
        assert deps is not None

        def offline(requirements: list[str], command: list[str]) -> tuple[int, str]:
            return deps.run_offline(snapshot(), command, deps.image_for(requirements))

        return offline

    def close(self) -> None:
        """Destroy every sandbox and the warm pool (containers and volumes)."""
        self._stop.set()
        with self._lock:
            boxes = [sb.box for sb in self._boxes.values()]
            self._boxes.clear()
        self.backend.remove_many(boxes)
        self.pool.close()

    def _reap_loop(self) -> None:
        while not self._stop.wait(timeout=min(30.0, self.config.idle_ttl_s / 2)):
            self.reap_idle()

    def reap_idle(self) -> list[str]:
        """Destroy sandboxes idle longer than the TTL; returns their ids."""
        cutoff = time.monotonic() - self.config.idle_ttl_s
        with self._lock:
            stale = [sid for sid, sb in self._boxes.items() if sb.last_used < cutoff]
        for sid in stale:
            log.info("reaping idle sandbox %s", sid)
            self.destroy(sid)
        return stale

    # -- sandboxes -------------------------------------------------------------------
    def create(self, source: str, ref: str = "HEAD") -> SandboxInfo:
        with self._lock:
            if len(self._boxes) >= self.config.max_sandboxes:
                raise SandboxError(
                    f"{len(self._boxes)} sandboxes are live (the maximum); destroy one first"
                )
        repo, commit = self.sources.resolve(source, ref)
        setup = self._setup(source, repo, commit)
        chain = self._chain(source, repo, commit, setup)
        image = self._image_for(source, repo, commit, setup, chain)
        box = self.pool.take(image, commit)  # preloaded: the code is already in
        if box is None:
            tar = self.sources.snapshot(repo, commit)
            box = self.pool.take(image) or self.backend.create(image, {})
            try:
                self.backend.copy_in(box, SANDBOX_ROOT, tar)
            except BaseException:
                self.backend.remove(box)
                raise
            self.pool.want(image, commit, partial(self.sources.snapshot, repo, commit))
        key = (source, str(repo), commit)
        notes = [
            self._notes.get(key),
            self._install_project(box) if key in self._installable else None,
        ]
        setup_note = "; ".join(n for n in notes if n) or None
        if setup.setup_command:
            self._run_setup_command(box, source, setup)
        sid = f"sbx-{secrets.token_hex(6)}"
        info = SandboxInfo(
            sandbox_id=sid,
            source=source,
            ref=ref,
            commit=commit,
            image=image,
            workdir=WORKSPACE,
            toolchain=chain.info(),
            created_at=_now(),
            setup_note=setup_note,
        )
        with self._lock:
            self._boxes[sid] = Sandbox(info=info, box=box, chain=chain, setup=setup)
        log.info("created sandbox %s from %s@%s (%s)", sid, source, ref, commit[:12])
        return info

    def _install_project(self, box: Box) -> str | None:
        """Install the project itself (editable, offline) so generated files, entry points and
        importlib.metadata work; on failure the sandbox works as before (PYTHONPATH) and the
        returned note says why."""
        code, out, err = run_helper(self.backend, box, python_deps.INSTALL_AS_USER)
        if code == 0:
            code, out, err = run_helper(self.backend, box, python_deps.PUBLISH_AS_ROOT, root=True)
        if code == 0:
            return None
        why = python_deps.install_error(err + "\n" + out)
        log.info("installing the project in %s failed: %s", box.box_id[:12], why)
        return (
            f"the project itself could not be installed (pip install -e . failed: {why}); "
            "imports work from src/ and the workspace root only (PYTHONPATH)"
        )

    def _run_setup_command(self, box: Box, source: str, setup: repo_setup.SandboxSetup) -> None:
        """The operator's (or the repository's) setup command; its failure fails creation."""
        assert setup.setup_command is not None
        limits = self.config.limits
        res = run_command(
            self.backend,
            box,
            setup.setup_command,
            limits.max_timeout_s,
            limits.output_bytes,
            dict(setup.env),
        )
        if res.exit_code != 0 or res.timed_out or res.killed:
            self.backend.remove(box)
            tail = " | ".join((res.stderr or res.stdout).strip().splitlines()[-3:])
            why = res.reason or f"exit {res.exit_code}"
            raise SandboxError(
                f"the setup command of source {source!r} failed ({why}): {tail[-500:]}; "
                "fix --setup-command or setup_command in .nightfix/sandbox.yaml"
            )

    def _get(self, sandbox_id: str) -> Sandbox:
        check_sandbox_id(sandbox_id)
        with self._lock:
            sb = self._boxes.get(sandbox_id)
        if sb is None:
            raise SandboxNotFoundError(f"no sandbox {sandbox_id}; list_sandboxes shows live ones")
        sb.last_used = time.monotonic()
        sb.info.last_used_at = _now()
        return sb

    def destroy(self, sandbox_id: str) -> DestroyResult:
        check_sandbox_id(sandbox_id)
        with self._lock:
            sb = self._boxes.pop(sandbox_id, None)
        if sb is None:
            return DestroyResult(sandbox_id=sandbox_id, destroyed=False)
        self.backend.remove(sb.box)
        log.info("destroyed sandbox %s", sandbox_id)
        return DestroyResult(sandbox_id=sandbox_id, destroyed=True)

    def list(self) -> SandboxList:
        with self._lock:
            return SandboxList(sandboxes=[sb.info for sb in self._boxes.values()])

    # -- operations ------------------------------------------------------------------
    def exec(self, sandbox_id: str, command: str, timeout_s: int = 60) -> ExecResult:
        timeout_s = check_timeout(timeout_s, self.config.limits.max_timeout_s)
        check_command(command)
        sb = self._get(sandbox_id)
        return run_command(
            self.backend,
            sb.box,
            command,
            timeout_s,
            self.config.limits.output_bytes,
            dict(sb.setup.env),
        )

    def read_file(
        self, sandbox_id: str, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> FileContent:
        return workspace.read_file(
            self.backend, self._get(sandbox_id).box, path, start_line, end_line
        )

    def export_file(self, sandbox_id: str, path: str, offset: int = 0) -> FileBytes:
        return workspace.export_file(self.backend, self._get(sandbox_id).box, path, offset)

    def write_file(self, sandbox_id: str, path: str, content: str) -> WriteResult:
        return workspace.write_file(self.backend, self._get(sandbox_id).box, path, content)

    def apply_patch(self, sandbox_id: str, patch: str) -> PatchResult:
        sb = self._get(sandbox_id)
        with sb.lock:
            return PatchResult(files_changed=gitops.apply_patch(self.backend, sb.box, patch))

    def list_files(self, sandbox_id: str, path: str = ".", glob: str | None = None) -> FileList:
        return workspace.list_files(self.backend, self._get(sandbox_id).box, path, glob)

    def search(
        self, sandbox_id: str, pattern: str, glob: str | None = None, regex: bool = True
    ) -> SearchResult:
        return workspace.search(self.backend, self._get(sandbox_id).box, pattern, glob, regex)

    def diff(self, sandbox_id: str, path: str | None = None) -> DiffResult:
        sb = self._get(sandbox_id)
        with sb.lock:
            text, files, added, removed, note = gitops.diff(self.backend, sb.box, path)
        return DiffResult(
            base_commit=sb.info.commit,
            diff=text,
            files_changed=files,
            added_lines=added,
            removed_lines=removed,
            truncated=note is not None,
            note=note,
        )

    def run_tests(
        self,
        sandbox_id: str,
        command: str | None = None,
        timeout_s: int = 600,
        tests: Sequence[str] | None = None,
        report: testrun.Detail = "summary",
    ) -> TestReport:
        """The suite, or only ``tests`` (files or ids), run by the sandbox's toolchain."""
        limit = self.config.limits.max_timeout_s
        timeout_s = check_timeout(min(timeout_s, limit), limit)
        if command is not None:
            check_command(command)
        selected = check_test_selectors(list(tests or []))
        sb = self._get(sandbox_id)
        with sb.lock:
            return testrun.run_tests(
                self.backend,
                sb.box,
                sb.chain,
                command or sb.setup.test_command,
                selected,
                timeout_s,
                self.config.limits.output_bytes,
                report,
                dict(sb.setup.env),
            )
