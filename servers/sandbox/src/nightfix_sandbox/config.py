"""Server configuration: isolation limits that flags may only make stricter."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nightfix_sandbox.errors import ConfigError

DEFAULT_IMAGE = "nightfix-sandbox:base"
WORKSPACE = "/sandbox/workspace"
SANDBOX_ROOT = "/sandbox"
STAGE = "/sandbox/.stage"
TOOL_CACHE = "/sandbox/.cache"
"""Per-sandbox, sandbox-user-owned, exec-allowed state of a toolchain, outside the workspace."""
BASE_GIT = "/sandbox/.base.git"
SANDBOX_UID = 1000
LABEL = "nightfix.sandbox"
# Never part of a diff or digest: caches a test run leaves behind, half-written files.
# `*.egg-info/`: what installing the project itself (editable) writes into the workspace.
NOISE = ["__pycache__/", "*.pyc", ".pytest_cache/", ".nightfix-write-*", "*.egg-info/"]


def default_image() -> str:
    """The image `image build` makes and sandboxes start from (env `NIGHTFIX_SANDBOX_IMAGE`)."""
    return os.environ.get("NIGHTFIX_SANDBOX_IMAGE", DEFAULT_IMAGE)


def cache_dir() -> Path:
    """Host cache for the rootfs tarball, wheels and cloned sources."""
    env = os.environ.get("NIGHTFIX_SANDBOX_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "nightfix-sandbox"


Runtime = Literal["runc", "runsc"]
# Bounds no flag can pass, whatever the host has (the host's own cores and memory are
# checked when the backend starts: `security.check_limits_fit_host`).
MAX_PIDS = 32768
MAX_TIMEOUT_S = 86400
# What the model reads back (output, /tmp) can only be made smaller than the defaults.
ONLY_STRICTER = {"tmp_mb": 256, "output_bytes": 65536}


class Limits(BaseModel):
    """Per-container isolation limits, set by the operator only (server flags).

    Memory, CPUs, pids, the timeout ceiling and the workspace disk may be raised up to
    what the host has; output and /tmp only lowered. No tool call can change any of them:
    a tool may only ask for less (a shorter timeout).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pids: int = Field(
        default=256, ge=16, le=MAX_PIDS, description="Maximum number of processes in a sandbox."
    )
    memory_mb: int = Field(
        default=1024, ge=64, description="Memory limit in MiB; swap is disabled."
    )
    cpus: float = Field(default=1.0, gt=0, description="CPU quota, in cores.")
    tmp_mb: int = Field(default=256, ge=16, description="Size of the /tmp tmpfs in MiB.")
    max_timeout_s: int = Field(
        default=600, ge=1, le=MAX_TIMEOUT_S, description="Upper bound for any command's timeout."
    )
    output_bytes: int = Field(
        default=65536, ge=1024, description="Cap on stdout and on stderr of one command, in bytes."
    )
    disk_mb: int = Field(
        default=2048, ge=16, description="Size of a sandbox's workspace filesystem, in MiB."
    )
    disk_files: int = Field(
        default=200_000, ge=1000, description="Files (inodes) a sandbox's workspace can hold."
    )

    @model_validator(mode="after")
    def _only_stricter(self) -> Limits:
        for name, bound in ONLY_STRICTER.items():
            if getattr(self, name) > bound:
                raise ValueError(
                    f"{name}={getattr(self, name)} is looser than the default {bound}; "
                    "this limit can only be made stricter"
                )
        return self


class SandboxConfig(BaseModel):
    """Everything the server needs; built by the CLI from flags."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    sources: dict[str, str] = Field(
        default_factory=dict, description="Source name -> local git repo path or git URL."
    )
    image: str = Field(default_factory=default_image, description="Base sandbox image.")
    limits: Limits = Field(default_factory=lambda: Limits(), description="Isolation limits.")
    pool_size: int = Field(
        default=2, ge=0, le=16, description="Warm containers per image; 0 disables."
    )
    idle_ttl_s: int = Field(default=1800, ge=5, description="Destroy a sandbox idle this long.")
    max_sandboxes: int = Field(default=16, ge=1, le=64, description="Live sandboxes at most.")
    test_command: str | None = Field(
        None, description="Default test command; None means pytest with JUnit XML."
    )
    install_deps: bool = Field(
        True, description="Build a dependency image for repos with requirements/pyproject."
    )
    runtime: Runtime = Field(
        "runc", description="OCI runtime of every sandbox: runc, or gVisor's runsc."
    )
    requirements: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Source name -> extra requirement files (paths in its repository).",
    )
    setup_commands: dict[str, str] = Field(
        default_factory=dict,
        description="Source name -> command run as the sandbox user after creation.",
    )
    install_scripts: list[str] = Field(
        default_factory=list,
        description="Sources whose package installs may run lifecycle scripts (npm "
        "postinstall...) on the host; off for every other source.",
    )

    @model_validator(mode="after")
    def _names(self) -> SandboxConfig:
        for name in self.sources:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"source name {name!r} must be letters, digits, '-' or '_'")
        for flag, given in (
            ("--requirements", self.requirements),
            ("--setup-command", self.setup_commands),
            ("--install-scripts", dict.fromkeys(self.install_scripts, "")),
        ):
            for name in given:
                if name not in self.sources:
                    raise ValueError(f"{flag} names source {name!r}, which no --source defines")
        return self


def parse_per_source(flag: str, spec: str) -> tuple[str, str]:
    """Parse a `NAME=VALUE` flag value of one source (`--requirements`, `--setup-command`)."""
    name, sep, value = spec.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ConfigError(f"{flag} {spec!r}: expected SOURCE_NAME=VALUE")
    return name.strip(), value.strip()


def parse_source(spec: str) -> tuple[str, str]:
    """Parse a `NAME=PATH_OR_URL` flag value."""
    name, sep, where = spec.partition("=")
    if not sep or not name or not where:
        raise ConfigError(f"--source {spec!r}: expected NAME=PATH or NAME=GIT_URL")
    return name.strip(), where.strip()
