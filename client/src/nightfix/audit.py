"""Append-only, hash-chained JSONL audit log: one line per decision.

Each line is a JSON object with ``seq`` (0, 1, 2, …), ``ts``, ``event`` and event fields,
``prev`` (the previous line's hash; 64 zeros for the first line) and ``hash`` =
SHA-256 of ``prev`` + the canonical JSON of the line without ``hash``. A sidecar file
``<log>.head`` holds the last ``seq`` and ``hash``, so removing lines at the end is detected
too. :func:`verify` re-walks the chain; any edited, removed, inserted or reordered line breaks
it. Appends take an exclusive ``flock``, so several processes (``watch``, ``approve``) can share
one log.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightfix.redaction import Redactor

GENESIS = "0" * 64


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def line_hash(record: dict[str, Any]) -> str:
    """The hash a line must carry: SHA-256 over its ``prev`` and body (``hash`` excluded)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(str(body.get("prev", "")).encode() + _canonical(body)).hexdigest()


class AuditLog:
    """Appends decisions to the log at ``path`` (created with its directory on first use)."""

    def __init__(self, path: str | Path, redactor: Redactor | None = None) -> None:
        self.path = Path(path).expanduser()
        self.head_path = self.path.with_name(self.path.name + ".head")
        self._redactor = redactor or Redactor({})
        self._fd: int | None = None
        self._head_fd: int | None = None
        self._known_size = -1
        self._seq = 0
        self._prev = GENESIS

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def _resync(self, fd: int, size: int) -> None:
        """Another writer appended since our last line: read the chain's tail from the head file."""
        head = read_head(self.head_path)
        if head is not None:
            self._seq, self._prev = head["seq"] + 1, head["hash"]
        elif size == 0:
            self._seq, self._prev = 0, GENESIS
        else:
            last = self.path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
            record = json.loads(last)
            self._seq, self._prev = record["seq"] + 1, record["hash"]

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one decision line (flushed to the OS before returning) and return it."""
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size != self._known_size:
                self._resync(fd, size)
            record: dict[str, Any] = {
                "seq": self._seq,
                "ts": datetime.now(UTC).isoformat(timespec="microseconds"),
                "event": event,
                **self._redactor.data(fields),
                "prev": self._prev,
            }
            body = _canonical(record)
            record["hash"] = hashlib.sha256(self._prev.encode() + body).hexdigest()
            data = body[:-1] + b',"hash":"' + record["hash"].encode() + b'"}\n'  # one encode
            os.write(fd, data)
            self._known_size = size + len(data)
            self._seq, self._prev = self._seq + 1, record["hash"]
            assert self._head_fd is not None
            _write_head(self._head_fd, record["seq"], record["hash"])
            return record
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._head_fd is not None:
            os.close(self._head_fd)
            self._head_fd = None
            self._known_size = -1


HEAD_SIZE = 128


def _write_head(fd: int, seq: int, digest: str) -> None:
    """Overwrite the head record in place: one fixed-size write (space-padded JSON)."""
    data = json.dumps({"seq": seq, "hash": digest}).ljust(HEAD_SIZE - 1).encode() + b"\n"
    os.pwrite(fd, data, 0)


def read_head(path: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        head = json.loads(path.read_text(encoding="utf-8").strip() or "null")
        if isinstance(head, dict) and isinstance(head.get("seq"), int):
            return head
    return None


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    lines: int
    problem: str | None = None


def verify(path: str | Path) -> VerifyResult:
    """Walk the chain of the log at ``path``; the first problem found is reported with its line."""
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return VerifyResult(False, 0, f"{path}: cannot read audit log: {exc.strerror}")
    prev, count = GENESIS, 0
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            record = json.loads(line)
        except ValueError:
            return VerifyResult(False, count, f"line {number}: not valid JSON (edited?)")
        if not isinstance(record, dict):
            return VerifyResult(False, count, f"line {number}: not a JSON object (edited?)")
        if record.get("seq") != number - 1:
            return VerifyResult(
                False,
                count,
                f"line {number}: seq {record.get('seq')} where {number - 1} was expected "
                "(a line was removed, inserted or reordered)",
            )
        if record.get("prev") != prev:
            return VerifyResult(False, count, f"line {number}: does not chain to the line before")
        if record.get("hash") != line_hash(record):
            return VerifyResult(False, count, f"line {number}: content does not match its hash")
        prev, count = record["hash"], count + 1
    head = read_head(path.with_name(path.name + ".head"))
    if head is not None and (head["seq"] != count - 1 or head.get("hash") != prev):
        return VerifyResult(
            False,
            count,
            f"log ends at seq {count - 1} but its head file records seq {head['seq']} "
            "(lines were removed from the end)",
        )
    return VerifyResult(True, count)
