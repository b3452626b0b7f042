"""The keyed, anchored audit chain: each test is an attack on the log (or a crash) and shows it
is detected or refused, through the library and the real `nightfix audit verify` command."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from client_support import write_policy

from nightfix import audit
from nightfix.audit import GENESIS, AuditLog, canonical
from nightfix.audit_key import KeySource
from nightfix.audit_rotate import rotate
from nightfix.audit_verify import VerifyResult, verify
from nightfix.errors import AuditError, AuditIntegrityError, AuditKeyError
from nightfix.policy import load_policy
from nightfix.redaction import Redactor

ENV = "NIGHTFIX_TEST_AUDIT_KEY"
NIGHTFIX = [sys.executable, "-m", "nightfix.cli"]


class World:
    """A log, its state database and its key file, in separate places under ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        self.log = tmp / "logs" / "audit.jsonl"
        self.db = tmp / "state" / "state.db"
        self.key_file = tmp / "keys" / "audit.key"
        self.keys = KeySource(self.key_file, ENV)

    def writer(self, redactor: Redactor | None = None) -> AuditLog:
        return AuditLog(self.log, self.keys, self.db, redactor)

    def write(self, lines: int = 5) -> None:
        log = self.writer()
        for n in range(lines):
            log.append("tool_allowed", run_id="r1", tool="errors.get_issue", n=n)
        log.close()

    def verify(self) -> VerifyResult:
        return verify(self.log, self.keys, self.db)

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def rewrite(self, lines: list[str]) -> None:
        self.log.write_text("".join(line + "\n" for line in lines))

    def delete_anchor(self) -> None:
        with sqlite3.connect(self.db) as conn:
            conn.execute("DELETE FROM audit_anchor")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.delenv(ENV, raising=False)
    return World(tmp_path)


def sha256_chain(records: list[dict[str, Any]]) -> list[str]:
    """What an attacker without the key can do: recompute a plain SHA-256 chain (old format)."""
    prev, out = GENESIS, []
    for seq, record in enumerate(records):
        body = {k: v for k, v in record.items() if k not in ("mac", "hash")}
        body.update(seq=seq, prev=prev)
        body["hash"] = prev = hashlib.sha256(prev.encode() + canonical(body)).hexdigest()
        out.append(json.dumps(body))
    return out


# -- an intact chain ---------------------------------------------------------------------------


def test_intact_log_verifies(world: World) -> None:
    world.write()
    result = world.verify()
    assert result.ok and result.lines == 5 and result.note is None


def test_new_key_file_is_created_private(world: World) -> None:
    world.write(1)
    assert world.key_file.stat().st_mode & 0o777 == 0o600
    assert len(world.key_file.read_text().strip()) == 64


def test_key_from_environment_is_used_and_no_file_created(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "k" * 40)
    world.write(2)
    assert not world.key_file.exists() and world.verify().ok
    monkeypatch.setenv(ENV, "j" * 40)
    with pytest.raises(AuditKeyError, match="not the key this log was written with"):
        world.verify()


def test_second_writer_continues_the_chain(world: World) -> None:
    first, second = world.writer(), world.writer()
    first.append("x")
    second.append("y")
    first.append("z")
    result = world.verify()
    assert result.ok and result.lines == 3


def test_secrets_never_written(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "audit-key-" + "s" * 40)
    redactor = Redactor.from_environ({"GITHUB_TOKEN": "ghp_supersecretvalue", ENV: os.environ[ENV]})
    log = world.writer(redactor)
    log.append("tool_denied", tool="x", note="token ghp_supersecretvalue", echo=os.environ[ENV])
    text = world.log.read_text()
    assert "ghp_supersecretvalue" not in text and os.environ[ENV] not in text
    assert world.verify().ok


def test_reserved_field_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="reserved"):
        world.writer().append("x", seq=7)
    assert not world.log.exists() or world.log.read_text() == ""


# -- tampering with lines -----------------------------------------------------------------------


def test_edited_line_is_detected(world: World) -> None:
    world.write()
    lines = world.lines()
    record = json.loads(lines[2])
    record["tool"] = "github.commit_files"
    lines[2] = json.dumps(record)
    world.rewrite(lines)
    result = world.verify()
    assert not result.ok and "line 3" in str(result.problem) and "MAC" in str(result.problem)


