"""The command channel to a sandbox's PID 1: concurrent requests, bad requests, a dead box."""

from __future__ import annotations

import concurrent.futures
import json

import docker
import pytest

from nightfix_sandbox.backends.docker_backend import DockerBackend
from nightfix_sandbox.errors import SandboxError
from nightfix_sandbox.service import SandboxService

pytestmark = pytest.mark.docker


def test_concurrent_commands_in_one_sandbox_each_get_their_own_result(
    service: SandboxService, sandbox_id: str
) -> None:
    commands = [f"sleep 0.{9 - i}; echo job{i}; echo err{i} >&2; exit {i}" for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(lambda c: service.exec(sandbox_id, c, timeout_s=30), commands))
    for i, res in enumerate(results):
        assert (res.exit_code, res.stdout, res.stderr) == (i, f"job{i}\n", f"err{i}\n"), res


def test_malformed_requests_are_refused_and_the_sandbox_keeps_serving(
    service: SandboxService, sandbox_id: str
) -> None:
    box = service._get(sandbox_id).box
    backend = service.backend
    assert isinstance(backend, DockerBackend)
    channel = backend._channel(box)
    with pytest.raises(SandboxError, match="unknown op 'format_disk'"):
        channel.request("format_disk", deadline_s=30)
    with pytest.raises(SandboxError, match="argv must be a non-empty list"):
        channel.request("run", deadline_s=30, argv=[], timeout_s=5, cap=1024)
    with pytest.raises(SandboxError, match="timeout_s must be a positive number"):
        channel.request("run", deadline_s=30, argv=["true"], timeout_s=-1, cap=1024)
    with pytest.raises(SandboxError, match="env must map strings"):
        channel.request("run", deadline_s=30, argv=["true"], env={"A": 1}, timeout_s=5, cap=9)
    assert service.exec(sandbox_id, "echo alive").stdout == "alive\n"


def test_a_program_that_cannot_start_gets_exit_127(
    service: SandboxService, sandbox_id: str
) -> None:
    res = service.exec(sandbox_id, "/no/such/program")
    assert res.exit_code == 127 and "not found" in res.stderr


def test_docker_detach_keys_in_a_command_do_not_cut_the_channel(
    service: SandboxService, sandbox_id: str
) -> None:
    res = service.exec(sandbox_id, "printf '%s' '\x10\x11' | od -An -c; echo after")
    assert res.exit_code == 0 and res.stdout.split() == ["020", "021", "after"], res
    assert service.exec(sandbox_id, "echo alive").stdout == "alive\n"


def test_command_of_120_kb_runs_whole(service: SandboxService, sandbox_id: str) -> None:
    body = "x" * 120_000
    res = service.exec(sandbox_id, f"cat <<'EOF' | wc -c\n{body}\nEOF")
    assert (res.exit_code, res.stdout.strip()) == (0, "120001"), res


def test_large_file_round_trips_through_the_channel(
    service: SandboxService, sandbox_id: str
) -> None:
    text = "".join(
        f"line {i:07d} {'x' * 60}\n" for i in range(13_000)
    )  # ~0.98 MB, just under read_file's cap
    service.write_file(sandbox_id, "big.txt", text)
    assert service.read_file(sandbox_id, "big.txt").content == text


def test_container_killed_from_outside_fails_the_waiting_command_clearly(
    service: SandboxService, docker_client: docker.DockerClient
) -> None:
    sid = service.create("calc").sandbox_id
    try:
        box = service._get(sid).box
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(service.exec, sid, "echo started; sleep 120", 150)
            # wait until the command runs, then kill the whole container from the host
            probe = "cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -c 'slee[p] 120' || true"
            while service.exec(sid, probe).stdout.strip() == "0":
                pass
            docker_client.api.kill(box.box_id)
            with pytest.raises(SandboxError, match=r"gone|destroy"):
                waiting.result(timeout=60)
        with pytest.raises(SandboxError, match=r"gone|destroy"):
            service.exec(sid, "echo again")
    finally:
        service.destroy(sid)


def test_unsigned_request_injected_into_the_channel_is_refused(
    service: SandboxService, sandbox_id: str
) -> None:
    # What a command would send if it reached PID 1's stdin: a well-formed request without
    # the channel's HMAC (or with a made-up one). PID 1 must run neither.
    box = service._get(sandbox_id).box
    backend = service.backend
    assert isinstance(backend, DockerBackend)
    channel = backend._channel(box)
    for n, prefix in enumerate((b"", b"0" * 64 + b" ")):
        request = json.dumps(
            {
                "id": f"injected{n}",
                "op": "run",
                "argv": ["touch", f"/tmp/injected{n}"],
                "env": {},
                "cwd": "/",
                "timeout_s": 5,
                "cap": 1024,
            }
        ).encode()
        channel._sock.sendall(prefix + request + b"\n")
    # a signed request sent after them is answered, so PID 1 has read (and refused) both
    res = service.exec(sandbox_id, "ls /tmp/injected0 /tmp/injected1 2>&1; echo served")
    assert res.stdout.count("No such file") == 2 and res.stdout.endswith("served\n"), res
