"""Scrubbing at ingest: each test is named after the leak it stops."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import SAMPLES, python_event

from nightfix_errors.normalize import normalize_event
from nightfix_errors.scrub import FILTERED, Scrubber


def test_password_local_variable_is_filtered_and_its_echo_in_the_message_too() -> None:
    event = python_event()
    exc = event["exception"]["values"][0]
    exc["value"] = "login failed for bob with 'hunter2-secret'"
    exc["stacktrace"]["frames"][-1]["vars"] = {"password": "'hunter2-secret'", "user": "'bob'"}
    out = json.dumps(Scrubber().scrub(event))
    assert "hunter2-secret" not in out
    assert '"password": "[Filtered]"' in out and "'bob'" in out


def test_authorization_and_cookie_headers_are_filtered_in_both_header_forms() -> None:
    for headers in (
        {"Authorization": "Bearer abc.def.ghi123456", "Cookie": "sid=s3ss10n", "Accept": "*/*"},
        [
            ["Authorization", "Bearer abc.def.ghi123456"],
            ["Cookie", "sid=s3ss10n"],
            ["Accept", "*/*"],
        ],
    ):
        out = Scrubber().scrub({"message": "m", "request": {"headers": headers}})
        text = json.dumps(out)
        assert "abc.def.ghi123456" not in text and "s3ss10n" not in text
        assert "*/*" in text


def test_api_keys_tokens_and_secrets_by_key_name() -> None:
    data = {
        "extra": {
            "api_key": "k-123456",
            "GITHUB_TOKEN": "ghp_x",
            "client_secret": "cs",
            "nested": {"private_key": {"pem": "-----BEGIN"}},
            "count": 3,
        }
    }
    out = Scrubber().scrub(data)["extra"]
    assert out["api_key"] == out["GITHUB_TOKEN"] == out["client_secret"] == FILTERED
    assert out["nested"]["private_key"] == {"pem": FILTERED}
    assert out["count"] == 3


def test_credit_card_numbers_in_free_text_are_filtered_but_other_numbers_kept() -> None:
    s = Scrubber()
    assert s.scrub_text("card 4111 1111 1111 1111 declined") == f"card {FILTERED} declined"
    assert s.scrub_text("order 1234567890123 shipped") == "order 1234567890123 shipped"  # not Luhn


def test_bearer_tokens_and_url_credentials_in_free_text() -> None:
    s = Scrubber()
    assert "abcdefgh12345" not in s.scrub_text("sent Bearer abcdefgh12345 upstream")
    assert "pa55word" not in s.scrub_text("postgres://app:pa55word@db:5432/shop")


def test_configured_extra_patterns_scrub_more() -> None:
    s = Scrubber(extra_key_patterns=[r"^ssn_?hash$"], extra_value_patterns=[r"EMP-\d{6}"])
    out = s.scrub({"message": "employee EMP-123456 failed", "extra": {"ssn_hash": "abcd"}})
    assert out["message"] == f"employee {FILTERED} failed"
    assert out["extra"]["ssn_hash"] == FILTERED


def test_event_id_with_a_card_like_digit_run_survives_scrubbing() -> None:
    event = python_event(event_id="4111111111111111" + "ab" * 8)
    assert Scrubber().scrub(event)["event_id"] == event["event_id"]
    assert normalize_event(Scrubber().scrub(event)).event_id == event["event_id"]


def test_pii_sample_keeps_its_meaning_after_scrubbing() -> None:
    event = json.loads((SAMPLES / "pii.json").read_text())
    ev = normalize_event(Scrubber().scrub(event))
    assert ev.title.startswith("RuntimeError: Invalid device")
    assert ev.culprit == "__main__ in crash"


def test_a_scrubber_reused_across_events_still_filters_every_secret_each_time() -> None:
    """The clean-string memo of a long-lived scrubber never lets a secret through, nor keeps one."""
    scrubber = Scrubber(extra_value_patterns=[r"acct-\d{6}"])
    line = "    charge(card, token=tok)  # see acct-123456"
    secrets = (
        "Bearer abc.def.ghi123456",
        "https://bob:pw1234567@db.local/x",
        "4111 1111 1111 1111",
    )
    for round_ in range(5):  # the same strings again: the memo must give the same answer
        event = python_event()
        frame = event["exception"]["values"][0]["stacktrace"]["frames"][-1]
        frame["context_line"] = line
        frame["pre_context"] = ["def pay(card):", *secrets]
        frame["vars"] = {"note": "'see acct-654321'"}
        if round_ < 2:  # a password local, echoed in the message: that event is not memoized
            frame["vars"]["password"] = "'hunter2-secret'"
            event["exception"]["values"][0]["value"] = f"round {round_}: hunter2-secret rejected"
        text = json.dumps(scrubber.scrub(event))
        for leaked in ("abc.def.ghi123456", "pw1234567", "4111 1111 1111 1111", "hunter2-secret"):
            assert leaked not in text, (round_, leaked)
        assert "acct-123456" not in text and "acct-654321" not in text
        assert "def pay(card):" in text  # clean text stays as it was
        remembered = " ".join(scrubber._clean)
        assert ("def pay(card):" in remembered) == (round_ >= 2)
        assert not any(
            s in remembered for s in ("abc.def", "pw1234567", "4111", "acct-", "hunter2")
        )


def test_secret_assigned_in_source_context_lines_is_filtered_even_after_the_memo_saw_it() -> None:
    """`db_password = "hunter2"` in pre_context/context_line/post_context is a secret too."""
    scrubber = Scrubber()
    line = 'db_password = "hunter2-in-code"'
    for round_ in range(3):
        event = python_event()
        event["message"] = line  # as free text it is clean, and the memo remembers it
        frame = event["exception"]["values"][0]["stacktrace"]["frames"][-1]
        frame["pre_context"] = [line, "x = 1"]
        frame["context_line"] = '    client = Client(api_key="ak_live_0123", retries=3)'
        frame["post_context"] = ["    headers = {'Authorization': 'Basic Ym9iOnB3ZA=='}"]
        out = scrubber.scrub(event)
        frame = out["exception"]["values"][0]["stacktrace"]["frames"][-1]
        assert frame["pre_context"] == ["db_password = [Filtered]", "x = 1"], round_
        assert frame["context_line"] == "    client = Client(api_key=[Filtered], retries=3)"
        assert "Ym9iOnB3ZA" not in frame["post_context"][0]
        assert "hunter2-in-code" not in out["message"]  # the echo goes as well


def test_context_lines_without_secret_assignments_are_kept_as_they_are() -> None:
    scrubber = Scrubber()
    lines = ["if password == expected:", "    return check(user)", "total = price * qty"]
    event = python_event()
    frame = event["exception"]["values"][0]["stacktrace"]["frames"][-1]
    frame["pre_context"] = lines
    out = scrubber.scrub(event)
    assert out["exception"]["values"][0]["stacktrace"]["frames"][-1]["pre_context"] == lines
