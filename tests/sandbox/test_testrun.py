"""Reading runners' reports: JUnit by test id, pytest's ids, the cross-check (no Docker)."""

from __future__ import annotations

from nightfix_sandbox.testrun import _parse_summary
from nightfix_sandbox.toolchains import custom, detect, junit
from nightfix_sandbox.toolchains.python import (
    PythonToolchain,
    is_pytest,
    pytest_id,
    summary_counts,
)

# What pytest 8 writes with -o junit_family=xunit1 (file attributes), trimmed.
JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="2" skipped="2" tests="7">
<testcase classname="tests.test_calc" name="test_ok" file="tests/test_calc.py" time="0.001"/>
<testcase classname="tests.test_calc.TestAdd" name="test_neg" file="tests/test_calc.py">
  <failure message="assert -1 == 1">def test_neg():
&gt;   assert add(-1, 2) == 1
E   assert -1 == 1</failure>
  <system-out>debug line</system-out>
</testcase>
<testcase classname="tests.test_pool" name="test_burst[11]" file="tests/test_pool.py">
  <failure message="checkout.db.ConnectionPoolExhausted: all 10 connections are in use">tb</failure>
</testcase>
<testcase classname="tests.test_io" name="test_file" file="tests/test_io.py">
  <error message="failed on setup with &quot;FileNotFoundError: x&quot;">fixture trace</error>
</testcase>
<testcase classname="test_top" name="test_skip" file="test_top.py">
  <skipped type="pytest.skip" message="not today">skip</skipped>
</testcase>
<testcase classname="test_top" name="test_xf" file="test_top.py">
  <skipped type="pytest.xfail" message="">xfail</skipped>
</testcase>
<testcase classname="" name="tests.sub.test_broken" file="tests/sub/test_broken.py">
  <error message="collection failure">ImportError while importing test module</error>
