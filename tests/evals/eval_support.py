"""Helpers for the eval tests: run ``nightfix eval`` as a person would, read its JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from nightfix.evals.world import tool

ROOT = Path(__file__).resolve().parents[2]
EVALS = ROOT / "evals"


def nightfix_eval(
    *args: str, env: dict[str, str] | None = None, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("nightfix"), "eval", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def by_key(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Attempts by (scenario, kind) (repeat 1)."""
    return {(a["scenario"], a["kind"]): a for a in report["attempts"] if a["repeat"] == 1}
