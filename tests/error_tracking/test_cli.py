"""The `nightfix-errors` command line: DSNs, default project, status changes, clear errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import BIN, fill_store, free_port, python_event, run_cli, wait_for

from nightfix_errors.migrations import MIGRATIONS, migrate


def test_project_create_prints_a_dsn_for_the_default_or_given_address(db_path: Path) -> None:
    dsn = run_cli("project", "create", "shop", db=db_path).stdout.strip()
    assert dsn.startswith("http://") and dsn.endswith("@127.0.0.1:9000/1")
    other = run_cli(
        "project", "create", "api", "--url", "https://errors.example:8443", db=db_path
    ).stdout.strip()
    assert other.startswith("https://") and other.endswith("@errors.example:8443/2")
    listed = run_cli("project", "list", db=db_path).stdout.splitlines()
    assert [line.split("\t")[1] for line in listed] == ["shop", "api"]


def test_duplicate_or_bad_project_name_is_one_clear_line_exit_1(db_path: Path) -> None:
    run_cli("project", "create", "shop", db=db_path)
    dup = run_cli("project", "create", "shop", db=db_path, check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    assert "Traceback" not in dup.stderr
    bad = run_cli("project", "create", "../etc", db=db_path, check=False)
    assert bad.returncode == 1 and "not allowed" in bad.stderr


def test_db_defaults_to_the_env_variable(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "e.db"
    run_cli("project", "create", "x", db=db)
    assert db.is_file()


def test_collect_without_project_creates_default_and_prints_its_dsn(db_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN), "collect", "--db", str(db_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("created project 'default'; DSN: http://")
        assert line.strip().endswith(f"@127.0.0.1:{port}/1")
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_issue_status_commands_and_regression(db_path: Path) -> None:
    fill_store(db_path, [python_event()])
    assert "unresolved -> ignored" in run_cli("issue", "ignore", "1", db=db_path).stdout
    assert "ignored -> resolved" in run_cli("issue", "resolve", "1", db=db_path).stdout
    fill_store(db_path, [python_event()])
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT status, substatus FROM issues").fetchone() == (
            "unresolved",
            "regressed",
        )
    assert "unresolved -> unresolved" in run_cli("issue", "unresolve", "1", db=db_path).stdout
    missing = run_cli("issue", "resolve", "42", db=db_path, check=False)
    assert missing.returncode == 1 and "no issue 42" in missing.stderr


def test_serve_on_a_missing_database_is_one_clear_line(tmp_path: Path) -> None:
    r = run_cli("serve", "--db", str(tmp_path / "none.db"), db=tmp_path / "x.db", check=False)
    assert r.returncode == 1
    assert "no error database" in r.stderr and "Traceback" not in r.stderr


def test_serve_sentry_backend_without_token_is_one_clear_line(tmp_path: Path) -> None:
    r = run_cli(
        "serve",
        "--backend",
        "sentry",
        "--org",
        "o",
        "--project",
        "p",
        db=tmp_path / "x.db",
        check=False,
    )
    assert r.returncode == 1 and "SENTRY_AUTH_TOKEN" in r.stderr


def test_every_command_has_help() -> None:
    for args in (
        ["--help"],
        ["collect", "--help"],
        ["serve", "--help"],
        ["project", "create", "--help"],
        ["issue", "resolve", "--help"],
    ):
        r = subprocess.run([str(BIN), *args], capture_output=True, text=True, check=True)
        assert "Usage:" in r.stdout and len(r.stdout) > 200


def test_migrations_are_recorded_once_and_rerunning_is_a_no_op(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(conn) == [m.__name__ for m in MIGRATIONS]
    assert migrate(conn) == []
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations")]
    assert names == [m.__name__ for m in MIGRATIONS]


def test_serve_over_http_transport_answers(db_path: Path) -> None:
    import httpx2

    fill_store(db_path, [python_event()])
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN), "serve", "--db", str(db_path), "--transport", "http", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        def up() -> bool:
            try:
                r = httpx2.post(
                    f"http://127.0.0.1:{port}/mcp",
                    json={
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "initialize",
                        "params": {
                            "protocolVersion": "2025-06-18",
                            "capabilities": {},
                            "clientInfo": {"name": "t", "version": "1"},
                        },
                    },
                    headers={"Accept": "application/json, text/event-stream"},
                    timeout=5,
                )
            except httpx2.HTTPError:
                return False
            return r.status_code == 200 and "nightfix-errors" in r.text

        wait_for(up, what="MCP over HTTP to answer initialize")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_collect_on_a_port_in_use_is_one_clear_line(db_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_cli("collect", "--port", str(port), db=db_path, check=False)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
