"""The host's end of a sandbox's command channel: the container's attach stream.

The sandbox's PID 1 (incontainer/init.py) reads one JSON request per line on its stdin
and answers one JSON reply per line on its stdout, each carrying the request's id. One
reader thread per channel demultiplexes Docker's stream frames and hands each reply to
the caller waiting for it, so several requests can be in flight at once. A command costs
one round trip on an open socket instead of a `docker exec` (create, start, inspect).

Every line in both directions is `<hmac> <json>`: an HMAC-SHA256 under a key made here and
handed to PID 1 in the first request (`hello`), before any command runs. PID 1 and the
supervisors keep it in memory only, which the sandbox user cannot read (not dumpable).
Where a runtime still lets the sandbox user open PID 1's file descriptors (gVisor's
/proc/1/fd), a line it writes into the channel or into a supervisor's result pipe has no
valid HMAC and is refused, so it cannot forge a command's result.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import socket
import threading
import uuid
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from docker.utils.socket import STDERR, STDOUT, frames_iter

from nightfix_sandbox.errors import SandboxError

log = logging.getLogger(__name__)
GONE = "the sandbox container is gone; create a new one"
_SIGNED = re.compile(rb"([0-9a-f]{64}) \{")


class CommandChannel:
    """Requests to one sandbox's PID 1; replies matched to requests by id."""

    def __init__(self, stream: Any, name: str) -> None:
        # docker-py hands back a SocketIO; its socket carries both directions.
        self._stream = stream
        self._sock: socket.socket = stream._sock
        self._sock.settimeout(None)  # replies may be minutes apart (a long test run)
        self._name = name
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()  # guards _waiting and _closed
        self._send_lock = threading.Lock()  # one request on the wire at a time
        self._waiting: dict[str, Future[dict[str, Any]]] = {}
        self._closed: str | None = None
        self._reader = threading.Thread(target=self._read, name=f"nf-chan-{name}", daemon=True)
        self._reader.start()

    def request(self, op: str, deadline_s: float, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its reply (a dict with `ok` true)."""
        rid = uuid.uuid4().hex
        waiter: Future[dict[str, Any]] = Future()
        # ASCII-only JSON: no raw control byte ever reaches the stream, so Docker's detach
        # keys (ctrl-p ctrl-q) cannot appear in a request and cut the channel.
        if op == "hello":
            fields = {**fields, "key": self._key.hex()}
        payload = json.dumps({"id": rid, "op": op, **fields}, ensure_ascii=True).encode()
        line = self._mac(payload) + b" " + payload + b"\n"
        with self._lock:
            if self._closed:
                raise SandboxError(self._closed)
            self._waiting[rid] = waiter
        try:
            # Its own lock: the reader must never wait for a sender that waits for PID 1.
            with self._send_lock:
                self._sock.sendall(line)
        except OSError:
            with self._lock:
                self._waiting.pop(rid, None)
            raise SandboxError(GONE) from None
        try:
            reply = waiter.result(timeout=deadline_s)
        except FutureTimeout:
            raise SandboxError("the sandbox did not answer in time; destroy it") from None
        finally:
            with self._lock:
                self._waiting.pop(rid, None)
        if not reply.get("ok"):
            raise SandboxError(f"the sandbox refused the request: {reply.get('error')}")
        return reply

    def _authentic(self, line: bytes) -> bytes | None:
        """The payload of the signed `<hmac> <json>` in line, or None.

        Bytes written ahead of a genuine line (from inside, without a newline) are skipped:
        the first position where a valid HMAC starts wins; nothing unsigned ever does.
        """
        for m in _SIGNED.finditer(line):
            payload = line[m.end() - 1 :]
            if hmac.compare_digest(m.group(1), self._mac(payload)):
                return payload
        return None

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest().encode()

    def close(self, why: str = GONE) -> None:
        """Fail every waiting request and close the socket (idempotent)."""
        with self._lock:
            if self._closed is None:
                self._closed = why
            waiting = list(self._waiting.values())
            self._waiting.clear()
        for waiter in waiting:
            with contextlib.suppress(InvalidStateError):  # answered in the meantime
                waiter.set_exception(SandboxError(why))
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._stream.close()

    def _read(self) -> None:
        buf = bytearray()
        try:
            for kind, data in frames_iter(self._stream, tty=False):
                if kind == STDERR:
                    said = data[-500:].decode("utf-8", "replace")
                    log.warning("sandbox %s PID 1: %s", self._name, said)
                elif kind == STDOUT:
                    buf += data
                    if b"\n" in data:
                        buf = self._dispatch(buf)
        except (OSError, ValueError) as exc:
            log.debug("sandbox %s channel ended: %s", self._name, exc)
        finally:
            self.close()

    def _dispatch(self, buf: bytearray) -> bytearray:
        """Hand every complete line in buf to its waiter; return what is left."""
        lines = bytes(buf).split(b"\n")
        for line in lines[:-1]:
            payload = self._authentic(line)
            if payload is None:
                log.warning("sandbox %s: a reply without a valid HMAC; ignored", self._name)
                continue
            try:
                reply = json.loads(payload)
                rid = reply["id"]
            except (ValueError, KeyError, TypeError):
                log.warning("sandbox %s sent an unreadable reply; ignored", self._name)
                continue
            with self._lock:
                waiter = self._waiting.get(rid) if isinstance(rid, str) else None
            if waiter is None:
                log.warning("sandbox %s: reply to no waiting request: %s", self._name, line[:200])
            else:
                with contextlib.suppress(InvalidStateError):  # failed by close() meanwhile
                    waiter.set_result(reply)
        return bytearray(lines[-1])
