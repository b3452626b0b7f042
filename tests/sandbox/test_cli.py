"""The command line: documented help, idempotent image build, one-line domain errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import docker
import pytest

from nightfix_sandbox.backends.docker_backend import DockerBackend
from nightfix_sandbox.cli import pick_runtime
from nightfix_sandbox.config import SandboxConfig
from nightfix_sandbox.errors import ConfigError
from nightfix_sandbox.image import import_rootfs
from nightfix_sandbox.service import SandboxService

BIN = str(Path(sys.executable).parent / "nightfix-sandbox")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300, check=False)


def test_help_reads_like_documentation() -> None:
    top = _run("--help")
    assert top.returncode == 0 and "Exit codes" in top.stdout
    serve = _run("serve", "--help")
    for flag in ("--source", "--pool-size", "--pids-limit", "--memory-mb", "--idle-ttl"):
        assert flag in serve.stdout
    build = _run("image", "build", "--help")
    assert "--offline" in build.stdout and "debootstrap" in build.stdout


@pytest.mark.docker
def test_image_build_if_missing_is_idempotent(sandbox_image: str) -> None:
    res = _run("image", "build", "--offline", "--if-missing", "--name", sandbox_image)
    assert res.returncode == 0
    assert "already exists" in res.stderr and res.stdout == ""


@pytest.mark.docker
def test_serve_refuses_looser_output_cap_in_one_line(calc_repo: Path) -> None:
    res = _run("serve", "--source", f"calc={calc_repo}", "--output-bytes", "100000000")
    assert res.returncode == 1
    assert "this limit can only be made stricter" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.docker
def test_serve_refuses_limits_beyond_the_host_in_one_line(calc_repo: Path) -> None:
    cores = docker.from_env().info()["NCPU"]
    res = _run("serve", "--source", f"calc={calc_repo}", "--cpus", str(cores + 1))
    assert res.returncode == 1
    assert f"--cpus {cores + 1}.0 is more than the host's {cores} cores" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = _run("serve", "--source", f"calc={calc_repo}", "--memory-mb", str(1 << 24))
    assert res.returncode == 1 and "MiB of memory" in res.stderr


def test_runtime_auto_takes_gvisor_only_when_docker_has_it() -> None:
    assert pick_runtime("auto", ["runc", "runsc"]) == "runsc"
    assert pick_runtime("auto", ["runc"]) == "runc"
    assert pick_runtime("runc", ["runc", "runsc"]) == "runc"


def test_runtime_docker_does_not_have_is_refused() -> None:
    with pytest.raises(ConfigError, match="--runtime runsc: Docker has no such runtime"):
        pick_runtime("runsc", ["runc"])


def test_serve_refuses_malformed_source_flag() -> None:
    res = _run("serve", "--source", "no-equals")
    assert res.returncode == 1 and "expected NAME=PATH" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.docker
def test_serve_refuses_source_that_is_not_a_git_repo(tmp_path: Path) -> None:
    res = subprocess.run(
        [BIN, "serve", "--source", f"x={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 1 and "is not a git repository" in res.stderr
    assert "Traceback" not in res.stderr


def test_image_build_refuses_offline_with_a_base() -> None:
    res = _run("image", "build", "--offline", "--base", "python:3.11-slim", "--name", "x:y")
    assert res.returncode == 1 and "drop --base" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.docker
def test_image_build_from_a_python_base_image_makes_a_working_sandbox_image(
    docker_client: docker.DockerClient, calc_repo: Path, sandbox_image: str
) -> None:
    # A local Debian image with python3 and git stands where a registry's
    # python:3.11-slim would: the same Dockerfile path, nothing pulled.
    base = import_rootfs(docker_client)
    name = "nightfix-sandbox:test-from-base"
    try:
        res = _run("image", "build", "--base", base, "--name", name)
        assert res.returncode == 0, res.stderr
        assert f"building {name} from {base}" in res.stderr
        config = SandboxConfig(sources={"calc": str(calc_repo)}, image=name, pool_size=0)
        backend = DockerBackend(docker_client, config.limits)
        service = SandboxService(config, backend, None)
        try:
            sid = service.create("calc").sandbox_id
            who = service.exec(sid, "id -u; git --version; python -m pytest --version")
            assert who.exit_code == 0 and who.stdout.startswith("1000\ngit version"), who
            report = service.run_tests(sid)
            assert (report.passed, report.failed) == (1, 1)
        finally:
            service.close()
            backend.close()
    finally:
        docker_client.images.remove(name, force=True)
