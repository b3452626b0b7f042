"""Container backends behind one small Protocol. Docker is the one real backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Box:
    """One started, hardened container and the volume mounted as its workspace."""

    container_id: str
    volume: str
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
        """Create and start a hardened container with a fresh workspace volume."""
        ...

    def run(self, box: Box, request: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        """Have the sandbox's PID 1 run a command (fields: see incontainer/init.py).

        Returns the supervisor's result; gives up after deadline_s.
        """
        ...

    def exec(
        self, box: Box, argv: list[str], *, user: str, env: dict[str, str], deadline_s: float
    ) -> RawExec:
        """Run argv with `docker exec` (root helpers only); give up after deadline_s."""
        ...

    def put_archive(self, box: Box, path: str, tar: bytes) -> None:
        """Extract a tar archive at `path` inside the container."""
        ...

    def remove(self, box: Box) -> None:
        """Remove the container and its volume (idempotent)."""
        ...

    def remove_many(self, boxes: list[Box]) -> None:
        """Remove several boxes, concurrently."""
        ...

    def remove_orphans(self) -> int:
        """Remove labelled containers/volumes whose owning server process is gone."""
        ...
