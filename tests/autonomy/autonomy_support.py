"""End-to-end helpers: a checkout-service repository, a policy, and `nightfix` CLI calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

import demo_env  # noqa: E402

from nightfix.autonomy.watch_state import WatchState  # noqa: E402
from nightfix.trace import read_trace  # noqa: E402

NIGHTFIX = demo_env.tool("nightfix")
GITHUB = demo_env.tool("nightfix-github")
TRAJECTORY = demo_env.TRAJECTORY


@dataclass
class Env:
    """One test's world: a fresh repository and a policy whose state lives in ``dir``."""

    dir: Path
    repo: Path
    policy: Path

    @classmethod
    def make(cls, tmp: Path, errors_db: Path, phase: int, **overrides: Any) -> Env:
        repo = demo_env.make_repo(tmp / "checkout-service", detach=phase == 4)
        allow_merge = overrides.pop("allow_merge", None)
        policy = demo_env.write_policy(
            tmp / "nf", repo, errors_db, phase, allow_merge=allow_merge, overrides=overrides
        )
        return cls(tmp / "nf", repo, policy)

    def nightfix(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [NIGHTFIX, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NIGHTFIX_POLICY": str(self.policy)},
        )

    def watch(self, trajectory: Path = TRAJECTORY) -> subprocess.CompletedProcess[str]:
        done = self.nightfix("watch", "--once", "--model", f"replay:{trajectory}")
        assert done.returncode == 0, done.stdout + done.stderr[-4000:]
        return done

    def state(self) -> WatchState:
        return WatchState.open(self.dir / "state.db")

    def runs(self) -> list[dict[str, Any]]:
        st = self.state()
        try:
            return st.runs()
        finally:
            st.close()

    def pulls(self) -> list[dict[str, Any]]:
        listing = subprocess.run(
            [GITHUB, "pulls", "list", "--local", str(self.repo)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        pulls = []
        for line in listing:
            number = line.split("\t")[0].lstrip("#")
            shown = subprocess.run(
                [GITHUB, "pulls", "show", number, "--local", str(self.repo), "--json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            pulls.append(json.loads(shown))
        return pulls

    def branches(self) -> list[str]:
        out = demo_env.git(self.repo, "branch", "--format=%(refname:short)")
        return sorted(out.split())

    def trace(self, run_id: str) -> list[dict[str, Any]]:
        return read_trace(self.dir / "traces" / f"{run_id}.jsonl")

    def audit_verifies(self) -> bool:
        return self.nightfix("audit", "verify", str(self.dir / "audit.jsonl")).returncode == 0


def sandbox_containers() -> dict[str, str]:
    """Containers of nightfix sandboxes: id -> owner label."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            "label=nightfix.sandbox",
            "--format",
            '{{.ID}} {{.Label "nightfix.sandbox.owner"}}',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(" ", 1) if " " in line else (line, "") for line in out.splitlines())


def left_behind(before: dict[str, str]) -> list[str]:
    """New sandbox containers whose owning server process is gone (leaks)."""
    leaks = []
    for cid, owner in sandbox_containers().items():
        if cid in before:
            continue
        pid = owner.split(":")[-2] if owner.count(":") == 2 else ""  # namespace:pid:start
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue  # a live server's (another test's) container
        leaks.append(cid)
    return leaks
