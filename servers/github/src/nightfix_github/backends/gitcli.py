"""A small runner for the `git` command line: argument lists only, no shell, no prompts."""

import os
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

from ..errors import BackendError, NotFoundError

_BASE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_OPTIONAL_LOCKS": "0",
    "LC_ALL": "C",
}


class Git:
    """Runs git against one repository and returns stdout as bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._env = {**os.environ, **_BASE_ENV}

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok_codes: tuple[int, ...] = (0,),
    ) -> bytes:
        full_env = {**self._env, **env} if env else self._env
        proc = subprocess.run(
            ["git", "-C", str(self.path), *args],
            input=input,
            capture_output=True,
            env=full_env,
            check=False,
        )
        if proc.returncode not in ok_codes:
            err = proc.stderr.decode(errors="replace").strip().splitlines()
            msg = err[-1] if err else f"exit {proc.returncode}"
            raise BackendError(f"git {args[0]} failed: {msg}")
        return proc.stdout

    def text(self, *args: str) -> str:
        return self.run(*args).decode(errors="replace")

    def rev(self, spec: str) -> str | None:
        """The object name `spec` resolves to, or None (no error for a missing ref)."""
        out = self.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", spec, ok_codes=(0, 1)
        )
        return out.decode().strip() or None

    def commit_of(self, ref: str) -> str:
        sha = self.rev(f"{ref}^{{commit}}")
        if sha is None:
            raise NotFoundError(f"no branch, tag or commit named {ref!r}")
        return sha


class CatFile:
    """One long-lived `git cat-file --batch-command` for the hot reads (git >= 2.36).

    Thread-safe (a lock around each question); restarted once if the process went away.
    Names given here are already checked: no newlines or control characters reach it.
    """

    def __init__(self, git: Git) -> None:
        self.git = git
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                ["git", "-C", str(self.git.path), "cat-file", "--batch-command"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=self.git._env,
            )
        return self._proc

    def ask(self, command: str, name: str) -> tuple[str, str, bytes]:
        """(`sha`, `type`, content or b"" for `info`); NotFoundError if the name is unknown."""
        if "\n" in name or "\r" in name:
            raise NotFoundError(f"no object named {name!r}")
        with self._lock:
            for attempt in (0, 1):
                try:
                    return self._ask(command, name)
                except (BrokenPipeError, ValueError):
                    self._proc = None
                    if attempt:
                        raise BackendError("git cat-file stopped answering") from None
        raise AssertionError("unreachable")

    def _ask(self, command: str, name: str) -> tuple[str, str, bytes]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{command} {name}\n".encode())
        proc.stdin.flush()
        header = proc.stdout.readline()
        if not header:
            raise BrokenPipeError("git cat-file exited")
        parts = header.decode(errors="replace").split()
        if len(parts) != 3 or not parts[2].isdigit():
            raise NotFoundError(f"no object named {name!r}")
        sha, kind, size = parts[0], parts[1], int(parts[2])
        data = b""
        if command == "contents":
            data = proc.stdout.read(size)
            proc.stdout.read(1)
        return sha, kind, data

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                if self._proc.stdin:
                    self._proc.stdin.close()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                if self._proc.stdout:
                    self._proc.stdout.close()
                self._proc = None
