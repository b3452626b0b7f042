"""Helpers for the client's tests: a policy over the fake stdio servers, trajectories."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from nightfix.policy import Policy, parse_policy

HERE = Path(__file__).parent
FAKE = str(HERE / "fake_servers.py")

ALLOW = [
    "errors.get_issue",
    "errors.list_issues",
    "errors.big_result",
    "errors.image_only",
    "github.*",
    "sandbox.*",
]


def fake_policy_data(
    tmp: Path, env: dict[str, str] | None = None, **sections: Any
) -> dict[str, Any]:
    """A policy (as data) whose servers are the fake stdio servers, state under ``tmp``."""
    env = {"FAKE_LOG": str(tmp / "calls.jsonl"), **(env or {})}
    servers = {
        name: {"command": [sys.executable, FAKE, name], "env": env}
        for name in ("errors", "github", "sandbox")
    }
    data: dict[str, Any] = {
        "servers": servers,
        "tools": {"allow": ALLOW},
        "kill_switch": {"file": str(tmp / "STOP"), "env": "NIGHTFIX_TEST_KILL"},
        "audit": {"path": str(tmp / "audit.jsonl"), "key_env": "NIGHTFIX_TEST_AUDIT_KEY"},
        "traces": {"dir": str(tmp / "traces")},
        "state": {"db": str(tmp / "state.db")},
        "model": {"provider": "replay"},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return data


def fake_policy(tmp: Path, **kwargs: Any) -> Policy:
    return parse_policy(yaml.safe_dump(fake_policy_data(tmp, **kwargs)))


def write_policy(tmp: Path, **kwargs: Any) -> Path:
    path = tmp / "policy.yaml"
    path.write_text(yaml.safe_dump(fake_policy_data(tmp, **kwargs)))
    return path


def write_trajectory(tmp: Path, turns: list[dict[str, Any]], name: str = "traj.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump({"turns": turns}))
    return path


def calls(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


FINISH = {
    "name": "finish",
    "input": {
        "root_cause": "pool hard-coded at 10",
        "fix": "pool size from config",
        "tests_run": "pytest: 3 passed",
        "confidence": "high",
    },
}


def child_pids(marker: str) -> list[int]:
    """Pids of this process's children whose command line contains ``marker``."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and marker in cmdline:
            found.append(int(entry.name))
    return found


class Scripted:
    """Wraps a model; runs ``hooks[n]()`` just before turn n (1-based) is produced."""

    def __init__(self, inner: Any, hooks: dict[int, Any]) -> None:
        self.inner, self.hooks, self.name, self.turn = inner, hooks, inner.name, 0

    async def complete(self, system: str, messages: list[Any], tools: list[Any]) -> Any:
        self.turn += 1
        if self.turn in self.hooks:
            self.hooks[self.turn]()
        self.seen_tools = tools
        self.seen_messages = messages
        return await self.inner.complete(system, messages, tools)
