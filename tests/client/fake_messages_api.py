"""Local HTTP servers speaking a model API from a script: the Anthropic Messages API
(``POST /v1/messages``) here, Chat Completions in ``fake_chat_api``.

Each script entry is ``(status, body, headers)``, or :data:`HANG` (the request is never
answered until the server stops); requests are recorded (decoded JSON, and their headers) so
tests can check what the real SDK sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, Any], dict[str, str]]
HANG: Reply = (0, {}, {})


def message(content: list[dict[str, Any]], usage: dict[str, int], stop: str = "tool_use") -> Reply:
    body = {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    return 200, body, {}


def tool_use(call_id: str, name: str, args: dict[str, Any], **usage: int) -> Reply:
    use = {"input_tokens": 100, "output_tokens": 20, **usage}
    return message([{"type": "tool_use", "id": call_id, "name": name, "input": args}], use)


def error(status: int, kind: str, text: str, headers: dict[str, str] | None = None) -> Reply:
    return status, {"type": "error", "error": {"type": kind, "message": text}}, headers or {}


class ScriptedAPI:
    """Answers ``POST path`` from ``script``, in order; anything else is a 404."""

    def __init__(self, script: list[Reply], path: str) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                outer.requests.append(json.loads(self.rfile.read(length)))
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.split("?")[0] != path or not outer.script:
                    status, body, headers = error(404, "not_found_error", "no scripted reply")
                else:
                    status, body, headers = outer.script.pop(0)
                if status == HANG[0]:
                    outer.released.wait()
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class FakeMessagesAPI(ScriptedAPI):
    def __init__(self, script: list[Reply]) -> None:
        super().__init__(script, "/v1/messages")
