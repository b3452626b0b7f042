"""run_tests as the verification gate uses it: by files or ids, every id's outcome, and a
report that code under test cannot rewrite or redirect without being caught (real Docker)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import docker
import pytest

from nightfix_sandbox.config import Limits
from nightfix_sandbox.errors import SecurityError
from nightfix_sandbox.service import SandboxService

pytestmark = pytest.mark.docker

FILES = {
    "calc.py": "def add(a, b):\n    return a - b\n",
    "tests/test_calc.py": (
        "from calc import add\n\n\n"
        "def test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_zero():\n    assert add(0, 0) == 0\n\n\n"
        "class TestMore:\n    def test_neg(self):\n        assert add(-1, -2) == -3\n"
    ),
    "tests/test_setup.py": (
        "import pytest\n\n\n@pytest.fixture\ndef broken():\n    raise OSError('no disk')\n\n\n"
        "def test_uses_fixture(broken):\n    pass\n"
    ),
    # A repository's own addopts try to send the report elsewhere and narrow the run.
    "pytest.ini": "[pytest]\naddopts = --junitxml=/tmp/elsewhere.xml\n",
    "run-tests.sh": (
        'python -m pytest -q -p no:cacheprovider --junitxml="$NIGHTFIX_JUNIT_XML" "$@"\n'
    ),
}
REWRITE_AT_EXIT = """
import atexit, sys

def _forge():
    path = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--junitxml="))
    with open(path, "w") as fh:
        fh.write('<testsuite><testcase classname="tests.test_calc" name="test_add" '
                 'file="tests/test_calc.py"/></testsuite>')

atexit.register(_forge)


def test_forger():
    assert False, "the bug is still there"
"""


@pytest.fixture(scope="module")
def gate_service(
    sandbox_image: str,
    tmp_path_factory: pytest.TempPathFactory,
    make_repo: Callable[[Path, dict[str, str]], Path],
    run_service: Callable[..., AbstractContextManager[SandboxService]],
    docker_client: docker.DockerClient,
    strict_limits: Limits,
) -> Iterator[SandboxService]:
    repo = make_repo(tmp_path_factory.mktemp("gate"), FILES)
    with run_service(
        sandbox_image, repo, docker_client, strict_limits, "runc", source="app", pool_size=0
    ) as svc:
        yield svc


@pytest.fixture
def box(gate_service: SandboxService) -> Iterator[str]:
    sid = gate_service.create("app").sandbox_id
    try:
        yield sid
    finally:
        gate_service.destroy(sid)


def test_create_sandbox_reports_the_toolchain(gate_service: SandboxService, box: str) -> None:
    info = gate_service._boxes[box].info
    assert info.toolchain.name == "python"
    assert "conftest.py" in info.toolchain.protected_paths
    assert "test_*.py" in info.toolchain.test_globs


def test_run_of_record_reports_every_id_with_its_outcome(
    gate_service: SandboxService, box: str
) -> None:
    report = gate_service.run_tests(box, report="all")
    assert report.report_status == "ok", report.report_problem
    outcomes = {r.test_id: r.outcome for r in report.results or []}
    assert outcomes == {
        "tests/test_calc.py::test_add": "failed",
        "tests/test_calc.py::test_zero": "passed",
        "tests/test_calc.py::TestMore::test_neg": "failed",
        "tests/test_setup.py::test_uses_fixture": "error",
    }
    # the repository's addopts could not send the report elsewhere: ours came last
    assert "--junitxml=/tmp/nightfix-junit-" in report.command


def test_run_by_ids_runs_only_those(gate_service: SandboxService, box: str) -> None:
    ids = ["tests/test_calc.py::test_zero", "tests/test_calc.py::TestMore::test_neg"]
    report = gate_service.run_tests(box, tests=ids, report="all")
    assert sorted(r.test_id for r in report.results or []) == sorted(ids)
    assert report.tests == ids
    assert gate_service.run_tests(box, tests=["tests/test_calc.py::test_zero"]).results is None


def test_report_rewritten_at_exit_by_code_under_test_is_not_believed(
    gate_service: SandboxService, box: str
) -> None:
    gate_service.write_file(box, "tests/test_forger.py", REWRITE_AT_EXIT)
    report = gate_service.run_tests(box, tests=["tests/test_forger.py"], report="all")
    assert report.exit_code == 1
    assert report.report_status == "inconsistent", report.report_problem
    assert "exit status 1" in (report.report_problem or "")


@pytest.mark.parametrize(
    "selector",
    ["-p", "--co", "-pevil_plugin", "--junitxml=/tmp/x.xml", "/etc/passwd", "../outside.py"],
)
def test_test_selector_smuggling_a_runner_option_or_path_is_refused(
    gate_service: SandboxService, box: str, selector: str
) -> None:
    with pytest.raises(SecurityError, match="refused"):
        gate_service.run_tests(box, tests=["tests/test_calc.py", selector])


def test_custom_command_writing_junit_is_read_by_ids(
    gate_service: SandboxService, box: str
) -> None:
    report = gate_service.run_tests(
        box, command="sh run-tests.sh {tests}", tests=["tests/test_calc.py"], report="all"
    )
    assert report.report_status == "ok", report.report_problem
    ids = {r.test_id for r in report.results or []}
    assert "tests.test_calc::test_zero" in ids and report.failed == 2


def test_command_that_writes_no_report_is_marked_missing(
    gate_service: SandboxService, box: str
) -> None:
    report = gate_service.run_tests(box, command="echo '3 passed'; exit 0", report="all")
    assert report.report_status == "missing" and report.passed == 3  # counts for reading only


def test_repo_files_and_env_cannot_add_options_to_a_run_of_record(
    gate_service: SandboxService, box: str
) -> None:
    out = gate_service.exec(box, "env | grep -c ^PYTEST_ || true").stdout.strip()
    assert out == "0"  # nothing set for plain commands either
    probe = (
        "import os\n\ndef test_env():\n"
        "    assert os.environ.get('PYTEST_ADDOPTS') == ''\n"
        "    assert os.environ.get('PYTEST_PLUGINS') == ''\n"
        "    assert 'NIGHTFIX_JUNIT_XML' not in os.environ\n"
    )
    gate_service.write_file(box, "tests/test_env_probe.py", probe)
    report = gate_service.run_tests(box, tests=["tests/test_env_probe.py"], report="all")
    assert report.report_status == "ok" and report.passed == 1, report.output_tail
