"""``nightfix doctor``'s webhook check against a real listener on 127.0.0.1 (and without one)."""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nightfix.autonomy.listener import Listener, serve
from nightfix.autonomy.push import PushInbox, PushLedger
from nightfix.autonomy.watch_state import WatchState
from nightfix.doctor import Check
from nightfix.doctor_webhook import check_webhook
from nightfix.policy import Policy, parse_policy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def policy(listen: str | None) -> Policy:
    return parse_policy(f"trigger: {{listen: {listen!r}}}\n" if listen else "")


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTFIX_WEBHOOK_SECRET", "doctor-test-secret")


def test_without_listen_the_check_is_skipped() -> None:
    check = Check(**check_webhook(policy(None)))
    assert check.status == "skip" and "not configured" in check.detail


def test_listen_without_its_secret_fails_and_names_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("NIGHTFIX_WEBHOOK_SECRET")
    check = Check(**check_webhook(policy(f"127.0.0.1:{free_port()}")))
    assert check.status == "FAIL" and "$NIGHTFIX_WEBHOOK_SECRET is not set" in check.detail
    assert check.fix and "client secret" in check.fix


def test_nothing_listening_fails_with_how_to_start_it() -> None:
    port = free_port()
    check = Check(**check_webhook(policy(f"127.0.0.1:{port}")))
    assert check.status == "FAIL" and "nothing answers" in check.detail
    assert check.fix and f"nightfix watch --listen 127.0.0.1:{port}" in check.fix


async def test_a_running_listener_passes_with_its_counters(tmp_path: Path) -> None:
    state = WatchState.open(tmp_path / "state.db")
    ledger = PushLedger(state)
    ledger.count("bad_signature")
    listener = Listener(ledger, PushInbox(), b"s", policy(None).trigger, lambda _: None)
    serving = await serve(listener, "127.0.0.1", 0)
    try:
        found = await asyncio.to_thread(check_webhook, policy(serving.address))
    finally:
        await serving.stop()
        state.close()
    check = Check(**found)
    assert check.status == "ok", check
    assert "0 accepted, 1 refused" in check.detail


def test_another_service_on_the_port_fails() -> None:
    class Other(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check = Check(**check_webhook(policy(f"127.0.0.1:{server.server_address[1]}")))
    finally:
        server.shutdown()
        server.server_close()
    assert check.status == "FAIL" and "not as nightfix watch" in check.detail
