"""Named sources: local git repositories or URLs cloned by the host into the cache."""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from nightfix_sandbox.config import NOISE, SANDBOX_UID, cache_dir
from nightfix_sandbox.errors import SandboxError, SecurityError
from nightfix_sandbox.security import check_git_url, check_ref_safe, check_source_known

log = logging.getLogger(__name__)
_GIT = ["git", "-c", "protocol.ext.allow=never", "-c", "core.fsmonitor=false"]


def _git(args: list[str], cwd: Path | None = None, timeout: float = 300) -> bytes:
    proc = subprocess.run(
        [*_GIT, *args], cwd=cwd, capture_output=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SandboxError(f"git {args[0]} failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def is_url(where: str) -> bool:
    return "://" in where or where.startswith("git@")


class SourceRegistry:
    """Maps configured source names to host repositories; nothing else is reachable."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = dict(sources)
        self._lock = threading.Lock()
        self._snapshots: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        for name, where in self.sources.items():
            if is_url(where):
                check_git_url(where)
            elif not (Path(where) / ".git").exists() and not (Path(where) / "HEAD").exists():
                raise SecurityError(f"source {name!r}: {where} is not a git repository")

    def repo_path(self, name: str) -> Path:
        """Local repository for a source; a URL is cloned (once) or fetched into the cache."""
        where = check_source_known(self.sources, name)
        if not is_url(where):
            return Path(where).resolve()
        dest = cache_dir() / "sources" / f"{name}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"
        with self._lock:
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                log.info("cloning source %s", name)
                _git(["clone", "--mirror", "--quiet", "--", where, str(dest)])
            else:
                _git(["fetch", "--quiet", "--prune", "origin"], cwd=dest)
        return dest

    def resolve(self, name: str, ref: str) -> tuple[Path, str]:
        """Resolve a ref of a source to a full commit sha."""
        check_ref_safe(ref)
        repo = self.repo_path(name)
        try:
            out = _git(
                ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
                cwd=repo,
            )
        except SandboxError:
            raise SandboxError(f"ref {ref!r} does not exist in source {name!r}") from None
        return repo, out.decode().strip()

    def snapshot(self, repo: Path, commit: str) -> bytes:
        """One tar for /sandbox: `workspace/` (git archive, sandbox user) and `.base.git/`
        (that commit alone, root-owned, what diff compares against). Cached per commit."""
        key = (str(repo), commit)
        with self._lock:
            if key in self._snapshots:
                self._snapshots.move_to_end(key)
                return self._snapshots[key]
        work = reown_tar(_git(["archive", "--format=tar", commit], cwd=repo), "workspace/")
        data = _concat(work, _base_git_tar(repo, commit))
        with self._lock:
            self._snapshots[key] = data
            while len(self._snapshots) > 16:
                self._snapshots.popitem(last=False)
        return data

    def top_level(self, repo: Path, commit: str) -> list[str]:
        """The names at the root of a commit's tree (what a toolchain is detected from)."""
        return _git(["ls-tree", "--name-only", commit], cwd=repo).decode().splitlines()

    def read(self, repo: Path, commit: str, path: str) -> bytes | None:
        """One file of a commit (a path inside the repository), or None when it has none."""
        try:
            kind = _git(["cat-file", "-t", f"{commit}:{path}"], cwd=repo).decode().strip()
        except SandboxError:
            return None
        return _git(["show", f"{commit}:{path}"], cwd=repo) if kind == "blob" else None


def reown_tar(data: bytes, prefix: str = "", uid: int = SANDBOX_UID) -> bytes:
    """Rewrite a tar so every member belongs to `uid`, stays relative, and sits under prefix."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src:
            if member.name.startswith("/") or ".." in member.name.split("/"):
                raise SecurityError(f"archive member {member.name!r} escapes the workspace")
            if member.type == tarfile.XGLTYPE or member.isdev():
                continue
            member.uid = member.gid = uid
            member.uname = member.gname = "sandbox" if uid == SANDBOX_UID else "root"
            member.name = prefix + member.name.removeprefix("./")
            if member.name.endswith("/"):
                member.name = member.name.rstrip("/")
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    return out.getvalue()


def _base_git_tar(repo: Path, commit: str) -> bytes:
    """A bare repository holding just `commit` (shallow), as a root-owned `.base.git/` tar."""
    with tempfile.TemporaryDirectory(prefix="nightfix-base-") as tmp:
        base = Path(tmp) / "base.git"
        _git(["init", "-q", "--bare", str(base)])
        _git(
            [
                "--git-dir",
                str(base),
                "fetch",
                "-q",
                "--depth=1",
                "--no-tags",
                f"file://{repo}",
                commit,
            ]
        )
        _git(["--git-dir", str(base), "update-ref", "HEAD", commit])
        _git(["--git-dir", str(base), "config", "core.bare", "false"])
        (base / "info" / "exclude").write_text("\n".join(NOISE) + "\n")
        for junk in ("hooks", "description", "FETCH_HEAD"):
            path = base / junk
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(base, arcname=".base.git", filter=_root_owned)
        return buf.getvalue()


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def _concat(*tars: bytes) -> bytes:
    """Join tar archives into one (members of each, in order)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for data in tars:
            with tarfile.open(fileobj=io.BytesIO(data)) as src:
                for member in src:
                    dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    return out.getvalue()
