"""The database layer: a fixed pool of connections shared by every request thread."""

from __future__ import annotations

import threading
import time

POOL_SIZE = 10
"""How many connections the pool holds."""


class ConnectionPoolExhausted(RuntimeError):
    """Every connection of the pool is in use."""


class Connection:
    """A stand-in for a database connection: each query takes a little time."""

    def __init__(self, number: int, query_seconds: float) -> None:
        self.number = number
        self.query_seconds = query_seconds

    def execute(self, sql: str, *params: object) -> dict[str, object]:
        time.sleep(self.query_seconds)
        return {"sql": sql, "params": params, "connection": self.number}


class ConnectionPool:
    """Hands out connections to request threads and takes them back."""

    def __init__(self, query_seconds: float = 0.02) -> None:
        self.size = POOL_SIZE
        self._lock = threading.Lock()
        self._free = [Connection(n, query_seconds) for n in range(self.size)]

    def acquire(self) -> Connection:
        with self._lock:
            if not self._free:
                raise ConnectionPoolExhausted(f"all {self.size} database connections are in use")
            return self._free.pop()

    def release(self, conn: Connection) -> None:
        with self._lock:
            self._free.append(conn)

    @property
    def available(self) -> int:
        with self._lock:
            return len(self._free)
