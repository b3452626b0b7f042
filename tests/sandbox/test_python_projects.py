"""Python projects as they really are: where their dependencies are declared, the project
itself, and what a sandbox installs for them (real Docker, real git, real pip)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from nightfix_sandbox import repo_setup
from nightfix_sandbox.backends.docker_backend import DockerBackend
from nightfix_sandbox.config import Limits, SandboxConfig
from nightfix_sandbox.deps import DependencyImages
from nightfix_sandbox.errors import SandboxError, SecurityError
from nightfix_sandbox.service import SandboxService
from nightfix_sandbox.toolchains import python_deps

pytestmark = pytest.mark.docker

META = "python -c 'import importlib.metadata as m; print(m.version(\"{}\"))'"
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
        info = svc.create("proj")
        info_note, sid = info.setup_note, info.sandbox_id
        report = svc.run_tests(sid)
        assert (report.passed, report.failed, report.errors) == (1, 0, 0), report.output_tail
        sphinx = svc.exec(sid, "python -m pip show sphinx")
        assert sphinx.exit_code != 0  # the docs extra is not a test extra
        assert info_note is None, info_note
        version = svc.exec(sid, META.format("legacy-proj"))
        assert version.stdout.strip() == "1.0", version.stderr  # installed itself, editable
        assert svc.diff(sid).files_changed == []  # the install left nothing in the diff


def test_setup_py_needing_its_build_requirements_for_metadata_gets_its_dependencies(
    tmp_path: Path, serve: Serve, repo: Callable[..., Path]
) -> None:
    """setup.py with setuptools-scm (not in the base image): its metadata is built in an
    image holding [build-system].requires, still without network."""
    src = repo(
        tmp_path / "scm",
        {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools>=64", "setuptools-scm>=8"]\n'
            'build-backend = "setuptools.build_meta"\n',
            "setup.py": "from setuptools import setup\n\nsetup(name='scm-proj',"
            " use_scm_version=True, py_modules=['scmmod'], install_requires=['six==1.16.0'])\n",
            "scmmod.py": "import six\n",
        },
    )
    with serve(src) as svc:
        info = svc.create("proj")
        assert info.setup_note is None, info.setup_note
        version = svc.exec(
            info.sandbox_id, "python -c 'import scmmod' && " + META.format("scm-proj")
        )
        assert version.stdout.strip() == "0+nightfix", version.stderr


HATCH_VCS_PROJECT = {
    "pyproject.toml": '[build-system]\nrequires = ["hatchling", "hatch-vcs"]\n'
    'build-backend = "hatchling.build"\n'
    '[project]\nname = "vcsproj"\ndynamic = ["version"]\n'
    '[project.scripts]\nvcsproj-hello = "vcsproj:hello"\n'
    '[tool.hatch.version]\nsource = "vcs"\n'
    '[tool.hatch.build.hooks.vcs]\nversion-file = "src/vcsproj/_version.py"\n',
    ".gitignore": "src/vcsproj/_version.py\n",
    "src/vcsproj/__init__.py": "from vcsproj._version import __version__\n\n\n"
    "def hello():\n    print('hello', __version__)\n",
    "tests/test_version.py": "import importlib.metadata\n\nimport vcsproj\n\n\n"
    "def test_version():\n"
    "    assert vcsproj.__version__ == importlib.metadata.version('vcsproj')\n",
}


def test_src_package_with_a_version_generated_at_build_time_imports(
    tmp_path: Path, serve: Serve, repo: Callable[..., Path]
) -> None:
    src = repo(tmp_path / "vcsproj", HATCH_VCS_PROJECT)
    with serve(src) as svc:
        info = svc.create("proj")
        assert info.setup_note is None
        sid = info.sandbox_id
        report = svc.run_tests(sid)
        assert (report.passed, report.failed, report.errors) == (1, 0, 0), report.output_tail
        hello = svc.exec(sid, "vcsproj-hello")  # the entry point, on PATH
        assert hello.exit_code == 0 and hello.stdout == "hello 0+nightfix\n", hello.stderr
        assert svc.diff(sid).files_changed == []  # the generated file is ignored, not a change


def test_planting_a_pth_in_the_project_install_is_refused(
    tmp_path: Path, serve: Serve, repo: Callable[..., Path]
) -> None:
    """The install's site dir runs every .pth in every Python start (a run of record too):
    it is root's, so the sandbox user cannot plant one there."""
    src = repo(tmp_path / "pth", HATCH_VCS_PROJECT)
    with serve(src) as svc:
        sid = svc.create("proj").sandbox_id
        site = "/sandbox/.project/lib/python3.11/site-packages"
        plant = svc.exec(sid, f"ls {site}/*.pth && echo 'import os' > {site}/evil.pth")
        assert plant.exit_code != 0 and "Permission denied" in plant.stderr, plant


