"""Run a command in a sandbox through the in-container supervisor."""

from __future__ import annotations

import base64
import json
import uuid

from nightfix_sandbox.backends import Box, ContainerBackend
from nightfix_sandbox.config import SANDBOX_ROOT, SANDBOX_UID
from nightfix_sandbox.incontainer import script
from nightfix_sandbox.models import ExecResult

USER = f"{SANDBOX_UID}:{SANDBOX_UID}"
WS = f"{SANDBOX_ROOT}/workspace"
ENV = {
    "HOME": "/tmp",  # noqa: S108 - the sandbox's own tmpfs
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPATH": f"{WS}/src:{WS}",
    "GIT_CEILING_DIRECTORIES": SANDBOX_ROOT,
    "PIP_NO_INDEX": "1",
}
# Root helpers (git on the base repository) must not read anything the sandbox user
# controls: no $HOME config (the user owns /tmp), no system config, no hooks.
ROOT_ENV = {
    "HOME": "/nonexistent",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CEILING_DIRECTORIES": SANDBOX_ROOT,
}
_SUPERVISOR = script("supervisor")


def run_command(
    backend: ContainerBackend,
    box: Box,
    command: str,
    timeout_s: int,
    output_bytes: int,
    extra_env: dict[str, str] | None = None,
) -> ExecResult:
    """Run `sh -c command` as the sandbox user; never hangs longer than timeout + grace."""
    return run_attached(backend, box, command, timeout_s, output_bytes, extra_env)[0]


def run_attached(
    backend: ContainerBackend,
    box: Box,
    command: str,
    timeout_s: int,
    output_bytes: int,
    extra_env: dict[str, str] | None = None,
    attach: str = "",
) -> tuple[ExecResult, bytes]:
    """`run_command`, also returning the file `attach` the command wrote (then removed)."""
    argv = [command, str(timeout_s), str(output_bytes), uuid.uuid4().hex, attach]
    raw = backend.exec(
        box,
        ["python3", "-I", "-S", "-c", _SUPERVISOR, *argv],
        user=USER,
        env={**ENV, **(extra_env or {})},
        deadline_s=timeout_s + 30,
    )
    lines = raw.stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1])
    except (IndexError, ValueError):
        # The supervisor itself was killed (e.g. `kill -9 -1` or the OOM killer):
        # clean up every process of the sandbox user and report what is known.
        backend.exec(box, ["sh", "-c", "kill -9 -1; true"], user=USER, env={}, deadline_s=30)
        return ExecResult(
            exit_code=raw.exit_code,
            stdout="",
            stderr=raw.stderr.decode("utf-8", "replace")[-output_bytes:],
            timed_out=False,
            killed=True,
            reason="supervisor_killed",
            truncated=False,
            duration_s=0.0,
        ), b""
    attached = base64.b64decode(data.pop("attachment", None) or "")
    data["stdout"] = base64.b64decode(data["stdout"]).decode("utf-8", "replace")
    data["stderr"] = base64.b64decode(data["stderr"]).decode("utf-8", "replace")
    return ExecResult.model_validate(data), attached


def run_helper(
    backend: ContainerBackend,
    box: Box,
    argv: list[str],
    *,
    root: bool = False,
    deadline_s: float = 120,
) -> tuple[int, str, str]:
    """Run a trusted helper (git, fileops) directly, as the sandbox user or as root (no caps)."""
    raw = backend.exec(
        box,
        argv,
        user="0:0" if root else USER,
        env=ROOT_ENV if root else ENV,
        deadline_s=deadline_s,
    )
    return (
        raw.exit_code,
        raw.stdout.decode("utf-8", "replace"),
        raw.stderr.decode("utf-8", "replace"),
    )
