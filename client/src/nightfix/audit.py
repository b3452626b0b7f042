"""Append-only JSONL audit log, one line per decision, chained by a keyed MAC.

Each line is a JSON object with ``seq`` (0, 1, 2, …), ``ts``, ``event`` and event fields,
``prev`` (the previous line's MAC; 64 zeros for the first line) and ``mac`` = HMAC-SHA256,
under a secret key kept apart from the log (:mod:`nightfix.audit_key`), of the canonical JSON
of the line without ``mac``. Without the key nobody can edit a line and re-compute the chain.
After every line the chain's head (seq, MAC, key id) is anchored in the client's state
database (``audit_anchor``), so removing lines from the end, or the whole log, is detected.

Writers are crash-safe and may run in several processes (``watch``, ``approve``): an append
takes an exclusive ``flock`` and, when another writer (or a crashed one) wrote since, re-reads
the chain's tail *from the log itself* — the last complete line — never from a head record
that may lag behind. A torn last line (a writer died mid-write) is cut off and the cut is
itself recorded (``torn_line_removed``). Before extending a chain the writer checks that the
log is not behind its anchor and that the last line's MAC is valid, so it never builds on (and
re-anchors) a truncated or forged log. :mod:`nightfix.audit_verify` walks the whole chain.

Logs of the old unkeyed format (``hash`` = plain SHA-256) stay readable by ``nightfix audit
verify``, which reports them as unkeyed; appending to one is refused with advice to move it
aside, so the new keyed chain starts in a fresh file.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightfix import state
from nightfix.audit_key import KeySource, check_key_matches_anchor, key_id
from nightfix.errors import AuditError, AuditIntegrityError
from nightfix.redaction import Redactor

GENESIS = "0" * 64
RESERVED = frozenset({"seq", "ts", "event", "prev", "mac", "hash"})
_CHUNK = 8192


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def line_mac(key: bytes, record: dict[str, Any]) -> str:
    """The MAC a line must carry: HMAC-SHA256 over its canonical JSON without ``mac``."""
    body = {k: v for k, v in record.items() if k != "mac"}
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def anchor_name(path: Path) -> str:
    """The anchor's key in ``audit_anchor``: the log's absolute, resolved path."""
    return str(path.expanduser().resolve())


def read_tail(fd: int, size: int) -> tuple[bytes | None, int]:
    """The last complete (newline-terminated) line and the offset just past it.

    Bytes after that offset are a torn line. ``(None, 0)`` when no line is complete.
    """
    pos, buf = size, b""
    while True:
        end = buf.rfind(b"\n")
        if end >= 0:
            start = buf.rfind(b"\n", 0, end)
            if start >= 0 or pos == 0:
                return buf[start + 1 : end], pos + end + 1
        if pos == 0:
            return None, 0
        begin = max(0, pos - _CHUNK)
        buf = os.pread(fd, pos - begin, begin) + buf
        pos = begin


def check_log_not_behind_anchor(last: dict[str, Any] | None, anchor: dict[str, Any] | None) -> None:
    """Refuse to extend a log whose tail was removed: re-anchoring it would hide the removal."""
    if anchor is None:
        return
    last_seq, last_mac = (last["seq"], last["mac"]) if last is not None else (-1, None)
    if last_seq < anchor["seq"] or (last_seq == anchor["seq"] and last_mac != anchor["mac"]):
        raise AuditIntegrityError(
            f"audit log ends at seq {last_seq} but its anchor in the state database records "
            f"seq {anchor['seq']}: lines were removed or replaced. Nothing was appended; run "
            "`nightfix audit verify` and keep the log as evidence. To start a new chain after "
            f"investigating, delete the row for {anchor['log']} from the audit_anchor table"
        )


def check_last_line_authentic(key: bytes, last: dict[str, Any] | None) -> None:
    """Refuse to extend a chain whose last line does not carry a valid MAC (forged or edited)."""
    if last is not None and not hmac.compare_digest(str(last.get("mac")), line_mac(key, last)):
        raise AuditIntegrityError(
            f"the audit log's last line (seq {last.get('seq')}) does not carry a valid MAC: "
            "it was edited or forged. Nothing was appended; run `nightfix audit verify`"
        )


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open at ``fd``."""
    try:
        named, held = path.stat(), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _parse_last(line: bytes | None, path: Path) -> dict[str, Any] | None:
    if line is None:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
        raise AuditIntegrityError(
            f"{path}: the last line is not an audit record (edited?). Nothing was appended; "
            "run `nightfix audit verify`"
        )
    if "mac" not in record:
        raise AuditError(
            f"{path} is an audit log of the old unkeyed format; it stays readable (`nightfix "
            f"audit verify` reports it as unkeyed) but is not extended. Move it aside (`nightfix "
            f"audit rotate`, or mv {path} {path}.unkeyed) and a keyed chain starts in a new file"
        )
    return record


