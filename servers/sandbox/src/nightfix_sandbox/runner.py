"""Run a command in a sandbox: as the sandbox user through PID 1 (a forked supervisor each)."""

from __future__ import annotations

import base64

from nightfix_sandbox.backends import Box, ContainerBackend
from nightfix_sandbox.config import SANDBOX_ROOT
from nightfix_sandbox.models import ExecResult

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
HELPER_CAP = 16_000_000  # a helper's JSON reply (read_file: up to 1 MB of text, escaped)


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
    return _supervised(
        backend, box, ["/bin/sh", "-c", command], timeout_s, output_bytes, extra_env, attach
    )


def _supervised(
    backend: ContainerBackend,
    box: Box,
    argv: list[str],
    timeout_s: float,
    cap: int,
    extra_env: dict[str, str] | None = None,
    attach: str = "",
) -> tuple[ExecResult, bytes]:
    """argv run by the sandbox's PID 1 under a supervisor (see incontainer/init.py)."""
    request = {
        "argv": argv,
        "env": {**ENV, **(extra_env or {})},
        "cwd": WS,
        "timeout_s": timeout_s,
        "cap": cap,
        "attach": attach,
    }
    data = backend.run(box, request, deadline_s=timeout_s + 30)
    attached = base64.b64decode(data.pop("attachment", None) or "")
    data["stdout"] = base64.b64decode(data["stdout"]).decode("utf-8", "replace")
    data["stderr"] = base64.b64decode(data["stderr"]).decode("utf-8", "replace")
    refused = data.pop("attachment_error", None)
    if refused:  # e.g. a FIFO planted where the report goes: said, not waited for
        data["stderr"] += f"\nnightfix: the report {refused}\n"
    return ExecResult.model_validate(data), attached


def run_helper(
    backend: ContainerBackend,
    box: Box,
    argv: list[str],
    *,
    root: bool = False,
    deadline_s: float = 120,
) -> tuple[int, str, str]:
    """Run a trusted helper (git, fileops) as the sandbox user, or as root (no caps).

    As the sandbox user it goes through PID 1 like any command; as root it needs
    `docker exec`, since nothing inside the sandbox may hand out root.
    """
    if not root:
        res, _ = _supervised(backend, box, argv, deadline_s, HELPER_CAP)
        return res.exit_code, res.stdout, res.stderr
    raw = backend.exec(
        box,
        argv,
        user="0:0",
        env=ROOT_ENV,
        deadline_s=deadline_s,
    )
    return (
        raw.exit_code,
        raw.stdout.decode("utf-8", "replace"),
        raw.stderr.decode("utf-8", "replace"),
    )
