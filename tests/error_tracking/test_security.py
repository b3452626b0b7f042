"""The collector's door checks, each named after the attack it stops."""

from __future__ import annotations

import gzip
import json
import zlib

import brotli
import pytest

from nightfix_errors.envelope import envelope_events
from nightfix_errors.security import (
    IngestRejected,
    check_body_size,
    check_json_depth,
    check_project_id,
    check_project_key,
    extract_sentry_key,
    inflate_capped,
)

CAP = 1024 * 1024


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress)],
)
def test_zip_bomb_stops_at_the_cap(encoding: str, compress: object) -> None:
    bomb = compress(b"\0" * (20 * CAP))  # type: ignore[operator]
    with pytest.raises(IngestRejected) as exc:
        inflate_capped(bomb, encoding, CAP)
    assert exc.value.status == 413


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "identity", None])
def test_body_at_the_cap_still_inflates(encoding: str | None) -> None:
    data = b"a" * CAP
    body = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}.get(
        encoding or "", lambda b: b
    )(data)
    assert inflate_capped(body, encoding, CAP) == data


def test_raw_deflate_without_zlib_header_is_accepted() -> None:
    c = zlib.compressobj(wbits=-15)
    body = c.compress(b'{"message":"x"}') + c.flush()
    assert inflate_capped(body, "deflate", CAP) == b'{"message":"x"}'


def test_declared_oversize_body_is_refused_before_reading() -> None:
    with pytest.raises(IngestRejected) as exc:
        check_body_size(str(CAP + 1), CAP)
    assert exc.value.status == 413
    with pytest.raises(IngestRejected) as exc:
        check_body_size("lots", CAP)
    assert exc.value.status == 400


def test_key_of_one_project_cannot_post_to_another() -> None:
    keys = {"k1": 1, "k2": 2}
    assert check_project_key("1", "k1", keys) == 1
    with pytest.raises(IngestRejected) as exc:
        check_project_key("2", "k1", keys)
    assert exc.value.status == 403
    with pytest.raises(IngestRejected) as exc:
        check_project_key("1", "guess", keys)
    assert exc.value.status == 401
    with pytest.raises(IngestRejected) as exc:
        check_project_key("1", None, keys)
    assert exc.value.status == 401
    with pytest.raises(IngestRejected) as exc:
        check_project_key("1/../2", "k1", keys)
    assert exc.value.status == 400  # not a project id at all


@pytest.mark.parametrize("project_id", ["\u00b2", "\u0661", "\uff11", "1\u00b9", "", "-1", " 1"])
def test_unicode_digit_project_id_is_refused_with_400_not_a_crash(project_id: str) -> None:
    # str.isdigit() is true for '²' (and Arabic-Indic or full-width digits), but int() fails.
    with pytest.raises(IngestRejected) as exc:
        check_project_id(project_id)
    assert exc.value.status == 400
    assert "must be a number" in exc.value.reason
    with pytest.raises(IngestRejected) as exc:
        check_project_key(project_id, "k1", {"k1": 1})
    assert exc.value.status == 400


def test_deeply_nested_event_is_refused_before_anything_recursive_walks_it() -> None:
    deep = json.loads('{"a":' * 900 + "1" + "}" * 900)  # orjson and json parse this fine
    with pytest.raises(IngestRejected) as exc:
        check_json_depth(deep)
    assert exc.value.status == 400
    assert "nested more than 64 levels" in exc.value.reason
    with pytest.raises(IngestRejected):
        check_json_depth(json.loads("[" * 65 + "]" * 65))
    with pytest.raises(IngestRejected):  # mixed and with siblings: depth, not container count
        check_json_depth([{}] * 100 + [json.loads('{"x":' * 64 + "[]" + "}" * 64)])
    very_deep: list[object] = []
    for _ in range(100_000):
        very_deep = [very_deep]
    with pytest.raises(IngestRejected):  # the depth itself cannot exhaust the check's stack
        check_json_depth(very_deep)


def test_event_at_the_depth_cap_or_merely_wide_is_accepted() -> None:
    check_json_depth(json.loads("[" * 64 + "]" * 64))
    check_json_depth({"a": "[" * 500, "b": [[1, {}]] * 500, "c": []})
    check_json_depth("scalar")


def test_sentry_key_is_read_from_header_or_query() -> None:
    header = {"x-sentry-auth": "Sentry sentry_version=7, sentry_client=x/1, sentry_key=abc"}
    assert extract_sentry_key(header, {}) == "abc"
    assert extract_sentry_key({}, {"sentry_key": "q"}) == "q"
    assert extract_sentry_key({"authorization": "Bearer abc"}, {}) is None


def test_envelope_with_too_many_items_is_refused() -> None:
    body = b"{}\n" + b'{"type":"session"}\n{}\n' * 101
    with pytest.raises(IngestRejected, match="more than 100 items"):
        envelope_events(body)


def test_envelope_with_negative_length_is_refused() -> None:
    with pytest.raises(IngestRejected, match="bad length"):
        envelope_events(b'{}\n{"type":"event","length":-5}\n{}')
