import subprocess
import sys
from datetime import timedelta

from nightfix.autonomy.watch_state import WatchState, now_utc

LIMITS = {"max_concurrent": 2, "max_runs_per_day": 3, "trust_phase": 3, "decision": "test"}


def test_second_claim_for_the_same_issue_or_fingerprint_is_refused(state):
    assert state.claim("r1", "7", "fp", **LIMITS) is None
    refusal = state.claim("r2", "7", "other-fp", **LIMITS)
    assert refusal and "run r1 for this issue is running" in refusal.reason
    refusal = state.claim("r3", "8", "fp", **LIMITS)
    assert refusal and "r1" in refusal.reason


def test_open_pull_request_blocks_a_new_run(state):
    state.claim("r1", "7", "fp", **LIMITS)
    state.finish("r1", "delivered", "completed", pr_number=3)
    refusal = state.claim("r2", "7", "fp", **LIMITS)
    assert refusal and "pull request #3" in refusal.reason


def test_daily_and_concurrency_limits(state):
    assert state.claim("a", "1", "f1", **LIMITS) is None
    assert state.claim("b", "2", "f2", **LIMITS) is None
    refusal = state.claim("c", "3", "f3", **LIMITS)
    assert refusal and "2 run(s) in flight, the limit is 2" in refusal.reason
    state.finish("a", "stopped", "no_fix")
    assert state.claim("c", "3", "f3", **LIMITS) is None
    state.finish("b", "stopped", "no_fix")
    state.finish("c", "stopped", "no_fix")
    refusal = state.claim("d", "4", "f4", **LIMITS)
    assert refusal and "3 run(s) in the last 24 h, the limit is 3" in refusal.reason


def test_a_verdict_blocks_the_issue_for_a_day_but_an_interruption_does_not(state):
    state.claim("a", "1", "f1", **LIMITS)
    state.finish("a", "stopped", "verification_failed:regression_test")
    assert state.claim("b", "1", "f1", **LIMITS) is not None
    later = now_utc() + timedelta(hours=25)
    assert state.claim("b", "1", "f1", **{**LIMITS, "max_runs_per_day": 9}, now=later) is None
    state.finish("b", "stopped", "interrupted")
    assert state.claim("c", "1", "f1", **{**LIMITS, "max_runs_per_day": 9}, now=later) is None


def test_retry_after_hours_from_the_policy_sets_how_long_a_verdict_blocks(state):
    state.claim("a", "1", "f1", **LIMITS)
    state.finish("a", "stopped", "no_fix")
    refusal = state.claim("b", "1", "f1", **LIMITS, retry_after_hours=2)
    assert refusal and "ended no_fix less than 2 h ago" in refusal.reason
    later = now_utc() + timedelta(hours=3)
    assert state.claim("b", "1", "f1", **LIMITS, retry_after_hours=2, now=later) is None
    state.finish("b", "stopped", "no_fix")
    assert state.claim("c", "1", "f1", **LIMITS, retry_after_hours=0, now=later) is None


def test_run_of_a_killed_watcher_is_expired_and_the_issue_can_run_again(tmp_path):
    db = tmp_path / "state.db"
    code = (
        "from nightfix.autonomy.watch_state import WatchState\n"
        f"s = WatchState.open({str(db)!r})\n"
        "s.claim('dead', '7', 'fp', max_concurrent=1, max_runs_per_day=5, trust_phase=2,"
        " decision='x')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # its process is gone now
    state = WatchState.open(db)
    assert state.get("dead")["status"] == "running"
    assert state.claim("new", "7", "fp", **LIMITS) is None
    dead = state.get("dead")
    assert dead["status"] == "stopped" and dead["stop_reason"] == "interrupted"
    state.close()


def test_state_survives_reopening(tmp_path):
    state = WatchState.open(tmp_path / "s.db")
    state.claim("r1", "7", "fp", **LIMITS)
    state.update("r1", files={"a.py": "x"}, evidence={"ok": True})
    state.close()
    again = WatchState.open(tmp_path / "s.db")
    row = again.get("r1")
    assert row["files"] == {"a.py": "x"} and row["evidence"] == {"ok": True}
    assert again.get("r")["run_id"] == "r1"  # unique prefix
    again.close()


def test_backoff_is_recorded_and_cleared(state: WatchState):
    assert state.record_failure("errors", 5.0, "connection refused") == 1
    assert state.record_failure("errors", 10.0, "connection refused") == 2
    assert state.backoff_until("errors") > now_utc()
    assert [r["failures"] for r in state.backoff_log()] == [1, 2]
    state.record_success("errors")
    assert state.backoff_until("errors") is None and state.failures("errors") == 0


def test_two_watchers_racing_for_one_issue_start_one_run(tmp_path):
    import threading

    db = tmp_path / "race.db"
    WatchState.open(db).close()
    barrier = threading.Barrier(8)
    won: list[str] = []

    def racer(n: int) -> None:
        st = WatchState.open(db)
        barrier.wait()
        if st.claim(f"run{n}", "7", "fp", **{**LIMITS, "max_concurrent": 8}) is None:
            won.append(f"run{n}")
        st.close()

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    st = WatchState.open(db)
    assert [r["run_id"] for r in st.runs()] == won
    st.close()