def test_project_that_cannot_be_installed_still_gets_a_sandbox_and_a_note(
    tmp_path: Path, serve: Serve, repo: Callable[..., Path]
) -> None:
    src = repo(
        tmp_path / "broken",
        {
            "setup.py": "raise SystemExit('this setup.py is broken on purpose')\n",
            "requirements.txt": "six==1.16.0\n",
            "test_ok.py": "import six\n\n\ndef test_ok():\n    assert six.PY3\n",
        },
    )
    with serve(src) as svc:
        info = svc.create("proj")
        assert info.setup_note is not None and "could not be installed" in info.setup_note
        report = svc.run_tests(info.sandbox_id)
        assert (report.passed, report.failed, report.errors) == (1, 0, 0), report.output_tail


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
        version = svc.exec(
            sid, "python -c 'import importlib.metadata as m; print(m.version(\"six\"))'"
        )
        assert version.stdout.strip() == "0.0.1"  # the project itself, not a PyPI release


@contextlib.contextmanager
def _configured(
    src: Path, image: str, client: docker.DockerClient, **flags: object
) -> Iterator[SandboxService]:
    """A service over ``src`` (source ``proj``) with operator flags set."""
    config = SandboxConfig(sources={"proj": str(src)}, image=image, pool_size=0, **flags)  # type: ignore[arg-type]
    backend = DockerBackend(client, config.limits)
    svc = SandboxService(config, backend, DependencyImages(client, image))
    try:
        yield svc
    finally:
        svc.close()
        backend.close()


CI_PROJECT = {
    "ci/test-reqs.txt": "-r ../base-reqs.txt\n",
    "base-reqs.txt": "text-unidecode==1.3\n",  # not a requirements*.txt: only named files read it
    "tests/test_env.py": "import os\n\nimport text_unidecode\n\n\n"
    "def test_env():\n    assert os.environ.get('APP_MODE') == 'yaml'\n",
}
WHO = "cat /tmp/setup-ran; id -u"


def test_operator_requirements_and_setup_command_are_used(
    tmp_path: Path,
    sandbox_image: str,
    docker_client: docker.DockerClient,
    repo: Callable[..., Path],
) -> None:
    src = repo(tmp_path / "ci", CI_PROJECT)
    flags = {
        "requirements": {"proj": ["ci/test-reqs.txt"]},
        "setup_commands": {
            "proj": "python -c 'import text_unidecode' && echo flag > /tmp/setup-ran"
        },
    }
    with _configured(src, sandbox_image, docker_client, **flags) as svc:
        sid = svc.create("proj").sandbox_id
        ran = svc.exec(sid, WHO)
        assert ran.stdout.split() == ["flag", "1000"], ran  # ran first, as the sandbox user


def test_failing_setup_command_fails_create_sandbox_clearly(
    tmp_path: Path,
    sandbox_image: str,
    docker_client: docker.DockerClient,
    repo: Callable[..., Path],
) -> None:
    src = repo(tmp_path / "fail", {"test_x.py": "def test_x():\n    pass\n"})
    flags = {"setup_commands": {"proj": "echo 'no database here' >&2; exit 3"}}
    with _configured(src, sandbox_image, docker_client, **flags) as svc:
        with pytest.raises(SandboxError) as err:
            svc.create("proj")
        assert svc.list().sandboxes == []
    assert "setup command of source 'proj' failed (exit 3): no database here" in str(err.value)


