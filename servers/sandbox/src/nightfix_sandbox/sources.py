"""Named sources: local git repositories or URLs cloned by the host into the cache."""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import tarfile
import threading
from pathlib import Path

from nightfix_sandbox.config import SANDBOX_UID, cache_dir
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

    def archive(self, repo: Path, commit: str) -> bytes:
        """`git archive` of a commit, re-owned to the sandbox user."""
        return reown_tar(_git(["archive", "--format=tar", commit], cwd=repo))

    def dependency_files(self, repo: Path, commit: str) -> dict[str, bytes]:
        """Top-level requirements*.txt and pyproject.toml of a commit."""
        names = _git(["ls-tree", "--name-only", commit], cwd=repo).decode().splitlines()
        wanted = [
            n
            for n in names
            if n == "pyproject.toml" or (n.startswith("requirements") and n.endswith(".txt"))
        ]
        return {n: _git(["show", f"{commit}:{n}"], cwd=repo) for n in sorted(wanted)}


def reown_tar(data: bytes) -> bytes:
    """Rewrite a tar so every member belongs to the sandbox user and stays relative."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src:
            if member.name.startswith("/") or ".." in member.name.split("/"):
                raise SecurityError(f"archive member {member.name!r} escapes the workspace")
            if member.type == tarfile.XGLTYPE or member.isdev():
                continue
            member.uid = member.gid = SANDBOX_UID
            member.uname = member.gname = "sandbox"
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    return out.getvalue()
