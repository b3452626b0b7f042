"""A flaky stand-in for the error server (FastMCP over stdio): its first FLAKY_FAILURES calls
fail with a tool error, later ones answer (no issues). Every call is counted in FLAKY_STATE."""

import os
from pathlib import Path
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError

mcp = FastMCP("errors")


def count_call() -> int:
    state = Path(os.environ["FLAKY_STATE"])
    calls = int(state.read_text() or 0) + 1 if state.exists() else 1
    state.write_text(str(calls))
    return calls


@mcp.tool()
def list_issues(
    status: str | None = None,
    since: str | None = None,
    sort: str = "recent",
    limit: int = 25,
    environment: str | None = None,
) -> dict[str, Any]:
    """List issues (flaky)."""
    if count_call() <= int(os.environ.get("FLAKY_FAILURES", "0")):
        raise ToolError("database is locked (flaky stand-in)")
    return {"issues": [], "next_cursor": None}


if __name__ == "__main__":
    mcp.run(transport="stdio", show_banner=False)
