"""The operator sets the limits (server flags, up to what the host has); a tool never can."""

from __future__ import annotations

import base64
from pathlib import Path

import docker
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from nightfix_sandbox.backends.docker_backend import DockerBackend
from nightfix_sandbox.config import Limits, SandboxConfig
from nightfix_sandbox.server import build_server

pytestmark = pytest.mark.docker


async def test_tool_call_asking_for_more_time_than_the_operator_allows_is_refused(
    calc_repo: Path, sandbox_image: str
) -> None:
    # The operator raised the ceiling past the old 600 s to 900 s; the model may use it,
    # never more, and run_tests' longer default is brought down to it.
    limits = Limits(max_timeout_s=900, memory_mb=512)
    config = SandboxConfig(
        sources={"calc": str(calc_repo)}, image=sandbox_image, pool_size=0, limits=limits
    )
    async with Client(build_server(config)) as client:
        made = await client.call_tool("create_sandbox", {"source": "calc"})
        sid = made.structured_content["sandbox_id"]
        try:
            for too_long in (901, 3600, 10**6):
                with pytest.raises(ToolError, match=r"timeout_s=\d+ refused: use 1\.\.900"):
                    await client.call_tool(
                        "exec", {"sandbox_id": sid, "command": "id", "timeout_s": too_long}
                    )
            ok = await client.call_tool(
                "exec", {"sandbox_id": sid, "command": "echo raised", "timeout_s": 900}
            )
            assert ok.structured_content["stdout"] == "raised\n"
        finally:
            await client.call_tool("destroy_sandbox", {"sandbox_id": sid})


async def test_run_tests_longer_than_the_operator_allows_is_clamped(
    calc_repo: Path, sandbox_image: str
) -> None:
    limits = Limits(max_timeout_s=3, memory_mb=512)
    config = SandboxConfig(
        sources={"calc": str(calc_repo)}, image=sandbox_image, pool_size=0, limits=limits
    )
    async with Client(build_server(config)) as client:
        made = await client.call_tool("create_sandbox", {"source": "calc"})
        sid = made.structured_content["sandbox_id"]
        try:
            asked = {"sandbox_id": sid, "command": "sleep 30", "timeout_s": 600}
            report = (await client.call_tool("run_tests", asked)).structured_content
            assert report["timed_out"] is True  # stopped at the operator's 3 s, not 600 s
        finally:
            await client.call_tool("destroy_sandbox", {"sandbox_id": sid})


def test_operator_raised_limits_reach_the_container(
    docker_client: docker.DockerClient, sandbox_image: str
) -> None:
    host_cpus = docker_client.info()["NCPU"]
    raised = Limits(pids=1024, memory_mb=2048, cpus=float(host_cpus), disk_mb=4096)
    backend = DockerBackend(docker_client, raised)
    box = backend.create(sandbox_image, {})
    try:
        hc = docker_client.api.inspect_container(box.box_id)["HostConfig"]
        assert (hc["PidsLimit"], hc["Memory"], hc["MemorySwap"]) == (1024, 2 << 30, 2 << 30)
        assert hc["NanoCpus"] == int(host_cpus * 1e9)
        inside = backend.run(
            box,
            {
                "argv": ["sh", "-c", "df -k /sandbox | tail -1"],
                "env": {},
                "cwd": "/",
                "timeout_s": 30,
                "cap": 4096,
            },
            deadline_s=60,
        )
        size_kib = int(base64.b64decode(inside["stdout"]).split()[1])
        assert 3_900_000 < size_kib <= 4096 * 1024
    finally:
        backend.remove(box)
        backend.close()
