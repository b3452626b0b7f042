"""Warm pool: started, hardened containers handed out at once.

Two kinds of entries, `size` containers each: blank ones per image, and preloaded ones
per (image, commit) that already hold that commit's workspace, so `create_sandbox` of a
source at a commit seen before copies nothing at all. The most recent `max_preloaded`
commits are kept warm; older ones are dropped with their containers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable

from nightfix_sandbox.backends import Box, ContainerBackend
from nightfix_sandbox.config import SANDBOX_ROOT

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (image, commit); commit "" means blank
Loader = Callable[[], bytes]


class WarmPool:
    """Keeps `size` idle containers per key; refills in a background thread.

    The refill waits for `refill_delay_s` of quiet after a container is handed out, so
    starting its replacement does not compete with the new sandbox's first commands.
    """

    def __init__(
        self,
        backend: ContainerBackend,
        size: int,
        refill_delay_s: float = 1.5,
        max_preloaded: int = 4,
    ) -> None:
        self.backend = backend
        self.size = size
        self.refill_delay_s = refill_delay_s
        self.max_preloaded = max_preloaded
        self._idle: dict[Key, list[Box]] = defaultdict(list)
        self._inflight: dict[Key, int] = defaultdict(int)
        self._targets: OrderedDict[Key, Loader | None] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_take = 0.0
        self._thread: threading.Thread | None = None

    def start(self, images: list[str]) -> None:
        if self.size <= 0:
            return
        for image in images:
            self._targets[(image, "")] = None
        self._thread = threading.Thread(target=self._fill_loop, name="nf-pool", daemon=True)
        self._thread.start()
        self._wake.set()

    def want(self, image: str, commit: str, loader: Loader) -> None:
        """Keep containers preloaded with `commit` warm (the newest few commits)."""
        if self.size <= 0:
            return
        dropped: list[Box] = []
        with self._lock:
            key = (image, commit)
            self._targets[key] = loader
            self._targets.move_to_end(key)
            preloaded = [k for k in self._targets if k[1]]
            for old in preloaded[: max(0, len(preloaded) - self.max_preloaded)]:
                del self._targets[old]
                dropped += self._idle.pop(old, [])
        self.backend.remove_many(dropped)
        self._wake.set()

    def take(self, image: str, commit: str = "") -> Box | None:
        """An idle container (preloaded with `commit` when given), or None."""
        if self.size <= 0:
            return None
        with self._lock:
            key = (image, commit)
            if key not in self._targets and not commit:
                self._targets[key] = None
            box = self._idle[key].pop() if self._idle[key] else None
            self._last_take = time.monotonic()
        self._wake.set()
        return box

    def idle_count(self, image: str, commit: str = "") -> int:
        with self._lock:
            return len(self._idle[(image, commit)])

    def fill_now(self, image: str, commit: str = "") -> None:
        """Fill one key and return once it is full (start-up, tests, benchmarks)."""
        key = (image, commit)
        while not self._stop.is_set():
            with self._lock:
                if key not in self._targets or len(self._idle[key]) >= self.size:
                    return
                loader = self._targets[key]
                mine = len(self._idle[key]) + self._inflight[key] < self.size
                if mine:
                    self._inflight[key] += 1
            if not mine:  # another thread is creating the last one: wait for it
                time.sleep(0.05)
                continue
            box = None
            try:
                box = self.backend.create(image, {"nightfix.sandbox.pool": "1"})
                if loader is not None:
                    self.backend.copy_in(box, SANDBOX_ROOT, loader())
            except BaseException:
                if box is not None:
                    self.backend.remove(box)
                raise
            finally:
                with self._lock:
                    self._inflight[key] -= 1
            with self._lock:
                keep = key in self._targets
                if keep:
                    self._idle[key].append(box)
            if not keep:
                self.backend.remove(box)

    def _fill_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=5)
            self._wake.clear()
            while not self._stop.is_set():
                quiet = time.monotonic() - self._last_take
                if quiet >= self.refill_delay_s:
                    break
                self._stop.wait(self.refill_delay_s - quiet)
            with self._lock:
                keys = list(reversed(self._targets))  # newest first
            for image, commit in keys:
                try:
                    self.fill_now(image, commit)
                except Exception as exc:  # keep the pool alive; creation is retried
                    log.warning("warm pool could not prepare a container for %s: %s", image, exc)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            boxes = [b for lst in self._idle.values() for b in lst]
            self._idle.clear()
            self._targets.clear()
        self.backend.remove_many(boxes)