def test_edited_line_with_rehashed_sha256_chain_is_detected(world: World) -> None:
    world.write()
    records = [json.loads(line) for line in world.lines()]
    records[2]["tool"] = "github.commit_files"
    world.rewrite(sha256_chain(records))
    result = world.verify()
    assert not result.ok and "anchors a keyed chain" in str(result.problem)
    world.delete_anchor()  # and with the anchor gone too: still never reported intact
    result = world.verify()
    assert not result.ok and result.unkeyed and "old unkeyed format" in str(result.problem)


def test_rehashed_chain_under_a_guessed_key_is_detected(world: World) -> None:
    world.write()
    records = [json.loads(line) for line in world.lines()]
    records[2]["tool"] = "github.commit_files"
    forged, prev = [], GENESIS
    for record in records:
        record["prev"] = prev
        record["mac"] = prev = audit.line_mac(b"g" * 64, record)
        forged.append(json.dumps(record))
    world.rewrite(forged)
    result = world.verify()
    assert not result.ok and "line 1" in str(result.problem)


def test_removed_middle_line_is_detected(world: World) -> None:
    world.write()
    lines = world.lines()
    world.rewrite(lines[:2] + lines[3:])
    assert not world.verify().ok


def test_reordered_lines_are_detected(world: World) -> None:
    world.write()
    lines = world.lines()
    lines[1], lines[2] = lines[2], lines[1]
    world.rewrite(lines)
    assert not world.verify().ok


def test_forged_last_line_is_refused_by_the_next_writer(world: World) -> None:
    world.write(3)
    last = json.loads(world.lines()[-1])
    forged = {**last, "seq": 3, "event": "approval_given", "prev": last["mac"], "mac": "0" * 64}
    world.rewrite([*world.lines(), json.dumps(forged)])
    before = world.log.read_bytes()
    with pytest.raises(AuditError, match="does not carry a valid MAC"):
        world.writer().append("x")
    assert world.log.read_bytes() == before


def test_garbage_last_line_is_refused_by_the_next_writer(world: World) -> None:
    world.write(3)
    world.rewrite([*world.lines(), "rm -rf / # not an audit record"])
    with pytest.raises(AuditIntegrityError, match="not an audit record"):
        world.writer().append("x")
    assert len(world.lines()) == 4 and "line 4" in str(world.verify().problem)


# -- removing lines, the anchor or the whole log -------------------------------------------------


def test_truncated_tail_with_head_deleted_is_detected(world: World) -> None:
    world.write()
    world.rewrite(world.lines()[:-2])
    for sidecar in world.log.parent.glob("*.head"):  # the old format's head file, if any
        sidecar.unlink()
    result = world.verify()
    assert not result.ok and "removed from the end" in str(result.problem)


def test_append_to_truncated_log_is_refused(world: World) -> None:
    world.write()
    world.rewrite(world.lines()[:-2])
    with pytest.raises(AuditError, match="removed or replaced"):
        world.writer().append("x")
    assert len(world.lines()) == 3 and not world.verify().ok


def test_deleted_anchor_is_detected(world: World) -> None:
    world.write()
    world.delete_anchor()
    result = world.verify()
    assert not result.ok and "no anchor" in str(result.problem)


def test_deleted_state_database_is_detected(world: World) -> None:
    world.write()
    world.db.unlink()
    result = world.verify()
    assert not result.ok and "no anchor" in str(result.problem) and not world.db.exists()


def test_deleted_log_is_detected(world: World) -> None:
    world.write()
    world.log.unlink()
    result = world.verify()
    assert not result.ok and "gone" in str(result.problem)
    with pytest.raises(AuditError, match="removed or replaced"):
        world.writer().append("x")


def test_log_replaced_under_a_running_writer_is_refused(world: World) -> None:
    log = world.writer()
    for n in range(3):
        log.append("tool_allowed", n=n)
    world.log.rename(world.log.with_name("moved.jsonl"))
    world.log.write_text("")
    with pytest.raises(AuditError, match="removed or replaced"):
        log.append("tool_allowed", n=3)  # not silently into the moved file
    assert len(world.log.with_name("moved.jsonl").read_text().splitlines()) == 3


# -- the key ------------------------------------------------------------------------------------


def test_missing_key_is_refused_with_its_location(world: World) -> None:
    world.write()
    world.key_file.unlink()
    with pytest.raises(AuditKeyError, match=f"{ENV}.*{world.key_file}"):
        world.verify()
    with pytest.raises(AuditKeyError, match="restore it"):
        world.writer().append("x")  # never a fresh key for a chain that has lines
    assert not world.key_file.exists() and len(world.lines()) == 5


