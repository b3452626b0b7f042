"""Workspace disks: capped by their own filesystem, gone with the sandbox or its server.

The `service` fixture caps each workspace at 128 MiB and 5,000 files (conftest), the way
an operator would, by configuration.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker
import pytest

from nightfix_sandbox.backends.disks import LoopDisks
from nightfix_sandbox.backends.docker_backend import OWNER, DockerBackend
from nightfix_sandbox.errors import SecurityError
from nightfix_sandbox.service import SandboxService

pytestmark = pytest.mark.docker


def _loops_of(path: Path) -> str:
    return subprocess.run(
        ["losetup", "--list", "--associated", str(path), "--noheadings", "-O", "NAME"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _disk_of(service: SandboxService, sandbox_id: str) -> Path:
    backend = service.backend
    assert isinstance(backend, DockerBackend)
    return backend.disks.image(service._get(sandbox_id).box.disk)


def test_df_inside_shows_the_workspace_cap_not_the_host_disk(
    service: SandboxService, sandbox_id: str
) -> None:
    res = service.exec(sandbox_id, "df -k /sandbox | tail -1; df -i /sandbox | tail -1")
    size_line, inode_line = res.stdout.splitlines()
    assert 100_000 < int(size_line.split()[1]) <= 128 * 1024  # KiB
    assert 4000 <= int(inode_line.split()[1]) <= 5000 + 8192  # mkfs rounds to whole tables


def test_filling_the_workspace_gets_enospc_and_nothing_reaches_the_host(
    service: SandboxService, sandbox_id: str
) -> None:
    disk = _disk_of(service, sandbox_id)
    res = service.exec(sandbox_id, "head -c 400000000 /dev/zero > fill.bin", timeout_s=120)
    assert res.exit_code != 0 and "No space left on device" in res.stderr, res
    assert res.reason == "disk_full" and "the workspace is full" in res.stderr
    # what the host gave away is the sparse file's allocated blocks: at most the cap
    assert disk.stat().st_blocks * 512 <= (128 << 20) + (4 << 20)
    assert service.diff(sandbox_id).files_changed == ["fill.bin"]  # a full disk still diffs
    assert service.exec(sandbox_id, "rm fill.bin && echo freed").stdout == "freed\n"
    assert service.exec(sandbox_id, "echo ok > small.txt && cat small.txt").stdout == "ok\n"


def test_more_files_than_the_cap_get_enospc(service: SandboxService, sandbox_id: str) -> None:
    many = "mkdir many && cd many && i=0; while [ $i -lt 8000 ]; do : > f$i; i=$((i+1)); done"
    res = service.exec(sandbox_id, many, timeout_s=300)
    assert res.exit_code != 0 and "No space left on device" in res.stderr, res
    assert res.reason == "disk_full"


def test_destroy_removes_the_disk_and_its_loop_device(service: SandboxService) -> None:
    sid = service.create("calc").sandbox_id
    disk = _disk_of(service, sid)
    assert disk.exists() and _loops_of(disk).startswith("/dev/loop")
    assert service.destroy(sid).destroyed
    assert not disk.exists()
    assert not list(disk.parent.glob(disk.name))


def test_uncapped_workspace_is_refused_and_nothing_is_left(
    service: SandboxService, docker_client: docker.DockerClient, sandbox_image: str
) -> None:
    backend = DockerBackend(docker_client, service.config.limits)

    def plain_volume(volume: str) -> dict[str, str]:  # a workspace on the host's disk
        return {}

    backend.disks.make = plain_volume  # type: ignore[method-assign]
    mine = {"label": "nightfix.sandbox.owner=" + OWNER}

    def left() -> tuple[set[str], set[str]]:  # the warm pool refills meanwhile: not those
        containers = docker_client.containers.list(all=True, ignore_removed=True, filters=mine)
        volumes = docker_client.volumes.list(filters=mine)
        return (
            {c.name for c in containers if "nightfix.sandbox.pool" not in c.labels},
            {v.name for v in volumes if "nightfix.sandbox.pool" not in (v.attrs["Labels"] or {})},
        )

    before = left()
    try:
        with pytest.raises(SecurityError, match="not capped by its filesystem"):
            backend.create(sandbox_image, {})
    finally:
        backend.close()
    assert left() == before


def test_disks_of_a_dead_server_are_removed_at_start(
    service: SandboxService, tmp_path: Path
) -> None:
    dead = LoopDisks(tmp_path, "999999999:1", 16, 1000)  # a pid that cannot exist
    dead.make("nightfix-0rphand1sk00")
    orphan = dead.image("nightfix-0rphand1sk00")
    assert _loops_of(orphan)
    live = LoopDisks(tmp_path, OWNER, 16, 1000)
    live.make("nightfix-l1ved1sk0000")
    try:
        backend = service.backend
        assert isinstance(backend, DockerBackend)
        removed = LoopDisks(tmp_path, OWNER, 16, 1000).remove_orphans(
            lambda owner, _created: owner != OWNER
        )
        assert removed == 1 and not orphan.exists() and not orphan.parent.exists()
        assert live.image("nightfix-l1ved1sk0000").exists()  # a live server's disk is kept
    finally:
        live.release("nightfix-l1ved1sk0000")
