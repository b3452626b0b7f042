"""Warm pool: started, hardened, empty containers per image, handed out at once."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict

from nightfix_sandbox.backends import Box, ContainerBackend

log = logging.getLogger(__name__)


class WarmPool:
    """Keeps `size` idle containers per image; refills in a background thread.

    The refill waits for `refill_delay_s` of quiet after a container is handed out, so
    starting its replacement does not compete with the new sandbox's first commands.
    """

    def __init__(self, backend: ContainerBackend, size: int, refill_delay_s: float = 1.5) -> None:
        self.backend = backend
        self.size = size
        self.refill_delay_s = refill_delay_s
        self._idle: dict[str, list[Box]] = defaultdict(list)
        self._inflight: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._images: set[str] = set()
        self._last_take = 0.0
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
            self._last_take = time.monotonic()
        self._wake.set()
        return box

    def idle_count(self, image: str) -> int:
        with self._lock:
            return len(self._idle[image])

    def fill_now(self, image: str) -> None:
        """Fill the pool for `image` and return once it is full (start-up, benchmarks)."""
        while not self._stop.is_set():
            with self._lock:
                if len(self._idle[image]) >= self.size:
                    return
                mine = len(self._idle[image]) + self._inflight[image] < self.size
                if mine:
                    self._inflight[image] += 1
            if not mine:  # another thread is creating the last one: wait for it
                time.sleep(0.05)
                continue
            try:
                box = self.backend.create(image, {"nightfix.sandbox.pool": "1"})
            finally:
                with self._lock:
                    self._inflight[image] -= 1
            with self._lock:
                self._idle[image].append(box)

    def _fill_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=5)
            self._wake.clear()
            while not self._stop.is_set():
                quiet = time.monotonic() - self._last_take
                if quiet >= self.refill_delay_s:
                    break
                self._stop.wait(self.refill_delay_s - quiet)
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
