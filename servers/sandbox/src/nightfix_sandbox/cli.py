"""`nightfix-sandbox`: serve the MCP server, build the base image.

Exit codes: 0 success; 1 a domain error (one line on stderr, no traceback);
2 bad usage (click).
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

import click

from nightfix_sandbox.config import (
    Limits,
    Runtime,
    SandboxConfig,
    cache_dir,
    default_image,
    parse_per_source,
    parse_source,
)
from nightfix_sandbox.errors import ConfigError, SandboxError
from nightfix_sandbox.http_auth import DOOR_OPTION_HELP, HttpAuthError, http_middleware, http_token
from nightfix_sandbox.logs import formatter_for

log = logging.getLogger("nightfix_sandbox")


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("urllib3", "docker", "mcp", "fastmcp", "httpx", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _docker() -> Any:
    import docker

    from nightfix_sandbox.errors import DockerUnavailableError

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        raise DockerUnavailableError(
            f"cannot reach the Docker daemon ({type(exc).__name__}); start it, then retry"
        ) from exc
    return client


def _per_source(flag: str, specs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs:
        name, value = parse_per_source(flag, spec)
        if name in out:
            raise ConfigError(f"{flag}: source {name!r} is given twice; give one")
        out[name] = value
    return out


def _per_source_lists(flag: str, specs: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for spec in specs:
        name, value = parse_per_source(flag, spec)
        out.setdefault(name, []).append(value)
    return out


def pick_runtime(choice: str, registered: list[str]) -> Runtime:
    """The runtime sandboxes run under; `auto` takes gVisor when Docker has it."""
    if choice == "auto":
        choice = "runsc" if "runsc" in registered else "runc"
        log.info("runtime auto: using %s (docker runtimes: %s)", choice, ", ".join(registered))
    elif choice not in registered:
        raise ConfigError(
            f"--runtime {choice}: Docker has no such runtime (it has {', '.join(registered)}); "
            "run scripts/ensure-docker.sh as root to register gVisor"
        )
    return "runsc" if choice == "runsc" else "runc"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logs (stderr).")
def main(verbose: bool) -> None:
    """Hardened, network-less Docker sandboxes for AI agents, as an MCP server.

    Logs go to stderr as JSON lines; stdout belongs to the MCP protocol.

    \b
    Exit codes:
      0  success
      1  a domain error (one clear line on stderr)
      2  bad usage

    \b
    Examples:
      nightfix-sandbox image build --offline --if-missing
      nightfix-sandbox serve --source app=/srv/repos/app --pool-size 2
    """
    _setup_logging(verbose)


@main.group()
def image() -> None:
    """Build the base sandbox image."""


@image.command("build")
@click.option(
    "--offline",
    is_flag=True,
    help="Build from Debian packages (debootstrap + docker import); no registry needed.",
)
@click.option("--if-missing", is_flag=True, help="Do nothing (exit 0) when the image exists.")
@click.option(
    "--name",
    default=None,
    help="Image name [default: $NIGHTFIX_SANDBOX_IMAGE or nightfix-sandbox:base].",
)
@click.option(
    "--base",
    default=None,
    help="Python image to build FROM (not with --offline) [default: python:3.11-slim].",
)
def image_build(offline: bool, if_missing: bool, name: str | None, base: str | None) -> None:
    """Build the base image: Python 3, git, a venv with pytest, a non-root user.

    With --offline the rootfs is debootstrapped from Debian bookworm (cached under
    $NIGHTFIX_SANDBOX_CACHE or ~/.cache/nightfix-sandbox, so rebuilds are fast); the
    build itself uses no network. Without it the image is built FROM --base (default
    python:3.11-slim, pulled if not local; a registry mirror's copy works too). Either way
    pytest's wheels are downloaded on the host. Progress goes to stderr.
    """
    from nightfix_sandbox.image import build_image

    try:
        build_image(
            _docker(), name or default_image(), offline=offline, if_missing=if_missing, base=base
        )
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="NAME=PATH|URL",
    required=True,
    help="A repository sandboxes may be made from (repeatable). PATH is a local git "
    "repository; a git URL is cloned by the host into the cache.",
)
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="MCP transport.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP bind address.")
@click.option("--port", default=8765, show_default=True, help="HTTP port.")
@click.option("--token-env", metavar="NAME", default=None, help=DOOR_OPTION_HELP)
@click.option(
    "--image",
    "image_name",
    default=None,
    help="Base image [default: $NIGHTFIX_SANDBOX_IMAGE or nightfix-sandbox:base].",
)
@click.option(
    "--pool-size",
    default=2,
    show_default=True,
    help="Warm containers per image (0 disables the pool).",
)
@click.option(
    "--idle-ttl",
    default=1800,
    show_default=True,
    help="Seconds after which an idle sandbox is destroyed.",
)
@click.option("--max-sandboxes", default=16, show_default=True, help="Live sandboxes at most.")
@click.option(
    "--test-command",
    default=None,
    help="Default test command for run_tests [default: pytest with JUnit XML].",
)
@click.option("--no-deps", is_flag=True, help="Never build dependency images.")
@click.option(
    "--requirements",
    "requirement_files",
    multiple=True,
    metavar="NAME=FILE",
    help="An extra requirement file for source NAME (repeatable): a path in its repository; "
    "its -r includes may not leave the repository.",
)
@click.option(
    "--setup-command",
    "setup_commands",
    multiple=True,
    metavar="NAME=CMD",
    help="A shell command run in each new sandbox of source NAME as the sandbox user, "
    "before anything else (no network); its failure fails create_sandbox.",
)
@click.option(
    "--install-scripts",
    "install_scripts",
    multiple=True,
    metavar="NAME",
    help="Let the package install of source NAME run its lifecycle scripts (npm postinstall "
    "and the like) ON THE HOST (repeatable); off by default, as they are code from the internet.",
)
@click.option(
    "--runtime",
    type=click.Choice(["runc", "runsc", "auto"]),
    default="runc",
    show_default=True,
    help="OCI runtime: runc, or gVisor's runsc as a second wall; auto = runsc when Docker "
    "has it registered.",
)
@click.option("--pids-limit", default=256, show_default=True, help="Max processes per sandbox.")
@click.option(
    "--memory-mb", default=1024, show_default=True, help="Memory MiB per sandbox, no swap."
)
@click.option("--cpus", default=1.0, show_default=True, help="CPU cores per sandbox.")
@click.option(
    "--max-timeout", default=600, show_default=True, help="Max seconds per command (<= 86400)."
)
@click.option(
    "--disk-mb",
    default=2048,
    show_default=True,
    help="Workspace filesystem size per sandbox, MiB (enforced by the filesystem).",
)
@click.option(
    "--disk-files",
    default=200_000,
    show_default=True,
    help="Files (inodes) a workspace can hold (enforced by the filesystem).",
)
@click.option(
    "--output-bytes",
    default=65536,
    show_default=True,
    help="Cap on stdout and on stderr per command (<= 65536).",
)
def serve(
    sources: tuple[str, ...],
    transport: str,
    host: str,
    port: int,
    token_env: str | None,
    image_name: str | None,
    pool_size: int,
    idle_ttl: int,
    max_sandboxes: int,
    test_command: str | None,
    no_deps: bool,
    requirement_files: tuple[str, ...],
    setup_commands: tuple[str, ...],
    install_scripts: tuple[str, ...],
    runtime: str,
    pids_limit: int,
    memory_mb: int,
    cpus: float,
    max_timeout: int,
    output_bytes: int,
    disk_mb: int,
    disk_files: int,
) -> None:
    """Serve the sandbox MCP tools for the named sources only.

    The operator may raise --memory-mb, --cpus, --pids-limit, --max-timeout, --disk-mb
    and --disk-files up to what the Docker host has (more is refused at start-up);
    --output-bytes only lowered. No tool call can loosen any limit.
    """
    from pydantic import ValidationError

    from nightfix_sandbox.backends.docker_backend import available_runtimes, host_resources
    from nightfix_sandbox.errors import ImageError
    from nightfix_sandbox.image import image_exists
    from nightfix_sandbox.security import check_limits_fit_host
    from nightfix_sandbox.server import build_server
    from nightfix_sandbox.sources import SourceRegistry

    try:
        token = http_token(transport, host, token_env)
        limits = Limits(
            pids=pids_limit,
            memory_mb=memory_mb,
            cpus=cpus,
            max_timeout_s=max_timeout,
            output_bytes=output_bytes,
            disk_mb=disk_mb,
            disk_files=disk_files,
        )
        client = _docker()
        check_limits_fit_host(limits, host_resources(client, cache_dir() / "disks"))
        config = SandboxConfig(
            sources=dict(parse_source(s) for s in sources),
            image=image_name or default_image(),
            limits=limits,
            pool_size=pool_size,
            idle_ttl_s=idle_ttl,
            max_sandboxes=max_sandboxes,
            test_command=test_command,
            install_deps=not no_deps,
            runtime=pick_runtime(runtime, available_runtimes(client)),
            requirements=_per_source_lists("--requirements", requirement_files),
            setup_commands=_per_source("--setup-command", setup_commands),
            install_scripts=list(install_scripts),
        )
        SourceRegistry(config.sources)  # refuses paths that are not git repositories
        if not image_exists(client, config.image):
            raise ImageError(
                f"image {config.image} not found: run `nightfix-sandbox image build --offline`"
            )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise click.ClickException(f"bad configuration: {first['msg']}") from None
    except (SandboxError, HttpAuthError) as exc:
        raise click.ClickException(str(exc)) from None
    server = build_server(config)

    def _graceful(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # unwinds the lifespan, which removes every container

    signal.signal(signal.SIGTERM, _graceful)
    if transport == "stdio":
        server.run(transport="stdio", show_banner=False)
    else:
        gate = http_middleware(token)
        server.run(transport="http", host=host, port=port, show_banner=False, middleware=gate)
