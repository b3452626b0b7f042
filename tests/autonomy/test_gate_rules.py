"""The gate's static walls and its verdicts by test id, as pure functions (no sandbox).

Each test is named after the cheat it stops; the end-to-end versions run through
`nightfix watch` in test_gate_attacks.py."""

from __future__ import annotations

from typing import Any

import pytest

from nightfix.autonomy import diffs, plumbing, verdicts, verification
from nightfix.autonomy.gate_errors import GateFailed
from nightfix.policy import VerificationPolicy

# What the sandbox's python toolchain reports (create_sandbox -> toolchain), abridged.
TOOLCHAIN: dict[str, Any] = {
    "name": "python",
    "test_globs": ["**/tests/**", "**/test/**", "test_*.py", "*_test.py"],
    "protected_paths": [
        ".nightfix/",
        "conftest.py",
        "pytest.ini",
        "tox.ini",
        "setup.cfg",
        "sitecustomize.py",
        "usercustomize.py",
        "*.pth",
    ],
    "protected_tables": {"pyproject.toml": ["tool.pytest", "tool.tox"]},
    "runner_internals": [r"^\s*(import|from)\s+(_?pytest|pluggy)\b", r"\bdef\s+pytest_\w+\s*\("],
    "tamper_patterns": [r"\b_pytest\b", r"\bpluggy\b", r"(?i)junit"],
    "disable_markers": [r"@pytest\.mark\.(skip|skipif|xfail)\b", r"\bpytest\.(skip|xfail)\s*\("],
}
POLICY = VerificationPolicy()
RULES = plumbing.Rules.of(TOOLCHAIN, POLICY)


def new_file(path: str, *lines: str) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1,{len(lines)} @@\n{body}"
    )


def change(path: str, old: str, new: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1,2 +1,2 @@\n"
        f" def test_x():\n-{old}\n+{new}\n"
    )


def deleted(path: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\ndeleted file mode 100644\n--- a/{path}\n+++ /dev/null\n"
        "@@ -1 +0,0 @@\n-def test_x(): pass\n"
    )


@pytest.mark.parametrize(
    "path",
    [
        "conftest.py",
        "tests/deep/conftest.py",
        "pytest.ini",
        "tox.ini",
        "setup.cfg",
        "sitecustomize.py",
        "src/usercustomize.py",
        "evil.pth",
        ".nightfix/sandbox.yaml",
    ],
)
def test_test_infrastructure_at_any_depth_is_protected(path: str) -> None:
    assert plumbing.protected_paths(diffs.split(new_file(path, "x = 1")), RULES) == [path]


def test_protected_test_tables_of_pyproject_are_compared_not_the_whole_file() -> None:
    before = '[project]\nname = "x"\n[tool.pytest.ini_options]\naddopts = "-q"\n'
    deps = before.replace('name = "x"', 'name = "x"\ndependencies = ["attrs"]')
    deselect = before.replace('"-q"', '"-q --deselect tests/test_pool.py"')
    assert plumbing.changed_tables(RULES, "pyproject.toml", before, deps) == []
    assert plumbing.changed_tables(RULES, "pyproject.toml", before, deselect) == ["tool.pytest"]
    added = plumbing.changed_tables(RULES, "pyproject.toml", None, deselect)
    assert added == ["tool.pytest"]


def test_deleting_an_existing_test_file_is_refused() -> None:
    with pytest.raises(GateFailed) as refused:
        plumbing.check_tests_kept(diffs.split(deleted("tests/test_checkout.py")), RULES)
    assert refused.value.check == "test_removed"


def test_skip_marker_added_to_an_existing_test_is_refused() -> None:
    patch = change("tests/test_checkout.py", "    assert f()", "    pytest.skip('later')")
    with pytest.raises(GateFailed) as refused:
        plumbing.check_tests_kept(diffs.split(patch), RULES)
    assert refused.value.check == "test_disabled"


def test_a_new_test_file_may_use_markers() -> None:
    plumbing.check_tests_kept(
        diffs.split(new_file("tests/test_new.py", "@pytest.mark.skip")), RULES
    )


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("checkout/db.py", "import pytest"),
        ("checkout/db.py", "def pytest_runtest_makereport(item, call):"),
        ("tests/test_pool.py", "from _pytest.reports import TestReport"),
        ("tests/test_pool.py", "path = os.environ['NIGHTFIX_JUNIT_XML']"),
        ("checkout/db.py", "REPORT = [a for a in sys.argv if 'junitxml' in a]"),
    ],
)
def test_code_reaching_into_the_runner_or_naming_nightfix_variables_is_refused(
    path: str, line: str
) -> None:
    with pytest.raises(GateFailed) as refused:
        plumbing.check_runner_untouched(diffs.split(new_file(path, line)), RULES)
    assert refused.value.check == "runner_tampering"


def test_tests_may_import_pytest() -> None:
    plumbing.check_runner_untouched(
        diffs.split(new_file("tests/test_a.py", "import pytest")), RULES
    )


@pytest.mark.parametrize(
    "path",
    [
        "deploy.pem",
        "config/deploy.key",
        ".env",
        "app/.env.local",
        "secrets.yaml",
        ".github/workflows/ci.yml",
        ".github/actions/setup/action.yml",
        ".github/CODEOWNERS",
    ],
)
def test_root_level_and_nested_forbidden_files_match(path: str) -> None:
    assert diffs.matches(path, VerificationPolicy().forbidden_paths)


