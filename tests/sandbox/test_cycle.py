"""The failing-test repository cycle on real Docker: create, test, fix, test, diff, destroy."""

from __future__ import annotations

import pytest

from nightfix_sandbox.errors import PatchError, SandboxNotFoundError, UnknownSourceError
from nightfix_sandbox.service import SandboxService

pytestmark = pytest.mark.docker


def _names(service: SandboxService) -> tuple[set[str], set[str]]:
    client = service.backend.client  # type: ignore[attr-defined]
    containers = {c.name for c in client.containers.list(all=True, ignore_removed=True)}
    volumes = {v.name for v in client.volumes.list()}
    return containers, volumes


def test_failing_repo_cycle_create_test_fix_test_diff_destroy(
    service: SandboxService, fix_patch: str, calc_fixed: str
) -> None:
    info = service.create("calc", "main")
    sid = info.sandbox_id
    assert len(info.commit) == 40 and info.workdir == "/sandbox/workspace"
    box = service._boxes[sid].box

    first = service.run_tests(sid)
    assert (first.passed, first.failed, first.total) == (1, 1, 2)
    assert first.exit_code == 1
    assert [f.test_id for f in first.failures] == ["tests/test_calc.py::test_add"]
    assert "add is broken" in first.failures[0].message
    assert "assert -1 == 5" in first.failures[0].output_tail

    assert service.apply_patch(sid, fix_patch).files_changed == ["calc.py"]
    assert service.read_file(sid, "calc.py").content == calc_fixed

    second = service.run_tests(sid)
    assert (second.passed, second.failed, second.errors, second.exit_code) == (2, 0, 0, 0)
    assert second.workspace_digest != first.workspace_digest
    assert second.workspace_digest == service.run_tests(sid).workspace_digest  # stable

    diff = service.diff(sid)
    assert diff.base_commit == info.commit
    assert diff.files_changed == ["calc.py"]
    assert (diff.added_lines, diff.removed_lines) == (1, 1)
    body = [ln for ln in diff.diff.splitlines() if ln.startswith(("+", "-"))]
    assert body == ["--- a/calc.py", "+++ b/calc.py", "-    return a - b", "+    return a + b"]

    assert service.destroy(sid).destroyed is True
    containers, volumes = _names(service)
    assert box.disk not in volumes
    assert box.disk not in containers  # the container carries the volume's name
    assert service.destroy(sid).destroyed is False
    with pytest.raises(SandboxNotFoundError):
        service.exec(sid, "true")


def test_write_file_then_diff_shows_new_file(service: SandboxService, sandbox_id: str) -> None:
    assert service.write_file(sandbox_id, "docs/NOTE.md", "hi\n").bytes_written == 3
    diff = service.diff(sandbox_id)
    assert diff.files_changed == ["docs/NOTE.md"] and "+hi" in diff.diff
    assert "docs/NOTE.md" in service.list_files(sandbox_id).files
    assert service.list_files(sandbox_id, "tests", "*.py").files == ["tests/test_calc.py"]


def test_diff_counts_text_and_binary_changes_alike(
    service: SandboxService, sandbox_id: str
) -> None:
    service.exec(sandbox_id, "printf 'a\\000b' > blob.bin; rm tests/test_calc.py")
    service.write_file(sandbox_id, "notes.txt", "one\ntwo\n")
    res = service.diff(sandbox_id)
    assert res.files_changed == ["blob.bin", "notes.txt", "tests/test_calc.py"]
    assert "Binary files /dev/null and b/blob.bin differ" in res.diff
    assert (res.added_lines, res.removed_lines) == (2, 9)


def test_read_file_line_range(service: SandboxService, sandbox_id: str) -> None:
    part = service.read_file(sandbox_id, "tests/test_calc.py", start_line=4, end_line=5)
    assert part.content.startswith("def test_add") and part.total_lines == 9


def test_search_regex_and_literal(service: SandboxService, sandbox_id: str) -> None:
    hits = service.search(sandbox_id, r"def test_\w+", glob="*.py").matches
    assert [(m.path, m.line) for m in hits] == [
        ("tests/test_calc.py", 4),
        ("tests/test_calc.py", 8),
    ]
    assert service.search(sandbox_id, "a - b", regex=False).matches[0].path == "calc.py"


def test_apply_patch_that_does_not_apply_names_the_hunk(
    service: SandboxService, sandbox_id: str, fix_patch: str
) -> None:
    stale = fix_patch.replace("return a - b", "return a * b")
    with pytest.raises(PatchError, match=r"hunk '@@ -1,2 \+1,2 @@' of calc.py"):
        service.apply_patch(sandbox_id, stale)
    assert service.diff(sandbox_id).files_changed == []  # nothing half-applied


def test_run_tests_custom_pytest_command_keeps_structured_counts(
    service: SandboxService, sandbox_id: str
) -> None:
    report = service.run_tests(sandbox_id, "python -m pytest tests/test_calc.py::test_zero")
    assert (report.passed, report.failed, report.total) == (1, 0, 1)


def test_run_tests_other_runner_counts_from_summary_line(
    service: SandboxService, sandbox_id: str
) -> None:
    report = service.run_tests(sandbox_id, "echo '3 passed, 1 failed'; exit 1")
    assert (report.passed, report.failed, report.exit_code) == (3, 1, 1)


def test_exec_runs_as_non_root_in_workspace(service: SandboxService, sandbox_id: str) -> None:
    res = service.exec(sandbox_id, "id -u; pwd; echo err >&2; exit 3")
    assert res.stdout.split() == ["1000", "/sandbox/workspace"]
    assert (res.stderr, res.exit_code, res.killed) == ("err\n", 3, False)


def test_unknown_source_and_ref_are_refused(service: SandboxService) -> None:
    with pytest.raises(UnknownSourceError):
        service.create("/etc")
    with pytest.raises(Exception, match="does not exist"):
        service.create("calc", "no-such-branch")


def test_warm_pool_hands_out_container_with_code_preloaded(service: SandboxService) -> None:
    first = service.create("calc")  # registers (image, commit) with the pool
    service.destroy(first.sandbox_id)
    service.pool.fill_now(first.image, first.commit)
    assert service.pool.idle_count(first.image, first.commit) == 1
    sid = service.create("calc").sandbox_id
    try:
        assert service._boxes[sid].box.labels.get("nightfix.sandbox.pool") == "1"
        assert service.pool.idle_count(first.image, first.commit) == 0  # it was handed out
        assert "return a - b" in service.read_file(sid, "calc.py").content
        assert service.diff(sid).files_changed == []
    finally:
        service.destroy(sid)


def test_warm_pool_blank_container_gets_the_code_copied_in(service: SandboxService) -> None:
    pool = service.pool
    pool.max_preloaded = 0  # drop preloaded entries: only blank warm containers remain
    try:
        pool.want(service.config.image, "0" * 40, lambda: b"")
        pool.fill_now(service.config.image)
        assert pool.idle_count(service.config.image) == 1
        info = service.create("calc", "main")
        box = service._boxes[info.sandbox_id].box
        assert box.labels.get("nightfix.sandbox.pool") == "1"
        assert service.exec(info.sandbox_id, "cat calc.py").stdout.startswith("def add")
        service.destroy(info.sandbox_id)
    finally:
        pool.max_preloaded = 4


def test_idle_sandbox_is_reaped(service: SandboxService) -> None:
    sid = service.create("calc").sandbox_id
    service._boxes[sid].last_used -= service.config.idle_ttl_s + 1
    assert sid in service.reap_idle()
    assert sid not in {s.sandbox_id for s in service.list().sandboxes}
