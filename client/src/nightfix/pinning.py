"""Pinned tool definitions: a server that changes its tools stops runs until a person agrees.

The first run records, per server, a SHA-256 over its sorted tool definitions (name,
description, input and output schema, annotations). Later runs compare; any difference stops
the run with ``tool_definitions_changed`` before the model sees a single tool, until
``nightfix tools trust`` records the new definitions. A changed description is a change: it
is text the model reads.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from mcp.types import Tool

from nightfix.state import now_iso


def tool_fingerprint(tool: Tool) -> dict[str, Any]:
    annotations = (
        tool.annotations.model_dump(mode="json", exclude_none=True) if tool.annotations else None
    )
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.input_schema,
        "output_schema": tool.output_schema,
        "annotations": annotations,
    }


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def server_digest(tools: list[Tool]) -> tuple[str, dict[str, str]]:
    """The server's digest and a per-tool digest map (to name what changed)."""
    per_tool = {t.name: _digest(tool_fingerprint(t)) for t in tools}
    return _digest(sorted(per_tool.items())), per_tool


@dataclass(frozen=True)
class PinChange:
    server: str
    added: list[str]
    removed: list[str]
    changed: list[str]

    def describe(self) -> str:
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (
                ("added", self.added),
                ("removed", self.removed),
                ("changed", self.changed),
            )
            if names
        ]
        return f"{self.server} ({'; '.join(parts) or 'definitions differ'})"


def check(conn: sqlite3.Connection, tools: dict[str, list[Tool]]) -> list[PinChange]:
    """Compare with the pins (pinning servers seen for the first time); the changes found."""
    changes = []
    for server, server_tools in sorted(tools.items()):
        digest, per_tool = server_digest(server_tools)
        row = conn.execute(
            "SELECT digest, tools_json FROM tool_pins WHERE server=?", (server,)
        ).fetchone()
        if row is None:
            _pin(conn, server, digest, per_tool, "first-run")
            continue
        if row["digest"] == digest:
            continue
        old: dict[str, str] = json.loads(row["tools_json"])
        changes.append(
            PinChange(
                server,
                added=sorted(set(per_tool) - set(old)),
                removed=sorted(set(old) - set(per_tool)),
                changed=sorted(n for n in set(old) & set(per_tool) if old[n] != per_tool[n]),
            )
        )
    return changes


def trust(conn: sqlite3.Connection, tools: dict[str, list[Tool]], who: str | None = None) -> None:
    """Record the current definitions of ``tools`` as trusted."""
    for server, server_tools in tools.items():
        digest, per_tool = server_digest(server_tools)
        _pin(conn, server, digest, per_tool, who or getpass.getuser())


def _pin(
    conn: sqlite3.Connection, server: str, digest: str, per_tool: dict[str, str], who: str
) -> None:
    conn.execute(
        "INSERT INTO tool_pins VALUES (?, ?, ?, ?, ?) ON CONFLICT(server) DO UPDATE SET "
        "digest=excluded.digest, tools_json=excluded.tools_json, "
        "trusted_at=excluded.trusted_at, trusted_by=excluded.trusted_by",
        (server, digest, json.dumps(per_tool), now_iso(), who),
    )
