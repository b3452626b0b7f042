"""Verify an audit log: walk its keyed chain and compare its end with the anchor in state.db.

A log is intact when every line parses, its ``seq`` counts up from 0, its ``prev`` is the MAC
of the line before, its ``mac`` is right under the key, and the anchored head (seq, MAC) is
a line of the chain. Lines *after* the anchor are accepted (a writer stopped between a line
and its anchor; they carry valid MACs, which only the key holder can make) and reported as a
note; a torn last line (no newline) likewise. A log of the old unkeyed format is never
reported intact: its plain SHA-256 chain can be recomputed by anyone who edits it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightfix import state
from nightfix.audit import GENESIS, anchor_name, canonical, line_mac
from nightfix.audit_key import KeySource, check_key_matches_anchor
from nightfix.errors import AuditError


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    lines: int
    problem: str | None = None
    note: str | None = None
    unkeyed: bool = False


def verify(path: str | Path, keys: KeySource, state_db: str | Path) -> VerifyResult:
    """Verify the log at ``path`` with the key from ``keys`` against its anchor in ``state_db``.

    Raises :class:`AuditError` when the check cannot run (no log and no anchor, unreadable
    log) and :class:`~nightfix.errors.AuditKeyError` when the key is missing or wrong.
    """
    path = Path(path).expanduser()
    # The anchor first, then the log: a writer appending meanwhile only adds lines after the
    # anchor (reported as a note), never makes the log look shorter than its anchor.
    anchor = _read_anchor(Path(state_db).expanduser(), path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        if anchor is None:
            raise AuditError(f"{path}: no audit log there") from exc
        return VerifyResult(
            False, 0, f"the log is gone, but its anchor records seq {anchor['seq']}"
        )
    except OSError as exc:
        raise AuditError(f"{path}: cannot read audit log: {exc.strerror}") from exc
    complete, _, torn = raw.rpartition(b"\n")
    lines = complete.split(b"\n") if raw.count(b"\n") else []
    if lines and b'"mac":' not in lines[0] and b'"hash":' in lines[0]:
        return verify_unkeyed(path, lines, anchor)
    result = _walk(lines, keys, anchor)
    if result.ok and torn:
        note = f"the last line is incomplete ({len(torn)} bytes; a writer stopped mid-line)"
        return VerifyResult(True, result.lines, note=_join(result.note, note))
    return result


def _read_anchor(state_db: Path, log: Path) -> dict[str, Any] | None:
    """The log's anchor; a state database that does not exist is not created by a check."""
    if not state_db.exists():
        return None
    conn = state.connect(state_db)
    try:
        return state.read_anchor(conn, anchor_name(log))
    finally:
        conn.close()


def _join(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


def _record(number: int, line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise _Broken(f"line {number}: not a JSON object (edited?)")
    return record


class _Broken(Exception):
    """The first problem found while walking the chain."""


def _walk(lines: list[bytes], keys: KeySource, anchor: dict[str, Any] | None) -> VerifyResult:
    if not lines and anchor is None:
        return VerifyResult(True, 0)
    key = keys.require()
    check_key_matches_anchor(key, anchor, keys.where())
    prev, macs = GENESIS, []
    try:
        for number, line in enumerate(lines, start=1):
            record = _record(number, line)
            _check_line(number, record, prev, key)
            prev = record["mac"]
            macs.append(prev)
    except _Broken as exc:
        return VerifyResult(False, len(macs), str(exc))
    return _check_anchor(macs, anchor)


def _check_line(number: int, record: dict[str, Any], prev: str, key: bytes) -> None:
    if record.get("seq") != number - 1:
        raise _Broken(
            f"line {number}: seq {record.get('seq')} where {number - 1} was expected "
            "(a line was removed, inserted or reordered)"
        )
    if "mac" not in record:
        raise _Broken(f"line {number}: carries no MAC (written without the key)")
    if record.get("prev") != prev:
        raise _Broken(f"line {number}: does not chain to the line before")
    if not hmac.compare_digest(str(record["mac"]), line_mac(key, record)):
        raise _Broken(f"line {number}: its MAC does not match its content (edited or forged)")


def _check_anchor(macs: list[str], anchor: dict[str, Any] | None) -> VerifyResult:
    count = len(macs)
    if anchor is None:
        return VerifyResult(
            False,
            count,
            "no anchor for this log in the state database (deleted?), so lines "
            "removed from its end could not be detected",
        )
    if anchor["seq"] >= count:
        return VerifyResult(
            False,
            count,
            f"log ends at seq {count - 1} but its anchor records seq "
            f"{anchor['seq']} (lines were removed from the end)",
        )
    if macs[anchor["seq"]] != anchor["mac"]:
        return VerifyResult(
            False,
            count,
            f"line {anchor['seq'] + 1} is not the line its anchor records (the chain was replaced)",
        )
    after = count - 1 - anchor["seq"]
    note = (
        f"{after} line(s) after the anchor (a writer stopped before anchoring)" if after else None
    )
    return VerifyResult(True, count, note=note)


def verify_unkeyed(path: Path, lines: list[bytes], anchor: dict[str, Any] | None) -> VerifyResult:
    """A log of the old format: its SHA-256 chain is checked, but it is never reported intact."""
    if anchor is not None:
        return VerifyResult(
            False,
            0,
            f"the state database anchors a keyed chain at seq {anchor['seq']}, but "
            "the log is in the old unkeyed format (re-hashed?)",
            unkeyed=True,
        )
    prev = GENESIS
    try:
        for number, line in enumerate(lines, start=1):
            record = _record(number, line)
            body = {k: v for k, v in record.items() if k != "hash"}
            expected = hashlib.sha256(str(body.get("prev", "")).encode() + canonical(body))
            if record.get("seq") != number - 1 or record.get("prev") != prev:
                raise _Broken(f"line {number}: out of sequence or not chained")
            if record.get("hash") != expected.hexdigest():
                raise _Broken(f"line {number}: content does not match its hash")
            prev = record["hash"]
    except _Broken as exc:
        return VerifyResult(False, number - 1, f"old unkeyed format, and {exc}", unkeyed=True)
    return VerifyResult(
        False,
        len(lines),
        f"old unkeyed format: its SHA-256 chain is consistent over {len(lines)} "
        "lines, but without a key anyone who edits it can re-hash it, so it cannot be shown "
        f"untampered. Keep it as it is; move it aside (mv {path} {path}.unkeyed) to start a "
        "keyed chain",
        unkeyed=True,
    )


def verify_policy(policy: Any, path: str | Path | None = None) -> VerifyResult:
    """Verify the policy's audit log (or ``path``) with the policy's key and state database."""
    target = path if path is not None else policy.audit.path
    return verify(target, KeySource.for_policy(policy), policy.state.db)
