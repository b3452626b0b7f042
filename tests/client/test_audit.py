"""The audit log's hash chain: any edited, removed, inserted or reordered line is detected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nightfix.audit import AuditLog, verify


def _log(tmp_path: Path, lines: int = 5) -> Path:
    log = AuditLog(tmp_path / "audit.jsonl")
    for n in range(lines):
        log.append("tool_allowed", run_id="r1", tool="errors.get_issue", n=n)
    log.close()
    return tmp_path / "audit.jsonl"


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def test_intact_log_verifies(tmp_path: Path) -> None:
    path = _log(tmp_path)
    result = verify(path)
    assert result.ok and result.lines == 5


def test_edited_line_detected(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    record["tool"] = "github.commit_files"
    lines[2] = json.dumps(record)
    _rewrite(path, lines)
    result = verify(path)
    assert not result.ok and "line 3" in str(result.problem)


def test_removed_middle_line_detected(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    _rewrite(path, lines[:2] + lines[3:])
    assert not verify(path).ok


def test_removed_last_line_detected_by_head(tmp_path: Path) -> None:
    path = _log(tmp_path)
    _rewrite(path, path.read_text().splitlines()[:-1])
    result = verify(path)
    assert not result.ok and "removed from the end" in str(result.problem)


def test_reordered_lines_detected(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    _rewrite(path, lines)
    assert not verify(path).ok


def test_second_writer_continues_the_chain(tmp_path: Path) -> None:
    first, second = AuditLog(tmp_path / "a.jsonl"), AuditLog(tmp_path / "a.jsonl")
    first.append("x")
    second.append("y")
    first.append("z")
    assert verify(tmp_path / "a.jsonl").lines == 3 and verify(tmp_path / "a.jsonl").ok


def test_secrets_never_written(tmp_path: Path) -> None:
    from nightfix.redaction import Redactor

    log = AuditLog(tmp_path / "a.jsonl", Redactor({"GITHUB_TOKEN": "ghp_supersecretvalue"}))
    log.append("tool_denied", tool="x", note="token ghp_supersecretvalue")
    assert "ghp_supersecretvalue" not in (tmp_path / "a.jsonl").read_text()
    assert verify(tmp_path / "a.jsonl").ok


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    path = _log(tmp_path)
    cmd = [sys.executable, "-m", "nightfix.cli", "audit", "verify", str(path)]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    lines = path.read_text().splitlines()
    _rewrite(path, lines[:1] + lines[2:])
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 1 and "TAMPERED" in bad.stderr
    assert "Traceback" not in bad.stderr