def test_wrong_key_is_refused(world: World) -> None:
    world.write()
    world.key_file.write_text("f" * 64 + "\n")
    with pytest.raises(AuditKeyError, match="not the key"):
        world.verify()
    with pytest.raises(AuditKeyError, match="not the key"):
        world.writer().append("x")


def test_world_readable_key_is_refused(world: World) -> None:
    world.write()
    world.key_file.chmod(0o644)
    with pytest.raises(AuditKeyError, match="chmod 600"):
        world.verify()
    with pytest.raises(AuditKeyError, match="chmod 600"):
        world.writer().append("x")


def test_short_key_is_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "hunter2")
    with pytest.raises(AuditKeyError, match="at least 32"):
        world.writer().append("x")
    assert not world.log.exists() or world.log.read_text() == ""


# -- crashes and concurrent writers ---------------------------------------------------------


KILLED_AFTER_LINE = """
import os, sys
from pathlib import Path
from nightfix import state
from nightfix.audit import AuditLog
from nightfix.audit_key import KeySource
state.write_anchor = lambda *args: os._exit(9)  # the process dies after the line, before its anchor
log = AuditLog(sys.argv[1], KeySource(Path(sys.argv[2]), "NIGHTFIX_TEST_AUDIT_KEY"), sys.argv[3])
log.append("tool_allowed", tool="sandbox.exec")
"""


def test_crash_between_line_and_anchor_then_two_appends_verify(world: World) -> None:
    world.write(3)
    args = [str(world.log), str(world.key_file), str(world.db)]
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_LINE, *args], timeout=120)
    assert killed.returncode == 9 and len(world.lines()) == 4
    assert world.verify().ok and "after the anchor" in str(world.verify().note)
    later = world.writer()
    later.append("y")
    later.append("z")
    result = world.verify()
    assert result.ok and result.lines == 6 and result.note is None
    assert [json.loads(line)["seq"] for line in world.lines()] == list(range(6))


def test_torn_last_line_is_cut_and_the_chain_continues(world: World) -> None:
    world.write(3)
    torn = b'{"event":"tool_allowed","prev":"ab'  # a writer died mid-line
    with world.log.open("ab") as handle:
        handle.write(torn)
    result = world.verify()
    assert result.ok and "incomplete" in str(result.note)
    log = world.writer()
    log.append("y")
    log.append("z")
    result = world.verify()
    assert result.ok and result.lines == 6 and result.note is None
    cut = json.loads(world.lines()[3])
    assert cut["event"] == "torn_line_removed" and cut["bytes"] == len(torn)


WRITER = """
import sys
from pathlib import Path
from nightfix.audit import AuditLog
from nightfix.audit_key import KeySource
from nightfix.audit_rotate import rotate
log = AuditLog(sys.argv[1], KeySource(Path(sys.argv[2]), "NIGHTFIX_TEST_AUDIT_KEY"), sys.argv[3])
for n in range(int(sys.argv[5])):
    log.append("tool_allowed", writer=sys.argv[4], n=n)
"""


def test_concurrent_writer_processes_produce_a_valid_chain(world: World) -> None:
    args = [str(world.log), str(world.key_file), str(world.db)]
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, *args, str(w), "30"]) for w in range(4)
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0, 0]
    result = world.verify()
    assert result.ok and result.lines == 120, result.problem
    writers = [json.loads(line)["writer"] for line in world.lines()]
    assert sorted(writers) == sorted(str(w) for w in range(4) for _ in range(30))


# -- logs of the old unkeyed format -----------------------------------------------------------


def old_format_log(world: World) -> None:
    world.log.parent.mkdir(parents=True, exist_ok=True)
    world.rewrite(sha256_chain([{"ts": "t", "event": "run_start", "n": n} for n in range(3)]))


def test_append_to_unkeyed_log_is_refused(world: World) -> None:
    old_format_log(world)
    before = world.log.read_bytes()
    with pytest.raises(AuditError, match=r"old unkeyed format.*mv "):
        world.writer().append("x")
    assert world.log.read_bytes() == before and not world.key_file.exists()


def test_unkeyed_log_is_reported_as_unkeyed_not_intact(world: World) -> None:
    old_format_log(world)
    result = world.verify()
    assert not result.ok and result.unkeyed and "consistent over 3 lines" in str(result.problem)


