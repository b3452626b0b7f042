"""Warm pool: started, hardened, empty containers per image, handed out at once."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from nightfix_sandbox.backends import Box, ContainerBackend

log = logging.getLogger(__name__)


class WarmPool:
    """Keeps `size` idle containers per image; refills in a background thread."""

    def __init__(self, backend: ContainerBackend, size: int) -> None:
        self.backend = backend
        self.size = size
        self._idle: dict[str, list[Box]] = defaultdict(list)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._images: set[str] = set()
        self._thread: threading.Thread | None = None

    def start(self, images: list[str]) -> None:
        if self.size <= 0:
            return
        self._images.update(images)
        self._thread = threading.Thread(target=self._fill_loop, name="nf-pool", daemon=True)
        self._thread.start()
        self._wake.set()

    def take(self, image: str) -> Box | None:
        """An idle container for `image`, or None (the caller then creates one cold)."""
        if self.size <= 0:
            return None
        with self._lock:
            self._images.add(image)
            box = self._idle[image].pop() if self._idle[image] else None
        self._wake.set()
        return box

    def idle_count(self, image: str) -> int:
        with self._lock:
            return len(self._idle[image])

    def fill_now(self, image: str) -> None:
        """Fill the pool for `image` synchronously (used at start-up and by benchmarks)."""
        while not self._stop.is_set() and self.idle_count(image) < self.size:
            box = self.backend.create(image, {"nightfix.sandbox.pool": "1"})
            with self._lock:
                self._idle[image].append(box)

    def _fill_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=5)
            self._wake.clear()
            for image in list(self._images):
                try:
                    self.fill_now(image)
                except Exception as exc:  # keep the pool alive; creation is retried
                    log.warning("warm pool could not start a container for %s: %s", image, exc)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            boxes = [b for lst in self._idle.values() for b in lst]
            self._idle.clear()
        self.backend.remove_many(boxes)
