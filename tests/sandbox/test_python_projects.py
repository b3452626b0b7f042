"""Python projects as they really are: where their dependencies are declared, the project
itself, and what a sandbox installs for them (real Docker, real git, real pip)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from nightfix_sandbox.config import Limits
from nightfix_sandbox.errors import SecurityError
from nightfix_sandbox.service import SandboxService
from nightfix_sandbox.toolchains import python_deps

pytestmark = pytest.mark.docker

Serve = Callable[[Path], contextlib.AbstractContextManager[SandboxService]]


@pytest.fixture
def serve(
    sandbox_image: str,
    docker_client: docker.DockerClient,
    strict_limits: Limits,
    run_service: Callable[..., contextlib.AbstractContextManager[SandboxService]],
) -> Serve:
    """A service over one repository (source name ``proj``), no warm pool."""

    @contextlib.contextmanager
    def _serve(repo: Path) -> Iterator[SandboxService]:
        with run_service(
            sandbox_image, repo, docker_client, strict_limits, "runc", "proj", 0
        ) as svc:
            yield svc

    return _serve


@pytest.fixture(name="repo")
def repo_fixture(make_repo: Callable[[Path, dict[str, str]], Path]) -> Callable[..., Path]:
    return make_repo


def _reader(files: dict[str, str]) -> python_deps.Reader:
    def read(path: str) -> bytes | None:
        return files[path].encode() if path in files else None

    return read


def test_dependency_groups_with_include_group_are_read() -> None:
    files = {
        "pyproject.toml": '[project]\nname="p"\ndependencies=["six"]\n'
        '[dependency-groups]\nbase=["attrs"]\ndocs=["sphinx"]\n'
        'Test=["iniconfig", {include-group="base"}]\n'
    }
    deps = python_deps.collect(_reader(files), list(files))
    assert deps.requirements == ["attrs", "iniconfig", "six"]


def test_nested_requirement_files_are_read_relative_to_the_including_file(
    tmp_path: Path, serve: Serve, repo: Callable[..., Path]
) -> None:
    src = repo(
        tmp_path / "nested",
        {
            "requirements.txt": "-r reqs/base.txt\n",
            "reqs/base.txt": "six==1.16.0  # pinned\n--requirement more/extra.txt\n",
            "reqs/more/extra.txt": "text-unidecode==1.3\n",
            "test_it.py": "import six, text_unidecode\n\n\ndef test_it():\n    assert six.PY3\n",
        },
    )
    with serve(src) as svc:
        sid = svc.create("proj").sandbox_id
        report = svc.run_tests(sid)
        assert (report.passed, report.failed, report.errors) == (1, 0, 0), report.output_tail


def test_requirement_include_outside_the_repository_is_refused(
    tmp_path: Path, serve: Serve, repo: Callable[..., Path]
) -> None:
    src = repo(
        tmp_path / "escape",
        {"requirements.txt": "six\n", "reqs/dev.txt": "-r ../../etc/passwd\n"},
    )
    # the top-level file includes the escaping one
    (src / "requirements.txt").write_text("six\n-r reqs/dev.txt\n")
    repo(src, {})  # commit the change
    with serve(src) as svc, pytest.raises(SecurityError) as err:
        svc.create("proj")
    assert "'../../etc/passwd' (included from reqs/dev.txt) is outside the repository" in str(
        err.value
    )
    with pytest.raises(SecurityError, match="outside the repository"):
        python_deps.requirement_file(_reader({"r.txt": "-r /etc/passwd\n"}), "r.txt")


def test_setup_py_only_package_gets_its_dependencies(
    tmp_path: Path, serve: Serve, repo: Callable[..., Path]
) -> None:
    src = repo(
        tmp_path / "setuppy",
        {
            "setup.py": "from setuptools import setup\n\nsetup(name='legacy-proj', version='1.0',"
            " py_modules=['legacy'], install_requires=['six==1.16.0'],"
            " extras_require={'test': ['text-unidecode==1.3'], 'docs': ['sphinx']})\n",
            "legacy.py": "import six\n\nVALUE = six.PY3\n",
            "test_legacy.py": "import text_unidecode\nfrom legacy import VALUE\n\n\n"
            "def test_value():\n    assert VALUE\n",
        },
    )
    with serve(src) as svc:
        sid = svc.create("proj").sandbox_id
        report = svc.run_tests(sid)
        assert (report.passed, report.failed, report.errors) == (1, 0, 0), report.output_tail
        sphinx = svc.exec(sid, "python -m pip show sphinx")
        assert sphinx.exit_code != 0  # the docs extra is not a test extra


def test_test_extra_naming_the_project_itself_does_not_install_its_pypi_copy(
    tmp_path: Path, serve: Serve, repo: Callable[..., Path]
) -> None:
    src = repo(
        tmp_path / "six",
        {
            "pyproject.toml": '[project]\nname="Six"\nversion="0.0.1"\n'
            '[project.optional-dependencies]\ntest=["six[extra]", "SIX>=1.0"]\n'
            'extra=["text-unidecode==1.3"]\n',
            "six.py": "PY3 = 'workspace'\n",
        },
    )
    with serve(src) as svc:
        info = svc.create("proj")
        assert info.image.startswith("nightfix-sandbox-deps:")  # the own extra's requirement
        sid = info.sandbox_id
        where = svc.exec(sid, "python -c 'import six, text_unidecode; print(six.__file__)'")
        assert where.exit_code == 0, where.stderr
        assert where.stdout.strip() == "/sandbox/workspace/six.py"
        assert svc.exec(sid, "python -m pip show six").exit_code != 0  # no PyPI copy at all
