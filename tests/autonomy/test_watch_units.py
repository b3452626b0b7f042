"""The watch loop's guards that need no server: kill switch, back-off arithmetic."""

from pathlib import Path

from nightfix.autonomy.trigger import decide
from nightfix.autonomy.watch import PollReport, Watcher, jittered
from nightfix.autonomy.watch_state import WatchState
from nightfix.policy import parse_policy

ISSUE = {
    "id": "7",
    "fingerprint": "fp",
    "title": "ConnectionPoolExhausted",
    "level": "error",
    "substatus": "new",
    "user_count": 3,
    "environments": ["production"],
    "transaction": "/checkout",
}


def no_model(issue_id: str):
    raise AssertionError(f"no model may be made (issue {issue_id})")


def test_kill_switch_set_means_no_run_is_claimed(tmp_path: Path):
    stop = tmp_path / "STOP"
    stop.write_text("")
    policy = parse_policy(f"kill_switch: {{file: '{stop}'}}\n")
    state = WatchState.open(tmp_path / "state.db")
    watcher = Watcher(policy, no_model, state=state, say=lambda _text: None)
    decision = decide(ISSUE, 40, policy.trigger)
    assert decision.critical
    report = PollReport()
    assert watcher.try_claim(decision, report) is None
    assert "kill switch" in report.skipped[0] and state.runs() == []
    stop.unlink()
    assert watcher.try_claim(decision, PollReport()) is not None
    state.close()


def test_jittered_backoff_doubles_within_bounds():
    for failures, base in ((1, 5.0), (2, 10.0), (3, 20.0)):
        for _ in range(50):
            assert base * 0.5 <= jittered(5.0, failures, 600) <= base * 1.5
    assert jittered(5.0, 30, 60) <= 60
