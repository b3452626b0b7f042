"""Orphans from a crashed server are removed at start; dependency images are built once."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import docker
import pytest

from nightfix_sandbox.backends import docker_backend
from nightfix_sandbox.config import LABEL, SandboxConfig
from nightfix_sandbox.deps import DependencyImages
from nightfix_sandbox.service import SandboxService
from nightfix_sandbox.toolchains.python_deps import collect

pytestmark = pytest.mark.docker


def test_orphans_of_a_dead_server_are_removed_but_live_ones_kept(
    service: SandboxService, docker_client: docker.DockerClient, sandbox_image: str
) -> None:
    name = "nightfix-0rphan0rphan0"
    labels = {LABEL: "1", f"{LABEL}.owner": "999999999:1"}  # a pid that cannot exist
    docker_client.volumes.create(name=name, labels=labels)
    docker_client.volumes.create(name="nightfix-0rphanv0lume", labels=labels)  # no container
    docker_client.containers.create(
        sandbox_image, ["sleep", "1"], name=name, labels=labels, network_mode="none"
    )
    mine = service.create("calc").sandbox_id
    try:
        service.backend.remove_orphans()  # (another server starting may race us to them)
        assert not docker_client.containers.list(
            all=True, ignore_removed=True, filters={"name": name}
        )
        volumes = {v.name for v in docker_client.volumes.list()}
        assert name not in volumes and "nightfix-0rphanv0lume" not in volumes
        assert service.exec(mine, "true").exit_code == 0  # our own sandbox survived
    finally:
        service.destroy(mine)


def test_server_in_another_pid_namespace_does_not_remove_live_sandboxes(
    service: SandboxService, docker_client: docker.DockerClient, sandbox_image: str
) -> None:
    """A sandbox server in a container (the deployment's `watch`) and one on the host share the
    daemon; PID 1 of another namespace is not ours to look up, so its sandbox is kept."""
    name = "nightfix-f0re1gnl1ve0"
    labels = {LABEL: "1", f"{LABEL}.owner": "1:1:1"}  # namespace 1: never a real one
    docker_client.volumes.create(name=name, labels=labels)
    docker_client.containers.create(
        sandbox_image, ["sleep", "1"], name=name, labels=labels, network_mode="none"
    )
    try:
        service.backend.remove_orphans()
        assert docker_client.containers.list(all=True, filters={"name": name})
        assert name in {v.name for v in docker_client.volumes.list()}
    finally:
        docker_client.api.remove_container(name, force=True)
        docker_client.api.remove_volume(name, force=True)


def test_abandoned_sandbox_of_another_namespace_is_removed_after_a_day() -> None:
    owner = {LABEL: "1", f"{LABEL}.owner": "1:1:1"}
    now = time.time()
    assert not docker_backend._is_orphan(owner, now - 3600)
    assert docker_backend._is_orphan(owner, now - docker_backend.FOREIGN_ORPHAN_AGE_S - 60)
    mine = {LABEL: "1", f"{LABEL}.owner": docker_backend.OWNER}
    assert not docker_backend._is_orphan(mine, now - 10 * docker_backend.FOREIGN_ORPHAN_AGE_S)


def test_requirements_are_read_from_requirements_and_pyproject() -> None:
    files = {
        "pyproject.toml": b'[project]\nname="x"\ndependencies=["six>=1.16"]\n'
        b'[project.optional-dependencies]\ntest=["iniconfig"]\ndocs=["sphinx"]\n',
        "requirements-dev.txt": b"# comment\nsix>=1.16\n-e .\nattrs  # trailing\n",
    }
    assert collect(files.get, list(files)).requirements == ["attrs", "iniconfig", "six>=1.16"]
    assert collect({}.get, []).requirements == []


def test_repo_with_requirements_gets_cached_dependency_image(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str, make_repo: object
) -> None:
    repo = make_repo(
        tmp_path / "deps",
        {  # type: ignore[operator]
            "requirements.txt": "six==1.16.0\n",
            "test_six.py": "import six\n\n\ndef test_six():\n    assert six.PY3\n",
        },
    )
    deps = DependencyImages(docker_client, sandbox_image)
    from nightfix_sandbox.backends.docker_backend import DockerBackend

    config = SandboxConfig(sources={"deps": str(repo)}, image=sandbox_image, pool_size=0)
    backend = DockerBackend(docker_client, config.limits)
    svc = SandboxService(config, backend, deps)
    try:
        first = svc.create("deps")
        assert first.image.startswith("nightfix-sandbox-deps:")
        report = svc.run_tests(first.sandbox_id)
        assert (report.passed, report.failed) == (1, 0), report.output_tail
        second = svc.create("deps")
        assert second.image == first.image  # built once, cached by the dependency hash
        probe = svc.exec(second.sandbox_id, "python -m pip install six 2>&1 | tail -1")
        assert probe.exit_code == 0 and "six" in probe.stdout  # satisfied; no index needed
    finally:
        svc.close()
        backend.close()


def test_git_url_source_is_cloned_by_the_host(
    tmp_path: Path,
    calc_repo: Path,
    docker_client: docker.DockerClient,
    sandbox_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nightfix_sandbox.backends.docker_backend import DockerBackend

    monkeypatch.setenv("NIGHTFIX_SANDBOX_CACHE", str(tmp_path / "cache"))
    config = SandboxConfig(
        sources={"remote": f"file://{calc_repo}"}, image=sandbox_image, pool_size=0
    )
    backend = DockerBackend(docker_client, config.limits)
    svc = SandboxService(config, backend, None)
    try:
        info = svc.create("remote", "main")
        head = subprocess.run(
            ["git", "rev-parse", "main"], cwd=calc_repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        assert info.commit == head
        assert list((tmp_path / "cache" / "sources").iterdir())  # the host's clone
        assert svc.exec(info.sandbox_id, "cat calc.py").stdout.startswith("def add")
    finally:
        svc.close()
        backend.close()
