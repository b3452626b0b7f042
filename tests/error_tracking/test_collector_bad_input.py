"""Every kind of bad input gets a clear refusal, and the collector keeps serving good events."""

from __future__ import annotations

import gzip
import json
import sqlite3
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import (
    SAMPLES,
    Collector,
    envelope,
    python_event,
    start_collector,
    stop_collector,
)

BOMB_SIZE = 64 * 1024 * 1024  # inflates to 64 MiB; the collector's cap here is 2 MiB


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """A collector with small limits: 256 KiB bodies, 2 MiB inflated, 3 queued events."""
    c = start_collector(
        tmp_path_factory.mktemp("bad") / "errors.db",
        "--max-body",
        str(256 * 1024),
        "--max-inflated",
        str(2 * 1024 * 1024),
        "--max-queue",
        "3",
    )
    try:
        yield c
    finally:
        log = stop_collector(c)
        assert "Traceback" not in log, log


def assert_still_serving(c: Collector) -> None:
    event = python_event()
    r = c.post(envelope(event))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == event["event_id"]

    def stored() -> bool:
        with sqlite3.connect(c.db) as conn:
            row = conn.execute("SELECT 1 FROM events WHERE event_id = ?", (event["event_id"],))
            return row.fetchone() is not None

    from nfe_harness import wait_for

    wait_for(stored, what="the good event to be committed")


def test_malformed_json_on_store_endpoint_is_400_with_reason(small: Collector) -> None:
    r = small.post(b'{"exception": {"values": [', kind="store", encoding=None)
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["detail"]
    assert_still_serving(small)


def test_malformed_envelope_header_is_400_with_reason(small: Collector) -> None:
    r = small.post(b"not json at all\n{}\n{}\n")
    assert r.status_code == 400
    assert "envelope header is not JSON" in r.json()["detail"]
    assert_still_serving(small)


def test_envelope_item_longer_than_the_body_is_400(small: Collector) -> None:
    r = small.post(b'{}\n{"type":"event","length":5000}\n{"message":"x"}\n')
    assert r.status_code == 400
    assert "truncated" in r.json()["detail"]
    assert_still_serving(small)


def test_envelope_event_item_that_is_not_json_is_400(small: Collector) -> None:
    r = small.post(b'{}\n{"type":"event"}\n{"exception": oops}\n')
    assert r.status_code == 400
    assert "event item 1 is not valid JSON" in r.json()["detail"]
    assert_still_serving(small)


def test_event_without_exception_or_message_is_400(small: Collector) -> None:
    r = small.post(b'{"platform": "python"}', kind="store", encoding=None)
    assert r.status_code == 400
    assert "neither an exception nor a message" in r.json()["detail"]


def test_invalid_interfaces_sample_is_refused_with_a_clear_400(small: Collector) -> None:
    body = (SAMPLES / "invalid-interfaces.json").read_bytes()
    for kind in ("store", "envelope"):
        payload = (
            body if kind == "store" else b"{}\n" + b'{"type":"event"}\n' + body.replace(b"\n", b" ")
        )
        r = small.post(payload, kind=kind)
        assert r.status_code == 400, (kind, r.text)
        assert "not valid JSON" in r.json()["detail"]
    assert_still_serving(small)


def test_missing_key_is_401(small: Collector) -> None:
    r = small.post(envelope(python_event()), headers={"X-Sentry-Auth": "Sentry sentry_version=7"})
    assert r.status_code == 401
    assert "missing sentry_key" in r.json()["detail"]


def test_unknown_key_is_401(small: Collector) -> None:
    r = small.post(envelope(python_event()), key="0" * 32)
    assert r.status_code == 401
    assert "unknown sentry_key" in r.json()["detail"]
    assert_still_serving(small)


def test_key_of_another_project_is_403(small: Collector) -> None:
    r = small.post(envelope(python_event()), project_id=small.project_id + 41)
    assert r.status_code == 403
    r = small.post(envelope(python_event()), kind="store", project_id=small.project_id + 1)
    assert r.status_code == 403


def test_key_in_query_parameter_is_accepted(small: Collector) -> None:
    import httpx2

    r = httpx2.post(
        f"{small.url}/api/{small.project_id}/store/?sentry_key={small.key}&sentry_version=7",
        content=json.dumps(python_event()).encode(),
    )
    assert r.status_code == 200, r.text


def test_oversize_body_is_413(small: Collector) -> None:
    event = python_event(extra={"blob": "x" * (300 * 1024)})
    r = small.post(json.dumps(event).encode(), kind="store", encoding=None)
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]
    assert_still_serving(small)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_zip_bomb_is_413_before_being_inflated_whole(small: Collector, encoding: str) -> None:
    zeros = b"{" + b" " * BOMB_SIZE
    bomb = {
        "gzip": lambda: gzip.compress(zeros, 9),
        "deflate": lambda: zlib.compress(zeros, 9),
        "br": lambda: brotli.compress(zeros, quality=5),
    }[encoding]()
    assert len(bomb) < 256 * 1024  # passes the size check on the wire ...
    r = small.post(bomb, encoding=None, headers={"Content-Encoding": encoding})
    assert r.status_code == 413  # ... and is refused while inflating
    assert "inflates past" in r.json()["detail"]
    assert_still_serving(small)


def test_unknown_content_encoding_is_refused(small: Collector) -> None:
    r = small.post(b"abc", encoding=None, headers={"Content-Encoding": "zstd-ish"})
    assert r.status_code == 415
    assert "unsupported Content-Encoding" in r.json()["detail"]


def test_corrupt_gzip_is_400(small: Collector) -> None:
    r = small.post(b"\x1f\x8b\x08\x00garbage", encoding=None, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400
    assert "gzip" in r.json()["detail"]


def test_overload_is_429_with_retry_after_not_an_unbounded_queue(small: Collector) -> None:
    events = [python_event() for _ in range(4)]  # more than the whole queue (3) holds
    body = b"{}\n" + b"".join(
        b'{"type":"event"}\n' + json.dumps(e).encode() + b"\n" for e in events
    )
    r = small.post(body)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    with sqlite3.connect(small.db) as conn:
        ids = {e["event_id"] for e in events}
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
    assert not ids & stored  # refused means nothing of it was queued
    assert_still_serving(small)
