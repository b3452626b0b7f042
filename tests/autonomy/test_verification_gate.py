"""The verification gate against the real sandbox server (Docker), and through `watch`."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from autonomy_support import TRAJECTORY, Env
from demo_env import SERVICE, git, make_repo, tool

from nightfix.autonomy import diffs
from nightfix.autonomy.verification import Gate, MemoryCache
from nightfix.policy import ServerSpec, VerificationPolicy
from nightfix.servers import ServerPool

pytestmark = [pytest.mark.docker]

FIX = (SERVICE / "fix.patch").read_text()
SOURCE_ONLY = diffs.join(p for p in diffs.split(FIX) if p.path == "checkout/db.py")
TEST_ONLY = diffs.join(p for p in diffs.split(FIX) if p.path == "tests/test_pool.py")
WEAK_TEST = """diff --git a/tests/test_weak.py b/tests/test_weak.py
new file mode 100644
--- /dev/null
+++ b/tests/test_weak.py
@@ -0,0 +1,2 @@
+def test_always_passes():
+    assert True
"""


class Counting:
    """Wraps the pool to count the sandboxes the gate creates and destroys."""

    def __init__(self, pool: ServerPool) -> None:
        self.pool, self.created, self.destroyed = pool, 0, 0

    async def call(self, server: str, tool_name: str, args: dict[str, Any]) -> dict[str, Any]:
        result = await self.pool.call(server, tool_name, args)
        self.created += tool_name == "create_sandbox"
        self.destroyed += tool_name == "destroy_sandbox"
        return result


async def gate(
    repo: Path, diff: str, cache: MemoryCache | None = None, **policy: Any
) -> tuple[Any, Counting]:
    spec = ServerSpec(
        command=[tool("nightfix-sandbox"), "serve", "--source", f"app={repo}", "--pool-size", "0"]
    )
    async with ServerPool({"sandbox": spec}) as pool:
        counting = Counting(pool)
        checker = Gate(
            counting,
            VerificationPolicy(**policy),
            "app",
            cache=cache,
            exception="ConnectionPoolExhausted",
        )
        result = await checker.verify(diff, "HEAD")
    return result, counting


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("gate") / "checkout-service")


async def test_fix_with_a_regression_test_passes_with_evidence(repo, no_leaks):
    cache = MemoryCache()
    result, calls = await gate(repo, FIX, cache)
    assert result.passed, result.reason
    ev = result.evidence
    assert ev["suite"]["passed"] == 6 and ev["suite"]["failed"] == 0
    assert ev["before"]["failed"] == 1 and "ConnectionPoolExhausted" in str(ev["before"])
    assert ev["after"]["passed"] == 1 and ev["after"]["failed"] == 0
    assert ev["verdict"]["base"]["passed"] == 5 and ev["verdict"]["pre_existing_failures"] == []
    reg = ev["regression"]
    assert reg["regression_ids"] == [
        "tests/test_pool.py::test_checkout_waits_for_a_free_connection_instead_of_failing"
    ]
    assert reg["fails_with_production_exception"] is True
    assert calls.created == calls.destroyed == 3  # baseline, with the fix, original + tests
    again, calls = await gate(repo, FIX, cache)  # the baseline is cached per base commit
    assert again.passed and calls.created == calls.destroyed == 2


# A file whose text a model would read with hidden characters marked (untrusted.py).
HIDDEN_FILE = "\ufeffbanner: \x1b[1mbold\x1b[0m zero\u200bwidth \u202eltr\n"
BANNER = f"""diff --git a/checkout/banner.txt b/checkout/banner.txt
new file mode 100644
--- /dev/null
+++ b/checkout/banner.txt
@@ -0,0 +1 @@
+{HIDDEN_FILE}"""


async def test_fix_hiding_characters_from_its_reviewer_is_refused(repo, no_leaks):
    result, calls = await gate(repo, FIX + BANNER)
    assert result.stop_reason == "verification_failed:hidden_text"
    assert "checkout/banner.txt" in result.reason and calls.created == 0


async def test_hidden_characters_a_repository_allows_are_verified_as_written(repo, no_leaks):
    # the sandbox cleans what a model reads, never the diff the gate compares and ships
    result, _ = await gate(repo, FIX + BANNER, allow_hidden_text=True)
    assert result.passed, result.reason


async def test_fix_that_passes_the_tests_but_has_no_regression_test_is_refused(repo, no_leaks):
    result, calls = await gate(repo, SOURCE_ONLY)
    assert result.stop_reason == "verification_failed:regression_test"
    assert "adds or changes no test" in result.reason
    assert result.evidence["suite"]["failed"] == 0  # the suite itself passed
    assert calls.created == calls.destroyed == 2


async def test_regression_test_that_passes_on_the_original_code_is_refused(repo, no_leaks):
    result, calls = await gate(repo, SOURCE_ONLY + WEAK_TEST)
    assert result.stop_reason == "verification_failed:regression_test"
    assert "test_always_passes passes on the original code" in result.reason
    assert calls.created == calls.destroyed == 3


async def test_test_without_the_fix_fails_the_suite(repo, no_leaks):
    result, _ = await gate(repo, TEST_ONLY)
    assert result.stop_reason == "verification_failed:test_suite"
    assert "test_checkout_waits_for_a_free_connection" in result.reason
    assert "fail with the fix" in result.reason


async def test_patch_that_does_not_apply_is_refused(repo, no_leaks):
    broken = FIX.replace("-POOL_SIZE = 10", "-POOL_SIZE = 11")
    result, calls = await gate(repo, broken)
    assert result.stop_reason == "verification_failed:patch_does_not_apply"
    assert calls.created == calls.destroyed == 1  # nothing else was started


@pytest.mark.parametrize(
    ("policy", "check"),
    [
        ({"max_changed_files": 1}, "max_changed_files"),
        ({"max_changed_lines": 10}, "max_changed_lines"),
        ({"forbidden_paths": ["checkout/**"]}, "forbidden_path"),
    ],
)
async def test_size_and_path_rules_refuse_before_any_sandbox(repo, policy, check):
    result, calls = await gate(repo, FIX, **policy)
    assert result.stop_reason == f"verification_failed:{check}"
    assert calls.created == 0


async def test_empty_diff_is_refused(repo):
    result, calls = await gate(repo, "")
    assert result.stop_reason == "verification_failed:empty_diff" and calls.created == 0


@pytest.mark.e2e
def test_watch_refuses_a_fix_without_regression_test(tmp_path, errors_db, no_leaks):
    turns = yaml.safe_load(TRAJECTORY.read_text())["turns"]

    def writes_or_runs_the_test(turn: dict) -> bool:
        call = turn["tool_calls"][0]
        return call["name"] == "sandbox.write_file" or "command" in call["input"]

    kept = [t for t in turns if not writes_or_runs_the_test(t)]
    assert len(kept) == len(turns) - 2  # no test written, none run alone
    trajectory = tmp_path / "no-test.yaml"
    trajectory.write_text(yaml.safe_dump({"turns": kept}))
    env = Env.make(tmp_path, errors_db, 2)
    out = env.watch(trajectory).stdout
    assert "verification FAILED (regression_test)" in out
    [run] = env.runs()
    assert run["status"] == "stopped"
    assert run["stop_reason"] == "verification_failed:regression_test"
    assert env.pulls() == [] and env.branches() == ["main"]
    events = [e for e in env.trace(run["run_id"]) if e.get("name") == "verification_failed"]
    assert events and events[0]["detail"]["evidence"]["suite"]["passed"] == 5
    assert env.trace(run["run_id"])[-1]["reason"] == "verification_failed:regression_test"


async def test_base_that_cannot_run_is_a_configuration_error_and_every_sandbox_goes(
    tmp_path, no_leaks
):
    repo = make_repo(tmp_path / "broken")
    (repo / "tests" / "test_slugs.py").write_text("from text_unidecode import unidecode\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "slugs")
    result, calls = await gate(repo, FIX)
    assert result.stop_reason == "configuration_error:baseline"
    assert "No module named 'text_unidecode'" in result.reason
    # the fix and regression runs went on in parallel; each destroyed its own sandbox
    assert calls.created == calls.destroyed == 3