def test_flags_for_an_unknown_source_are_refused() -> None:
    with pytest.raises(ValueError, match="--setup-command names source 'nope'"):
        SandboxConfig(sources={"proj": "/tmp"}, setup_commands={"nope": "true"})


SANDBOX_YAML = (
    "toolchain: python\n"
    "requirements: [ci/test-reqs.txt]\n"
    "setup_command: echo yaml > /tmp/setup-ran\n"
    "test_command: python -m pytest -q tests\n"
    "env:\n  APP_MODE: yaml\n"
)


def test_sandbox_yaml_is_honoured_and_operator_flags_win(
    tmp_path: Path,
    sandbox_image: str,
    docker_client: docker.DockerClient,
    repo: Callable[..., Path],
) -> None:
    src = repo(tmp_path / "yaml", {**CI_PROJECT, ".nightfix/sandbox.yaml": SANDBOX_YAML})
    with _configured(src, sandbox_image, docker_client) as svc:
        sid = svc.create("proj").sandbox_id
        assert svc.exec(sid, WHO).stdout.split() == ["yaml", "1000"]
        report = svc.run_tests(sid)
        assert report.command.startswith("python -m pytest -q tests ")
        assert (report.passed, report.failed, report.errors) == (1, 0, 0), report.output_tail
    flags = {"setup_commands": {"proj": "echo flag > /tmp/setup-ran"}}
    with _configured(src, sandbox_image, docker_client, **flags) as svc:
        sid = svc.create("proj").sandbox_id
        assert svc.exec(sid, WHO).stdout.split() == ["flag", "1000"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("toolchain: python\ntest_cmd: pytest\n", "key 'test_cmd': Extra inputs are not permitted"),
        ("env: [A, B]\n", "key 'env': Input should be a valid dictionary"),
        ("requirements: [a.txt\n", "is not valid YAML"),
        ("- just\n- a list\n", "must be a mapping of keys, not list"),
    ],
)
def test_malformed_sandbox_yaml_is_refused_with_the_key_named(
    tmp_path: Path,
    sandbox_image: str,
    docker_client: docker.DockerClient,
    repo: Callable[..., Path],
    text: str,
    message: str,
) -> None:
    src = repo(tmp_path / "bad", {".nightfix/sandbox.yaml": text, "x.py": ""})
    with _configured(src, sandbox_image, docker_client) as svc, pytest.raises(SandboxError) as err:
        svc.create("proj")
    assert message in str(err.value) and ".nightfix/sandbox.yaml" in str(err.value)


def test_sandbox_yaml_env_changing_how_python_starts_is_refused() -> None:
    for name in ("PYTHONPATH", "PYTEST_ADDOPTS", "LD_PRELOAD", "PATH", "GIT_DIR"):
        with pytest.raises(SecurityError, match=f"env: {name} may not be set"):
            repo_setup.load(f"env:\n  {name}: /tmp/x\n".encode())
    assert repo_setup.load(b"env:\n  APP_MODE: yaml\n").env == {"APP_MODE": "yaml"}


def test_tracked_file_matched_by_gitignore_stays_in_diff_and_digest(
    tmp_path: Path, serve: Serve, repo: Callable[..., Path]
) -> None:
    """A committed generated file that .gitignore also matches is still tracked: it is not
    'deleted' in diff (a fix diff would delete it), and it counts in the workspace digest."""
    src = repo(
        tmp_path / "ignored",
        {
            ".gitignore": "_version.py\n",
            "test_v.py": "from _version import V\n\n\ndef test_v():\n    assert V\n",
        },
    )
    (src / "_version.py").write_text("V = '1.0'\n")
    subprocess.run(["git", "add", "-f", "_version.py"], cwd=src, check=True)
    repo(src, {})  # commit it, tracked although ignored
    with serve(src) as svc:
        sid = svc.create("proj").sandbox_id
        clean = svc.diff(sid)
        assert clean.files_changed == [] and clean.diff == "", clean.diff
        first = svc.run_tests(sid).workspace_digest
        svc.write_file(sid, "_version.py", "V = '2.0'\n")
        changed = svc.diff(sid)
        assert changed.files_changed == ["_version.py"] and "+V = '2.0'" in changed.diff
        assert svc.run_tests(sid).workspace_digest != first
