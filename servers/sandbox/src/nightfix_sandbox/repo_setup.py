"""How a sandbox of one source is set up: the repository's `.nightfix/sandbox.yaml` on the
commit, overridden by the operator's flags (`--requirements`, `--setup-command`,
`--test-command`), which always win.
"""

from __future__ import annotations

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightfix_sandbox.errors import SandboxError
from nightfix_sandbox.security import check_repo_env

SANDBOX_FILE = ".nightfix/sandbox.yaml"


class SandboxSetup(BaseModel):
    """The keys of `.nightfix/sandbox.yaml` (every one optional; no other key is allowed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    toolchain: str | None = Field(default=None, description="Toolchain name, e.g. python.")
    requirements: list[str] = Field(
        default_factory=list, description="Extra requirement files (paths in the repository)."
    )
    setup_command: str | None = Field(
        default=None, description="Run as the sandbox user after creation, before anything else."
    )
    test_command: str | None = Field(default=None, description="Default command of run_tests.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment of every command in the sandbox."
    )


def load(data: bytes | None) -> SandboxSetup:
    """The repository's sandbox file, validated strictly; a bad one is a clear error."""
    if data is None:
        return SandboxSetup()
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SandboxError(f"{SANDBOX_FILE} is not valid YAML: {exc}") from None
    if raw is None:
        return SandboxSetup()
    if not isinstance(raw, dict):
        raise SandboxError(f"{SANDBOX_FILE} must be a mapping of keys, not {type(raw).__name__}")
    try:
        setup = SandboxSetup.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        allowed = ", ".join(SandboxSetup.model_fields)
        raise SandboxError(
            f"{SANDBOX_FILE}: key {key!r}: {err['msg']} (allowed keys: {allowed}); "
            "fix the file in the repository"
        ) from None
    check_repo_env(setup.env)
    return setup


def merge(
    file: SandboxSetup,
    requirements: list[str] | None,
    setup_command: str | None,
    test_command: str | None,
) -> SandboxSetup:
    """The file's settings with the operator's flags on top (a flag given wins)."""
    return file.model_copy(
        update={
            "requirements": requirements if requirements else file.requirements,
            "setup_command": setup_command or file.setup_command,
            "test_command": test_command or file.test_command,
        }
    )