def test_root_level_test_file_is_a_test() -> None:
    assert RULES.is_test("test_x.py") and RULES.is_test("src/pkg/tests/helpers.py")
    assert not RULES.is_test("checkout/db.py")


def report(outcomes: dict[str, str], status: str = "ok", **extra: Any) -> dict[str, Any]:
    results = [{"test_id": i, "outcome": o, "message": f"{o} msg"} for i, o in outcomes.items()]
    return {"report_status": status, "results": results, **extra}


BASE = verdicts.Baseline(
    "c0ffee", {"t.py::a": "passed", "t.py::b": "passed", "t.py::old": "failed"}
)


def test_a_test_that_passed_on_the_base_may_not_be_skipped_or_go_missing() -> None:
    for outcome in ("skipped", None):
        fix = {"t.py::a": "passed", "t.py::old": "failed"}
        if outcome:
            fix["t.py::b"] = outcome
        with pytest.raises(GateFailed, match=r"t.py::b \((skipped|missing)\)"):
            verdicts.check_suite(BASE, report(fix))


def test_pre_existing_failures_may_keep_failing_and_are_listed() -> None:
    ok = verdicts.check_suite(
        BASE, report({"t.py::a": "passed", "t.py::b": "passed", "t.py::old": "failed"})
    )
    assert ok["pre_existing_failures"] == ["t.py::old"]


@pytest.mark.parametrize("status", ["missing", "unparsable", "inconsistent", "runner_error"])
def test_a_report_that_cannot_be_believed_fails_its_check(status: str) -> None:
    fix = report({"t.py::a": "passed", "t.py::b": "passed"}, status, report_problem="x")
    with pytest.raises(GateFailed) as refused:
        verdicts.check_suite(BASE, fix)
    assert refused.value.check == "test_report"


def test_regression_test_erroring_on_the_original_code_is_not_proof() -> None:
    before = report({"t.py::new": "error"})
    with pytest.raises(GateFailed, match="errors on the original code") as refused:
        verdicts.check_regression(BASE, before, report({"t.py::new": "passed"}), None)
    assert refused.value.check == "regression_test"


def test_regression_test_skipping_on_the_original_code_is_not_proof() -> None:
    with pytest.raises(GateFailed, match="is skipped on the original code"):
        verdicts.check_regression(
            BASE, report({"t.py::new": "skipped"}), report({"t.py::new": "passed"}), None
        )


def test_regression_test_hidden_on_the_original_code_is_not_proof() -> None:
    with pytest.raises(GateFailed, match="did not run on the original code"):
        verdicts.check_regression(
            BASE,
            report({"t.py::a": "passed"}),
            report({"t.py::a": "passed", "t.py::new": "passed"}),
            None,
        )


def test_regression_evidence_says_whether_it_failed_like_production() -> None:
    before = {
        "report_status": "ok",
        "results": [
            {
                "test_id": "t.py::new",
                "outcome": "failed",
                "exception": "PoolExhausted",
                "message": "m",
            }
        ],
    }
    found = verdicts.check_regression(
        BASE, before, report({"t.py::new": "passed"}), "PoolExhausted"
    )
    assert found["regression_ids"] == ["t.py::new"] and found["fails_with_production_exception"]
    other = verdicts.check_regression(BASE, before, report({"t.py::new": "passed"}), "KeyError")
    assert other["fails_with_production_exception"] is False


def test_base_suite_that_cannot_run_is_a_configuration_error() -> None:
    broken = report(
        {"tests/test_a.py": "error"},
        "runner_error",
        report_problem="pytest was interrupted by 1 error(s) during collection "
        "(first: tests/test_a.py: ModuleNotFoundError: No module named 'text_unidecode')",
    )
    with pytest.raises(GateFailed) as refused:
        verdicts.baseline_of("c0ffee" * 6, broken, "configure it")
    assert refused.value.configuration and "text_unidecode" in refused.value.reason
    with pytest.raises(GateFailed) as empty:
        verdicts.baseline_of("c0ffee" * 6, report({}), "configure it")
    assert empty.value.configuration and "ran no tests" in empty.value.reason


@pytest.mark.parametrize(
    "line",
    [
        "access = 'user' # \u202e } \u2066if is_admin:\u2069 \u2066 begin admins",  # Trojan Source
        "if role == 'admin\u200b':",  # a zero-width space in a comparison
        "\ufeffimport os",
        "TAG = 'ok\U000e0041\U000e0042'",
        "print('done')\rprint('shown instead')",
        "x = 1\u2028y = 2",
        "colour = '\x1b[31m'",
    ],
)
def test_fix_adding_text_a_reviewer_cannot_see_is_refused(line: str) -> None:
    with pytest.raises(GateFailed) as refused:
        verification.static_checks(diffs.split(new_file("checkout/db.py", line)), POLICY)
    assert refused.value.check == "hidden_text"


def test_crlf_line_ends_and_tabs_are_visible_enough() -> None:
    verification.static_checks(diffs.split(new_file("win.bat", "echo\tok\r")), POLICY)


def test_runner_reach_hidden_after_a_lone_carriage_return_is_still_seen() -> None:
    hidden = new_file("checkout/db.py", "x = 1\rfrom _pytest import runner")
    with pytest.raises(GateFailed) as refused:
        plumbing.check_runner_untouched(diffs.split(hidden), RULES)
    assert refused.value.check == "runner_tampering"
