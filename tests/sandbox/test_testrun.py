"""JUnit parsing and runner detection of run_tests (no Docker needed)."""

from __future__ import annotations

from nightfix_sandbox.testrun import _parse_summary, is_pytest, parse_junit

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4">
<testcase classname="tests.test_calc" name="test_ok" time="0.001"/>
<testcase classname="tests.test_calc.TestAdd" name="test_neg" time="0.001">
  <failure message="assert -1 == 1">def test_neg():
&gt;   assert add(-1, 2) == 1
E   assert -1 == 1</failure>
  <system-out>debug line</system-out>
</testcase>
<testcase classname="tests.test_io" name="test_file" time="0.0">
  <error message="failed on setup with &quot;FileNotFoundError&quot;">fixture trace</error>
</testcase>
<testcase classname="test_top" name="test_skip" time="0.0">
  <skipped type="pytest.skip" message="not today">skip</skipped>
</testcase>
</testsuite></testsuites>"""


def test_parse_junit_counts_and_failures_with_pytest_ids() -> None:
    counts, failures = parse_junit(JUNIT)
    assert counts == {"passed": 1, "failed": 1, "errors": 1, "skipped": 1}
    assert [f.test_id for f in failures] == [
        "tests/test_calc.py::TestAdd::test_neg",
        "tests/test_io.py::test_file",
    ]
    assert failures[0].message == "assert -1 == 1"
    assert "assert add(-1, 2) == 1" in failures[0].output_tail
    assert "debug line" in failures[0].output_tail


def test_parse_junit_tolerates_garbage() -> None:
    assert parse_junit("<not xml") == ({"passed": 0, "failed": 0, "errors": 0, "skipped": 0}, [])


def test_parse_junit_refuses_entity_expansion_bomb() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + ']><testsuite><testcase name="&i;"/></testsuite>'
    )
    counts, _ = parse_junit(bomb)  # expat refuses the amplification; nothing hangs
    assert counts["passed"] <= 1


def test_is_pytest_detects_custom_pytest_commands() -> None:
    assert is_pytest("python -m pytest tests/test_x.py::test_y")
    assert is_pytest("/opt/venv/bin/pytest -x")
    assert not is_pytest("make test")
    assert not is_pytest("echo 'unbalanced")


def test_summary_line_of_other_runners() -> None:
    assert _parse_summary("...\n3 passed, 1 failed, 2 skipped in 0.1s") == {
        "passed": 3,
        "failed": 1,
        "errors": 0,
        "skipped": 2,
    }
