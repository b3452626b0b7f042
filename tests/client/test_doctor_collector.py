"""``nightfix doctor``'s collector check against a real ``nightfix-errors collect`` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nightfix.doctor import Check
from nightfix.doctor_collector import check_collector
from nightfix.errors import PolicyError
from nightfix.policy import Policy, parse_policy

COLLECT = Path(sys.executable).parent / "nightfix-errors"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def policy(url: str | None) -> Policy:
    return parse_policy(f"trigger: {{collector_url: {url!r}}}\n" if url else "")


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "NIGHTFIX_ERRORS_DB": str(tmp_path / "errors.db")}
    proc = subprocess.Popen(
        [str(COLLECT), "collect", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # until it listens (bounded; not a timed assertion)
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, "the collector exited at start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_without_collector_url_the_check_is_skipped() -> None:
    check = Check(**check_collector(policy(None)))
    assert check.status == "skip"


def test_a_running_collector_passes(collector: str) -> None:
    check = Check(**check_collector(policy(collector)))
    assert check.status == "ok", check
    assert collector in check.detail and "events committed" in check.detail


def test_a_stopped_collector_fails_with_how_to_start_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    check = Check(**check_collector(policy(url)))
    assert check.status == "FAIL"
    assert f"nothing answers on {url}/healthz" in check.detail
    assert check.fix is not None and "start the collector" in check.fix


def test_another_service_on_the_port_fails_as_not_a_collector() -> None:
    class NotACollector(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"service": "something else"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotACollector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        check = Check(**check_collector(policy(url)))
    finally:
        server.shutdown()
        server.server_close()
    assert check.status == "FAIL"
    assert "not as a nightfix-errors collector" in check.detail


@pytest.mark.parametrize("url", ["ftp://collector:9000", "http://u:p@collector:9000", "collector"])
def test_a_collector_url_that_is_not_a_plain_http_base_is_refused(url: str) -> None:
    with pytest.raises(PolicyError, match="collector_url"):
        policy(url)
