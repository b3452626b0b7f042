"""Sandbox backends behind one small Protocol, in neutral words (box, disk, copy in); Docker
(runc or gVisor) is the one real backend, and only it speaks Docker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Box:
    """One started, hardened sandbox and the disk mounted as its workspace."""

    box_id: str
    """The backend's id of the running sandbox."""
    disk: str
    """The backend's name of the sandbox's own workspace disk."""
    image: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RawExec:
    exit_code: int
    stdout: bytes
    stderr: bytes


class ContainerBackend(Protocol):
    """What the service needs from a container runtime."""

    def create(self, image: str, labels: dict[str, str]) -> Box:
        """Create and start a hardened sandbox with a fresh workspace disk."""
        ...

    def run(self, box: Box, request: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        """Have the sandbox's PID 1 run a command (fields: see incontainer/init.py).

        Returns the supervisor's result; gives up after deadline_s.
        """
        ...

    def exec(
        self, box: Box, argv: list[str], *, user: str, env: dict[str, str], deadline_s: float
    ) -> RawExec:
        """Run argv directly as ``user``, beside PID 1's supervisor (root helpers only); give
        up after deadline_s."""
        ...

    def copy_in(self, box: Box, path: str, tar: bytes) -> None:
        """Extract a tar archive at `path` inside the sandbox."""
        ...

    def remove(self, box: Box) -> None:
        """Remove the sandbox and its disk (idempotent)."""
        ...

    def remove_many(self, boxes: list[Box]) -> None:
        """Remove several boxes, concurrently."""
        ...

    def remove_orphans(self) -> int:
        """Remove sandboxes and disks whose owning server process is gone."""
        ...