</testcase>
</testsuite></testsuites>"""
SUMMARY = "2 failed, 1 passed, 1 skipped, 1 xfailed, 2 errors in 0.12s"


def test_pytest_report_is_read_by_real_test_ids_and_outcomes() -> None:
    plain = {r.test_id for r in junit.parse(JUNIT)}
    assert "tests.test_calc::test_ok" in plain  # the neutral id, without a runner's help
    by_id = {r.test_id: r for r in junit.parse(JUNIT, pytest_id)}
    assert list(by_id) == [
        "tests/test_calc.py::test_ok",
        "tests/test_calc.py::TestAdd::test_neg",
        "tests/test_pool.py::test_burst[11]",
        "tests/test_io.py::test_file",
        "test_top.py::test_skip",
        "test_top.py::test_xf",
        "tests/sub/test_broken.py",
    ]
    assert by_id["tests/test_calc.py::TestAdd::test_neg"].exception == "AssertionError"
    assert "debug line" in by_id["tests/test_calc.py::TestAdd::test_neg"].detail
    burst = by_id["tests/test_pool.py::test_burst[11]"]
    assert (burst.outcome, burst.exception) == ("failed", "ConnectionPoolExhausted")
    setup = by_id["tests/test_io.py::test_file"]
    assert (setup.outcome, setup.exception) == ("error", "FileNotFoundError")
    assert by_id["tests/sub/test_broken.py"].outcome == "error"
    assert by_id["test_top.py::test_xf"].outcome == "skipped"


def test_pytest_report_agreeing_with_exit_status_and_summary_is_believed() -> None:
    chain = PythonToolchain()
    plan = chain.plan(None, [], "/tmp/r.xml")
    parsed = chain.read(plan, JUNIT, f"...\n{SUMMARY}\n", 1)
    assert (parsed.status, parsed.problem) == ("ok", None)


def test_report_claiming_success_against_a_failing_exit_status_is_not_believed() -> None:
    chain = PythonToolchain()
    plan = chain.plan(None, [], "/tmp/r.xml")
    all_pass = b'<testsuite><testcase classname="t" name="a" file="t.py"/></testsuite>'
    parsed = chain.read(plan, all_pass, "1 passed in 0.1s", 1)
    assert parsed.status == "inconsistent" and "exit status 1" in (parsed.problem or "")


def test_report_disagreeing_with_the_summary_line_is_not_believed() -> None:
    chain = PythonToolchain()
    plan = chain.plan(None, [], "/tmp/r.xml")
    parsed = chain.read(plan, JUNIT, "1 failed, 1 passed, 2 errors in 0.1s", 1)
    assert parsed.status == "inconsistent" and "summary" in (parsed.problem or "")
    parsed = chain.read(plan, JUNIT, "no summary here", 1)
    assert parsed.status == "inconsistent"


def test_missing_or_garbage_report_is_not_believed() -> None:
    chain = PythonToolchain()
    plan = chain.plan(None, [], "/tmp/r.xml")
    assert chain.read(plan, b"", "", 0).status == "missing"
    assert chain.read(plan, b"<not xml", "", 0).status == "unparsable"
    assert chain.read(plan, b"<html/>", "", 0).status == "unparsable"
    assert chain.read(plan, JUNIT, SUMMARY, 4).status == "runner_error"


def test_junit_entity_expansion_bomb_is_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + ']><testsuite><testcase name="&i;"/></testsuite>'
    ).encode()
    try:
        results = junit.parse(bomb)
    except junit.ReportError:
        results = []
    assert len(results) <= 1  # expat refuses the amplification; nothing hangs


def test_pytest_plan_puts_nightfix_options_last_and_empties_pytest_env() -> None:
    plan = PythonToolchain().plan(None, ["tests/test_a.py::test_x"], "/tmp/r.xml")
    assert plan.command.startswith("python -m pytest -q -p no:cacheprovider")
    assert plan.command.endswith("--junitxml=/tmp/r.xml tests/test_a.py::test_x")
    assert plan.env == {"PYTEST_ADDOPTS": "", "PYTEST_PLUGINS": ""}
    assert "NIGHTFIX_JUNIT_XML" not in plan.env  # a run of record does not advertise its report


def test_custom_command_gets_tests_and_the_report_path() -> None:
    plan = PythonToolchain().plan("sh run-tests.sh {tests} --fast", ["a b.py"], "/tmp/r.xml")
    assert plan.command == "sh run-tests.sh 'a b.py' --fast"
    assert plan.env == {custom.REPORT_ENV: "/tmp/r.xml"} and plan.runner == "custom"
    assert PythonToolchain().plan("make test", ["x"], "/r").command == "make test x"


def test_is_pytest_detects_custom_pytest_commands() -> None:
    assert is_pytest("python -m pytest tests/test_x.py::test_y")
    assert is_pytest("/opt/venv/bin/pytest -x")
    assert not is_pytest("make test")
    assert not is_pytest("echo 'unbalanced")


def test_summary_lines() -> None:
    assert summary_counts("x\n==== 3 failed, 4 passed, 1 xfailed in 0.04s ====\n") == {
        "failed": 3,
        "passed": 4,
        "xfailed": 1,
    }
    assert summary_counts("nothing") is None
    assert _parse_summary("...\n3 passed, 1 failed, 2 skipped in 0.1s") == {
        "passed": 3,
        "failed": 1,
        "errors": 0,
        "skipped": 2,
    }


def test_python_is_detected_and_pinned_toolchains_are_checked() -> None:
    assert detect(["pyproject.toml", "src"]).name == "python"
    assert detect(["README.md"]).name == "python"  # the default while it is the only one
    try:
        detect([], pinned="cobol")
    except Exception as exc:
        assert "unknown toolchain 'cobol'" in str(exc)
    else:
        raise AssertionError("an unknown pinned toolchain must be refused")


def test_failing_only_for_a_missing_import_or_module_attribute_is_an_error() -> None:
    report = b"""<testsuite>
<testcase classname="tests.test_a" name="test_imports" file="tests/test_a.py">
  <failure message="ImportError: cannot import name 'X' from 'checkout.db'">x</failure>
</testcase>
<testcase classname="tests.test_a" name="test_attr" file="tests/test_a.py">
  <failure message="AttributeError: module 'checkout.db' has no attribute 'X'">x</failure>
</testcase>
<testcase classname="tests.test_a" name="test_real_bug" file="tests/test_a.py">
  <failure message="AttributeError: 'NoneType' object has no attribute 'total'">x</failure>
</testcase>
</testsuite>"""
    chain = PythonToolchain()
    parsed = chain.read(chain.plan(None, [], "/tmp/r.xml"), report, "3 failed in 0.1s", 1)
    assert parsed.status == "ok", parsed.problem  # checked against pytest's own counts first
    outcomes = {r.test_id.rsplit("::", 1)[1]: r.outcome for r in parsed.results}
    assert outcomes == {"test_imports": "error", "test_attr": "error", "test_real_bug": "failed"}
