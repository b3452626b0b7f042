"""Fixtures for the sandbox server: one built image, one service, throwaway git repos."""

from __future__ import annotations

import contextlib
import functools
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from nightfix_sandbox.backends.docker_backend import DockerBackend
from nightfix_sandbox.config import Limits, Runtime, SandboxConfig, default_image
from nightfix_sandbox.deps import DependencyImages
from nightfix_sandbox.service import SandboxService

BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).parent))  # node_support, the Node tests' helpers

CALC_BUGGY = "def add(a, b):\n    return a - b\n"
CALC_FIXED = "def add(a, b):\n    return a + b\n"
TEST_CALC = (
    "from calc import add\n\n\n"
    "def test_add():\n    assert add(2, 3) == 5, 'add is broken'\n\n\n"
    "def test_zero():\n    assert add(0, 0) == 0\n"
)
FIX_PATCH = (
    "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n"
    "-    return a - b\n+    return a + b\n"
)


def make_repo(path: Path, files: dict[str, str]) -> Path:
    """A real git repository with one commit holding `files`."""
    path.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=path, check=True)
    return path


@pytest.fixture(name="make_repo", scope="session")
def make_repo_fixture() -> object:
    """The `make_repo` helper, for tests that need their own repository."""
    return make_repo


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The base image, built once (offline) exactly as CI and `make test` build it."""
    subprocess.run(
        [str(BIN / "nightfix-sandbox"), "image", "build", "--offline", "--if-missing"],
        check=True,
    )
    return default_image()


@pytest.fixture(scope="session")
def calc_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("calc")
    return make_repo(root / "calc", {"calc.py": CALC_BUGGY, "tests/test_calc.py": TEST_CALC})


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    return docker.from_env(timeout=120)


@pytest.fixture(scope="session")
def strict_limits() -> Limits:
    """Stricter than the defaults, so hostile programs hit the limits quickly."""
    return Limits(
        pids=64,
        memory_mb=256,
        cpus=0.5,
        tmp_mb=64,
        output_bytes=16384,
        disk_mb=128,
        disk_files=5000,
    )


@contextlib.contextmanager
def running_service(
    image: str,
    repo: Path,
    client: docker.DockerClient,
    limits: Limits,
    runtime: Runtime,
    source: str = "calc",
    pool_size: int = 1,
) -> Iterator[SandboxService]:
    """A started SandboxService over one repository (the calc one by default), closed
    (nothing left) after."""
    config = SandboxConfig(
        sources={source: str(repo)},
        image=image,
        limits=limits,
        pool_size=pool_size,
        runtime=runtime,
    )
    backend = DockerBackend(client, config.limits, config.runtime)
    svc = SandboxService(config, backend, DependencyImages(client, image))
    svc.start()
    try:
        yield svc
    finally:
        svc.close()
        backend.close()


@pytest.fixture(scope="session")
def run_service() -> Callable[..., contextlib.AbstractContextManager[SandboxService]]:
    """`running_service`, for modules that serve a repository of their own."""
    return running_service


@pytest.fixture(scope="session")
def start_service(
    sandbox_image: str, calc_repo: Path, docker_client: docker.DockerClient, strict_limits: Limits
) -> Callable[[Runtime], contextlib.AbstractContextManager[SandboxService]]:
    """Starts a service like `service`'s under a given runtime (runc, or gVisor's runsc)."""
    return functools.partial(
        running_service, sandbox_image, calc_repo, docker_client, strict_limits
    )


@pytest.fixture(scope="session")
def service(
    sandbox_image: str, calc_repo: Path, docker_client: docker.DockerClient, strict_limits: Limits
) -> Iterator[SandboxService]:
    with running_service(sandbox_image, calc_repo, docker_client, strict_limits, "runc") as svc:
        yield svc


@pytest.fixture
def sandbox_id(service: SandboxService) -> Iterator[str]:
    sid = service.create("calc").sandbox_id
    try:
        yield sid
    finally:
        service.destroy(sid)


@pytest.fixture
def fix_patch() -> str:
    """The unified diff that fixes calc.add."""
    return FIX_PATCH


@pytest.fixture
def calc_fixed() -> str:
    return CALC_FIXED
