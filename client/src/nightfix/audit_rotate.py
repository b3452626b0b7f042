"""Rotate an audit log: move it aside so the next append starts a new chain at its path.

Only a log that verifies is rotated (or one of the old unkeyed format with no anchor — moving
it aside is how a keyed chain starts). Its anchor moves with it, so the archive still verifies
under its new name. A log that does not verify stays where it is, as evidence: rotation must
not launder tampering into a fresh start. The rotation holds the log's ``flock``, so no writer
appends in between; writers notice the path now names a new file and start a chain there.
"""

from __future__ import annotations

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

from nightfix import state
from nightfix.audit import anchor_name
from nightfix.audit_key import KeySource
from nightfix.audit_verify import VerifyResult, verify
from nightfix.errors import AuditError, AuditIntegrityError


def check_rotation_allowed(result: VerifyResult, anchored: bool, path: Path) -> None:
    """Refuse to rotate a log that does not verify: the next chain would hide the tampering."""
    if result.ok or (result.unkeyed and not anchored):
        return
    raise AuditIntegrityError(
        f"{path} does not verify ({result.problem}); not rotated — keep it as evidence and "
        "investigate (`nightfix audit verify`)"
    )


def rotate(
    path: str | Path, keys: KeySource, state_db: str | Path, archive: str | Path | None = None
) -> tuple[Path, VerifyResult]:
    """Move the log at ``path`` to ``archive`` (default: ``<name>.<UTC time>``)."""
    log = Path(path).expanduser()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = Path(archive).expanduser() if archive else log.with_name(f"{log.name}.{stamp}")
    if target.exists():
        raise AuditError(f"{target} exists already; choose another archive name")
    try:
        fd = os.open(log, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise AuditError(f"{log}: no audit log there") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return target, _move(log, target, keys, Path(state_db).expanduser())
    finally:
        os.close(fd)  # releases the lock


def _move(log: Path, target: Path, keys: KeySource, state_db: Path) -> VerifyResult:
    conn = state.connect(state_db)
    try:
        anchored = state.read_anchor(conn, anchor_name(log)) is not None
        result = verify(log, keys, state_db)
        check_rotation_allowed(result, anchored, log)
        log.rename(target)
        conn.execute(
            "UPDATE audit_anchor SET log=? WHERE log=?", (anchor_name(target), anchor_name(log))
        )
        return result
    finally:
        conn.close()
