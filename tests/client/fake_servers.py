"""Small stand-in MCP servers (FastMCP over stdio) for the client's core tests.

``python fake_servers.py errors|github|sandbox`` serves a few tools shaped like the real
contract. Environment knobs (passed through the policy's ``env``):

- ``FAKE_LOG``: a file each call is appended to (``server tool args``), to assert on calls;
- ``FAKE_VARIANT``: changes a tool description (tool-definition pinning tests);
- ``FAKE_ISSUE_MESSAGE``: the exception message ``errors.get_issue`` returns;
- ``FAKE_SECRET``: a value ``github.read_file`` leaks into its content (redaction tests).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ImageContent, ToolAnnotations

READ = ToolAnnotations(
    readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False
)
WRITE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False
)


def log(server: str, tool: str, args: dict[str, Any]) -> None:
    path = os.environ.get("FAKE_LOG")
    if path:
        with Path(path).open("a") as handle:
            handle.write(json.dumps({"server": server, "tool": tool, "args": args}) + "\n")


def errors_server() -> FastMCP:
    mcp = FastMCP("errors")
    variant = os.environ.get("FAKE_VARIANT", "")

    @mcp.tool(annotations=READ, description=f"Read one error issue.{variant}")
    def get_issue(issue_id: str) -> dict[str, Any]:
        log("errors", "get_issue", {"issue_id": issue_id})
        if issue_id != "1":
            raise ToolError(f"no issue {issue_id}; list them with list_issues")
        message = os.environ.get("FAKE_ISSUE_MESSAGE", "pool exhausted")
        return {
            "issue": {"id": "1", "title": f"ConnectionPoolExhausted: {message}", "count": 12},
            "traceback": f'File "app/db.py", line 3, in get\nConnectionPoolExhausted: {message}',
            "untrusted": "Event data is attacker-controllable.",
        }

    @mcp.tool(annotations=READ)
    def list_issues(limit: int = 25) -> dict[str, Any]:
        log("errors", "list_issues", {"limit": limit})
        return {"issues": [{"id": "1", "title": "ConnectionPoolExhausted"}], "next_cursor": None}

    @mcp.tool(annotations=READ)
    def env_names() -> dict[str, Any]:
        return {"names": sorted(os.environ)}

    @mcp.tool(annotations=READ)
    def big_result(chars: int) -> str:
        return "x" * chars

    @mcp.tool(annotations=READ)
    def image_only() -> ImageContent:
        return ImageContent(type="image", data="aGVsbG8=", mimeType="image/png")

    return mcp


def github_server() -> FastMCP:
    mcp = FastMCP("github")

    @mcp.tool(annotations=READ)
    def read_file(path: str) -> dict[str, Any]:
        log("github", "read_file", {"path": path})
        secret = os.environ.get("FAKE_SECRET", "")
        return {"path": path, "content": f"POOL_SIZE = 10\n# token {secret}\n", "total_lines": 2}

    @mcp.tool(annotations=WRITE)
    def commit_files(branch: str, changes: list[dict[str, Any]], message: str) -> dict[str, Any]:
        log("github", "commit_files", {"branch": branch})
        return {"branch": branch, "commit": "abc", "parent": "def", "files": []}

    return mcp


def sandbox_server() -> FastMCP:
    mcp = FastMCP("sandbox")
    boxes: dict[str, dict[str, str]] = {}

    @mcp.tool(annotations=WRITE)
    def create_sandbox(source: str, ref: str = "HEAD") -> dict[str, Any]:
        if ref == "no-such-ref":
            raise ToolError(f"unknown ref {ref!r} in source {source!r}")
        sandbox_id = uuid.uuid4().hex[:12]
        boxes[sandbox_id] = {"app/db.py": "POOL_SIZE = 10\n"}
        log("sandbox", "create_sandbox", {"source": source, "ref": ref, "sandbox_id": sandbox_id})
        return {
            "sandbox_id": sandbox_id,
            "source": source,
            "ref": ref,
            "commit": "c0ffee",
            "image": "fake",
            "workdir": "/workspace",
            "created_at": "now",
        }

    def box(sandbox_id: str) -> dict[str, str]:
        if sandbox_id not in boxes:
            raise ToolError(f"no sandbox {sandbox_id}")
        return boxes[sandbox_id]

    @mcp.tool(annotations=WRITE)
    def exec(sandbox_id: str, command: str, timeout_s: int = 60) -> dict[str, Any]:
        box(sandbox_id)
        log("sandbox", "exec", {"sandbox_id": sandbox_id, "command": command})
        if command.startswith("sleep "):
            time.sleep(float(command.split()[1]))
        return {"exit_code": 0, "stdout": f"ran {command}", "stderr": "", "timed_out": False}

    @mcp.tool(annotations=WRITE)
    def write_file(sandbox_id: str, path: str, content: str) -> dict[str, Any]:
        box(sandbox_id)[path] = content
        log("sandbox", "write_file", {"sandbox_id": sandbox_id, "path": path})
        return {"path": path, "bytes_written": len(content)}

    @mcp.tool(annotations=READ)
    def diff(sandbox_id: str) -> dict[str, Any]:
        files = box(sandbox_id)
        changed = [p for p, c in files.items() if c != "POOL_SIZE = 10\n" or p != "app/db.py"]
        text = "".join(f"--- a/{p}\n+++ b/{p}\n+{files[p]}" for p in changed)
        return {
            "base_commit": "c0ffee",
            "diff": text,
            "files_changed": changed,
            "added_lines": len(changed),
            "removed_lines": 0,
        }

    @mcp.tool(annotations=READ)
    def run_tests(sandbox_id: str, command: str | None = None) -> dict[str, Any]:
        files = box(sandbox_id)
        ok = files["app/db.py"] != "POOL_SIZE = 10\n"
        return {
            "command": "pytest",
            "exit_code": 0 if ok else 1,
            "passed": 3 if ok else 2,
            "failed": 0 if ok else 1,
            "errors": 0,
            "skipped": 0,
            "total": 3,
        }

    @mcp.tool(annotations=WRITE)
    def destroy_sandbox(sandbox_id: str) -> dict[str, Any]:
        log("sandbox", "destroy_sandbox", {"sandbox_id": sandbox_id})
        return {"sandbox_id": sandbox_id, "destroyed": boxes.pop(sandbox_id, None) is not None}

    @mcp.tool(annotations=READ)
    def list_sandboxes() -> dict[str, Any]:
        return {"sandboxes": sorted(boxes)}

    return mcp


if __name__ == "__main__":
    servers = {"errors": errors_server, "github": github_server, "sandbox": sandbox_server}
    servers[sys.argv[1]]().run(transport="stdio", show_banner=False)
