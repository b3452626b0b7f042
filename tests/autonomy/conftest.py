import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nightfix.autonomy.watch_state import WatchState


@pytest.fixture
def state(tmp_path: Path) -> Iterator[WatchState]:
    st = WatchState.open(tmp_path / "state.db")
    yield st
    st.close()


class WebhookReceiver:
    """A local Slack-compatible incoming-webhook endpoint that keeps what it receives."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/XXX"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


sys.path.insert(0, str(Path(__file__).parent))

from autonomy_support import demo_env, left_behind, sandbox_containers  # noqa: E402


@pytest.fixture(scope="module")
def errors_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collector store holding the checkout bug, reported by the real sentry-sdk.

    Per module, so the events stay inside the trigger's 10-minute window however slow CI is.
    """
    base = tmp_path_factory.mktemp("errors")
    repo = demo_env.make_repo(base / "traffic-repo")
    with demo_env.Collector(base / "errors.db") as collector:
        demo_env.drive_traffic(repo, collector.dsn, min_errors=8)
        demo_env.wait_for_issue(base / "errors.db", min_events=5)
    return base / "errors.db"


@pytest.fixture
def no_leaks() -> Iterator[None]:
    before = sandbox_containers()
    yield
    assert left_behind(before) == []