class AuditLog:
    """Appends decisions to the log at ``path``; anchors the head in the ``state_db``."""

    def __init__(
        self,
        path: str | Path,
        keys: KeySource,
        state_db: str | Path,
        redactor: Redactor | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.keys = keys
        self.state_db = Path(state_db).expanduser()
        self._redactor = redactor or Redactor({})
        self._fd: int | None = None
        self._conn: sqlite3.Connection | None = None
        self._key = b""
        self._known_size = -1
        self._seq = 0
        self._prev = GENESIS

    @classmethod
    def for_policy(cls, policy: Any, redactor: Redactor | None = None) -> AuditLog:
        """The policy's log (``audit.path``), key (``audit.key_*``) and anchor (``state.db``)."""
        return cls(policy.audit.path, KeySource.for_policy(policy), policy.state.db, redactor)

    def _locked(self) -> tuple[int, sqlite3.Connection]:
        """Open and lock the file the path names *now* (it may be moved away while we wait)."""
        for _ in range(3):
            fd, conn = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, self.path):
                return fd, conn
            fcntl.flock(fd, fcntl.LOCK_UN)
            self.close()  # moved or deleted: never write into a file nobody reads
        raise AuditError(f"{self.path} keeps being replaced; nothing was appended")

    def _open(self) -> tuple[int, sqlite3.Connection]:
        if self._fd is None or self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            self._conn = state.connect(self.state_db)
            # The log line is written first; an anchor lost in a power cut only lags (benign).
            self._conn.execute("PRAGMA synchronous=NORMAL")
        return self._fd, self._conn

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one decision line (flushed to the OS before returning) and return it."""
        clash = RESERVED & fields.keys()
        if clash:
            raise ValueError(f"audit fields {sorted(clash)} are reserved for the chain")
        fd, conn = self._locked()
        try:
            size = os.fstat(fd).st_size
            if size != self._known_size:
                size = self._resync(fd, conn, size)
            return self._write(fd, conn, size, event, self._redactor.data(fields))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _resync(self, fd: int, conn: sqlite3.Connection, size: int) -> int:
        """Another writer (or a crashed one) wrote since our last line: continue from the log."""
        line, end = read_tail(fd, size)
        last = _parse_last(line, self.path)
        anchor = state.read_anchor(conn, anchor_name(self.path))
        fresh = last is None and anchor is None
        self._key = self.keys.create() if fresh else self.keys.require()
        check_key_matches_anchor(self._key, anchor, self.keys.where())
        check_last_line_authentic(self._key, last)
        check_log_not_behind_anchor(last, anchor)
        self._seq, self._prev = (last["seq"] + 1, last["mac"]) if last else (0, GENESIS)
        if end < size:  # a torn line: cut it off, and say so in the chain
            torn = os.pread(fd, size - end, end)
            os.ftruncate(fd, end)
            digest = hashlib.sha256(torn).hexdigest()
            self._write(fd, conn, end, "torn_line_removed", {"bytes": len(torn), "sha256": digest})
            return self._known_size
        return size

    def _write(
        self, fd: int, conn: sqlite3.Connection, size: int, event: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "seq": self._seq,
            "ts": datetime.now(UTC).isoformat(timespec="microseconds"),
            "event": event,
            **fields,
            "prev": self._prev,
        }
        record["mac"] = line_mac(self._key, record)
        data = canonical(record) + b"\n"
        written = os.write(fd, data)
        if written != len(data):
            self._known_size = -1  # the next append cuts the torn line off
            raise AuditError(f"{self.path}: short write ({written} of {len(data)} bytes)")
        self._known_size = size + len(data)
        self._seq, self._prev = self._seq + 1, record["mac"]
        state.write_anchor(
            conn, anchor_name(self.path), record["seq"], record["mac"], key_id(self._key)
        )
        return record

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._known_size = -1
