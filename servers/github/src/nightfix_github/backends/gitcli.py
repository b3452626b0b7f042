"""A small runner for the `git` command line: argument lists only, no shell, no prompts."""

import os
import subprocess
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
