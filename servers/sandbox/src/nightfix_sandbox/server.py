"""The MCP server: thin tools over SandboxService, resources in a lifespan.

Text a model reads (file content, command and test output, paths) leaves through
`untrusted.clean_model`; what is applied or shipped (`diff`, written bytes) stays exact.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, TypeVar

import docker
from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from nightfix_sandbox.backends.docker_backend import DockerBackend
from nightfix_sandbox.config import SandboxConfig
from nightfix_sandbox.deps import DependencyImages
from nightfix_sandbox.errors import SandboxError
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
from nightfix_sandbox.service import SandboxService
from nightfix_sandbox.untrusted import clean_model

T = TypeVar("T")
Id = Annotated[str, Field(description="Id returned by create_sandbox.")]


def _hints(read_only: bool, destructive: bool, idempotent: bool) -> ToolAnnotations:
    # open_world_hint=False: sandboxes have no network; only the named sources are reachable.
    return ToolAnnotations(
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=False,
    )


READ = _hints(True, False, True)
WRITE = _hints(False, False, False)
WRITE_IDEMPOTENT = _hints(False, False, True)
DESTROY = _hints(False, True, True)


def _domain(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn domain errors into ToolError with their one-line message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except SandboxError as exc:
            raise ToolError(str(exc)) from None

    return wrapper


def build_server(config: SandboxConfig, client: docker.DockerClient | None = None) -> FastMCP:
    """A FastMCP server whose lifespan owns the Docker client, pool and sandboxes."""
    holder: dict[str, SandboxService] = {}

    @asynccontextmanager
    async def lifespan(_server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        docker_client = client or docker.from_env(timeout=120)
        backend = DockerBackend(docker_client, config.limits, config.runtime)
        service = SandboxService(config, backend, DependencyImages(docker_client, config.image))
        try:
            service.start()
            holder["svc"] = service
            yield {}
        finally:
            holder.clear()
            service.close()
            backend.close()

    mcp = FastMCP(
        "nightfix-sandbox",
        lifespan=lifespan,
        mask_error_details=True,
        instructions="Hardened, network-less sandboxes of named source repositories. "
        "create_sandbox, then read/edit files, exec, run_tests, diff, destroy_sandbox.",
    )

    def svc() -> SandboxService:
        if "svc" not in holder:
            raise ToolError("the sandbox service is not running")
        return holder["svc"]

    @mcp.tool(annotations=WRITE)
    @_domain
    def create_sandbox(
        source: Annotated[str, Field(description="Name of a configured source.")],
        ref: Annotated[str, Field(description="Branch, tag or commit.")] = "HEAD",
    ) -> SandboxInfo:
        """Create a sandbox holding `source` at `ref` (git archive, copied in once)."""
        return svc().create(source, ref)

    @mcp.tool(annotations=WRITE)
    @_domain
    def exec(
        sandbox_id: Id,
        command: Annotated[str, Field(description="Shell command, run with sh -c.")],
        timeout_s: Annotated[
            int, Field(ge=1, description="Seconds, up to the operator's --max-timeout.")
        ] = 60,
    ) -> ExecResult:
        """Run a shell command in the workspace as the non-root user, without network."""
        return clean_model(svc().exec(sandbox_id, command, timeout_s))

    @mcp.tool(annotations=READ)
    @_domain
    def read_file(
        sandbox_id: Id,
        path: Annotated[str, Field(description="Path relative to the workspace.")],
        start_line: Annotated[int | None, Field(ge=1)] = None,
        end_line: Annotated[int | None, Field(ge=1)] = None,
    ) -> FileContent:
        """Read a workspace file, optionally a line range (1-based, inclusive)."""
        return clean_model(svc().read_file(sandbox_id, path, start_line, end_line))

    @mcp.tool(annotations=READ)
    @_domain
    def export_file(
        sandbox_id: Id,
        path: Annotated[str, Field(description="Path relative to the workspace.")],
        offset: Annotated[int, Field(ge=0, description="Byte offset to start from.")] = 0,
    ) -> FileBytes:
        """A file's exact bytes, base64, for delivery (not cleaned: use read_file to read)."""
        return svc().export_file(sandbox_id, path, offset)

    @mcp.tool(annotations=WRITE_IDEMPOTENT)
    @_domain
    def write_file(
        sandbox_id: Id,
        path: Annotated[str, Field(description="Path relative to the workspace.")],
        content: Annotated[str, Field(description="Full new content (UTF-8).")],
    ) -> WriteResult:
        """Create or overwrite a workspace file (parents are created)."""
        return svc().write_file(sandbox_id, path, content)

    @mcp.tool(annotations=WRITE)
    @_domain
    def apply_patch(
        sandbox_id: Id,
        patch: Annotated[str, Field(description="Unified diff (git-style a/ b/ or plain).")],
    ) -> PatchResult:
        """Apply a unified diff; a patch that does not apply names the failing hunk."""
        return svc().apply_patch(sandbox_id, patch)

    @mcp.tool(annotations=READ)
    @_domain
    def list_files(
        sandbox_id: Id,
        path: str = ".",
        glob: Annotated[str | None, Field(description="fnmatch pattern, e.g. *.py")] = None,
    ) -> FileList:
        """List files under a workspace directory (recursive)."""
        return clean_model(svc().list_files(sandbox_id, path, glob))

    @mcp.tool(annotations=READ)
    @_domain
    def search(
        sandbox_id: Id,
        pattern: Annotated[str, Field(description="Regular expression (or literal).")],
        glob: Annotated[str | None, Field(description="Only files matching.")] = None,
        regex: Annotated[bool, Field(description="False: literal string.")] = True,
    ) -> SearchResult:
        """Grep the workspace: matching lines with path and line number."""
        return clean_model(svc().search(sandbox_id, pattern, glob, regex))

    @mcp.tool(annotations=READ)
    @_domain
    def diff(
        sandbox_id: Id,
        path: Annotated[
            str | None, Field(description="Only this workspace file or directory.")
        ] = None,
    ) -> DiffResult:
        """Unified diff of the workspace against the commit the sandbox started from.

        Capped (bytes and files); `note` says what was cut and how to narrow it.
        """
        return svc().diff(sandbox_id, path)

    @mcp.tool(annotations=WRITE)
    @_domain
    def run_tests(
        sandbox_id: Id,
        tests: Annotated[
            list[str] | None,
            Field(description="Test files or ids to run (default: the whole suite)."),
        ] = None,
        command: Annotated[
            str | None, Field(description="Test command (default: the repository's runner).")
        ] = None,
        timeout_s: Annotated[
            int, Field(ge=1, description="Seconds; at most the operator's limit.")
        ] = 600,
        report: Annotated[
            Literal["summary", "all"],
            Field(description="all: also every test id with its outcome."),
        ] = "summary",
    ) -> TestReport:
        """Run the test suite or given tests; counts, failures by test id, workspace digest."""
        return clean_model(svc().run_tests(sandbox_id, command, timeout_s, tests, report))

    @mcp.tool(annotations=DESTROY)
    @_domain
    def destroy_sandbox(sandbox_id: Id) -> DestroyResult:
        """Destroy a sandbox: its container and its volume. Nothing is kept."""
        return svc().destroy(sandbox_id)

    @mcp.tool(annotations=READ)
    def list_sandboxes() -> SandboxList:
        """The live sandboxes of this server."""
        return svc().list()

    return mcp