# -- rotation ----------------------------------------------------------------------------------


def test_rotated_log_verifies_and_a_running_writer_follows_to_the_new_chain(world: World) -> None:
    running = world.writer()
    running.append("x")
    running.append("y")
    archive, result = rotate(world.log, world.keys, world.db)
    assert result.ok and not world.log.exists()
    running.append("z")  # its descriptor named the archive: it reopens the path instead
    new = world.verify()
    assert new.ok and new.lines == 1 and json.loads(world.lines()[0])["event"] == "z"
    old = verify(archive, world.keys, world.db)
    assert old.ok and old.lines == 2


def test_rotating_a_tampered_log_is_refused(world: World) -> None:
    world.write()
    world.rewrite(world.lines()[:-1])
    with pytest.raises(AuditIntegrityError, match="does not verify"):
        rotate(world.log, world.keys, world.db)
    assert len(world.lines()) == 4 and "removed from the end" in str(world.verify().problem)


def test_unkeyed_log_is_rotated_and_a_keyed_chain_starts(world: World) -> None:
    old_format_log(world)
    archive, result = rotate(world.log, world.keys, world.db, world.log.with_name("old.jsonl"))
    assert result.unkeyed and archive.name == "old.jsonl"
    world.write(2)
    assert world.verify().ok


# -- the real command line ---------------------------------------------------------------------


def cli_verify(policy: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    cmd = [*NIGHTFIX, "audit", "verify", "--policy", str(policy), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})


def cli_world(tmp_path: Path) -> tuple[Path, Path]:
    policy_file = write_policy(tmp_path)
    log = AuditLog.for_policy(load_policy(policy_file))
    for n in range(4):
        log.append("tool_allowed", n=n)
    log.close()
    return policy_file, tmp_path / "audit.jsonl"


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    policy, path = cli_world(tmp_path)
    ok = cli_verify(policy)
    assert ok.returncode == 0 and "keyed chain intact" in ok.stdout, ok.stderr
    lines = path.read_text().splitlines()
    path.write_text("".join(line + "\n" for line in lines[:1] + lines[2:]))
    bad = cli_verify(policy, str(path))
    assert bad.returncode == 1 and "TAMPERED" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_truncated_tail_and_deleted_anchor_are_detected(tmp_path: Path) -> None:
    policy, path = cli_world(tmp_path)
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[:-1]))
    cut = cli_verify(policy)
    assert cut.returncode == 1 and "removed from the end" in cut.stderr
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("DELETE FROM audit_anchor")
    gone = cli_verify(policy)
    assert gone.returncode == 1 and "no anchor" in gone.stderr


def test_cli_rehashed_chain_is_detected(tmp_path: Path) -> None:
    policy, path = cli_world(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[1]["n"] = 99
    path.write_text("".join(line + "\n" for line in sha256_chain(records)))
    result = cli_verify(policy)
    assert result.returncode == 1 and "UNKEYED" in result.stderr
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("DELETE FROM audit_anchor")
    result = cli_verify(policy)
    assert result.returncode == 1 and "UNKEYED: old unkeyed format" in result.stderr


def test_cli_missing_key_is_exit_2_naming_where_it_is_expected(tmp_path: Path) -> None:
    policy, _ = cli_world(tmp_path)
    (tmp_path / "audit.key").unlink()
    result = cli_verify(policy)
    assert result.returncode == 2 and str(tmp_path / "audit.key") in result.stderr
    assert ENV in result.stderr and "Traceback" not in result.stderr


def test_cli_rotate_moves_an_intact_log_and_refuses_a_tampered_one(tmp_path: Path) -> None:
    policy, path = cli_world(tmp_path)
    archive = tmp_path / "audit.1.jsonl"

    def cli_rotate(to: Path) -> Any:
        cmd = [*NIGHTFIX, "audit", "rotate", str(to), "--policy", str(policy)]
        return subprocess.run(cmd, capture_output=True, text=True)

    moved = cli_rotate(archive)
    assert moved.returncode == 0 and "4 lines" in moved.stdout, moved.stderr
    assert cli_verify(policy, str(archive)).returncode == 0 and not path.exists()
    cli_world(tmp_path)  # a new chain at the old path
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[:-1]))
    refused = cli_rotate(tmp_path / "audit.2.jsonl")
    assert refused.returncode == 1 and "does not verify" in refused.stderr and path.exists()
