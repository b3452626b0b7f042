"""Docker backend: hardened containers, each with its own workspace volume."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import shutil
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import LogConfig, Mount, Ulimit

from nightfix_sandbox.backends import Box, RawExec
from nightfix_sandbox.backends.command_channel import GONE, CommandChannel
from nightfix_sandbox.backends.disks import LoopDisks
from nightfix_sandbox.config import LABEL, SANDBOX_ROOT, SANDBOX_UID, Limits, cache_dir
from nightfix_sandbox.errors import SandboxError
from nightfix_sandbox.incontainer import script
from nightfix_sandbox.security import (
    check_container_hardened,
    check_init_hardened,
    check_limits_fit_host,
    check_workspace_capped,
)

log = logging.getLogger(__name__)
# PID 1 gets the supervisor's text as argv[1] (see incontainer/init.py).
_INIT_COMMAND = ["python3", "-I", "-S", "-c", script("init"), script("supervisor")]


def _proc_start(pid: int) -> str:
    """Start time (clock ticks since boot) of a process, '' if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _pid_namespace() -> str:
    """The inode of this process's PID namespace: a PID means something only inside it."""
    try:
        return str(Path("/proc/self/ns/pid").stat().st_ino)
    except OSError:
        return "0"


PID_NS = _pid_namespace()
OWNER = f"{PID_NS}:{os.getpid()}:{_proc_start(os.getpid())}"
"""Who made a container: PID namespace, PID, start time. Servers share one Docker daemon
from several namespaces (on the host, in the deployment's container, in CI beside each
other); only a server in the same namespace can tell whether the owner is still running."""
FOREIGN_ORPHAN_AGE_S = 24 * 3600
"""Age after which a sandbox of a server in another PID namespace counts as abandoned: far
beyond the idle TTL and any run's budget, so a live one is never taken from its server."""


class DockerBackend:
    """Creates containers with every isolation setting of the issue; nothing is optional."""

    def __init__(
        self,
        client: docker.DockerClient,
        limits: Limits,
        runtime: str = "runc",
        disk_root: Path | None = None,
    ) -> None:
        self.client = client
        self.disks = LoopDisks(
            disk_root or cache_dir() / "disks", OWNER, limits.disk_mb, limits.disk_files
        )
        self.limits = check_limits_fit_host(limits, host_resources(client, self.disks.root))
        self.runtime = runtime
        self._pool = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="nf-exec")
        self._channels: dict[str, CommandChannel] = {}
        self._channels_lock = threading.Lock()

    def _labels(self, extra: dict[str, str]) -> dict[str, str]:
        return {LABEL: "1", f"{LABEL}.owner": OWNER, **extra}

    def create(self, image: str, labels: dict[str, str]) -> Box:
        name = f"nightfix-{uuid.uuid4().hex[:12]}"
        all_labels = self._labels(labels)
        lim = self.limits
        container_id = name
        try:
            options = self.disks.make(name)
            self.client.volumes.create(name=name, driver_opts=options, labels=all_labels)
            container = self.client.containers.create(
                image,
                command=_INIT_COMMAND,
                name=name,
                labels=all_labels,
                runtime=self.runtime,
                user=f"{SANDBOX_UID}:{SANDBOX_UID}",
                working_dir=f"{SANDBOX_ROOT}/workspace",
                network_mode="none",
                read_only=True,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges:true"],
                **_pid_limits(lim.pids, self.runtime),
                mem_limit=f"{lim.memory_mb}m",
                memswap_limit=f"{lim.memory_mb}m",
                nano_cpus=int(lim.cpus * 1e9),
                tmpfs={"/tmp": f"rw,nosuid,nodev,size={lim.tmp_mb}m"},  # noqa: S108
                mounts=[Mount(SANDBOX_ROOT, name, type="volume", read_only=False)],
                init=False,  # our own PID 1 (incontainer/init.py): reaps, cannot be killed
                stdin_open=True,  # PID 1's command channel (the attach stream)
                log_config=LogConfig(type="none"),  # command output is never kept on the host
                ipc_mode="private",
                environment={"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"},  # noqa: S108
            )
            container_id = container.id or name
            # `containers.create` already inspected it: attrs are the created container's.
            check_container_hardened(container.attrs, name, self.runtime)
            container.start()
            box = Box(box_id=container_id, disk=name, image=image, labels=all_labels)
            hello = self._channel(box).request("hello", deadline_s=30)
            check_init_hardened(hello, name)
            check_workspace_capped(hello.get("disk"), lim, name)
        except BaseException:
            self._remove_ids(container_id, name)
            raise
        return box

    def _channel(self, box: Box) -> CommandChannel:
        """The open channel to the box's PID 1 (attached on first use)."""
        with self._channels_lock:
            channel = self._channels.get(box.box_id)
            if channel is None:
                params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
                try:
                    stream = self.client.api.attach_socket(box.box_id, params=params)
                except docker.errors.NotFound:
                    raise SandboxError(GONE) from None
                channel = CommandChannel(stream, box.disk)
                self._channels[box.box_id] = channel
        return channel

    def run(self, box: Box, request: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        try:
            reply = self._channel(box).request("run", deadline_s, **request)
        except SandboxError as exc:
            if str(exc) != GONE:
                raise
            raise SandboxError(self._why_gone(box)) from None
        result: dict[str, Any] = reply["result"]
        return result

    def _why_gone(self, box: Box) -> str:
        """Why a container stopped answering, as precisely as Docker can tell."""
        try:
            state = self.client.api.inspect_container(box.box_id)["State"]
        except docker.errors.APIError:
            return GONE
        if state.get("OOMKilled"):
            return (
                f"the sandbox ran out of memory ({self.limits.memory_mb} MiB) and was killed "
                "whole (under gVisor its kernel counts too); create a new one"
            )
        if state.get("ExitCode") == 137:
            return (
                f"{GONE} (it was killed: out of memory ({self.limits.memory_mb} MiB), "
                "or from outside)"
            )
        if self.runtime == "runsc":
            return (
                f"the sandbox stopped whole (gVisor exited with code {state.get('ExitCode')}; "
                "most often a fork bomb reaching its host-task backstop); create a new one"
            )
        return f"{GONE} (it exited with code {state.get('ExitCode')})"

    def exec(
        self, box: Box, argv: list[str], *, user: str, env: dict[str, str], deadline_s: float
    ) -> RawExec:
        api = self.client.api
        try:
            exec_id = api.exec_create(
                box.box_id,
                argv,
                user=user,
                environment=env,
                workdir=f"{SANDBOX_ROOT}/workspace",
            )["Id"]
            future = self._pool.submit(api.exec_start, exec_id, demux=True)
            out, err = future.result(timeout=deadline_s)
            code = api.exec_inspect(exec_id).get("ExitCode")
        except concurrent.futures.TimeoutError:
            raise SandboxError("the sandbox did not answer in time; destroy it") from None
        except docker.errors.NotFound:
            raise SandboxError("the sandbox container is gone; create a new one") from None
        except docker.errors.APIError as exc:
            raise SandboxError(f"docker refused the command: {exc.explanation}") from None
        return RawExec(
            exit_code=-1 if code is None else int(code), stdout=out or b"", stderr=err or b""
        )

    def copy_in(self, box: Box, path: str, tar: bytes) -> None:
        try:
            ok = self.client.api.put_archive(box.box_id, path, tar)
        except docker.errors.APIError as exc:
            raise SandboxError(f"copying into the sandbox failed: {exc.explanation}") from None
        if not ok:
            raise SandboxError(f"copying into the sandbox at {path} failed")

    def remove(self, box: Box) -> None:
        self._remove_ids(box.box_id, box.disk)

    def remove_many(self, boxes: list[Box]) -> None:
        """Remove several boxes at once (shutdown must finish within the client's grace)."""
        if boxes:
            with concurrent.futures.ThreadPoolExecutor(min(8, len(boxes))) as pool:
                list(pool.map(self.remove, boxes))

    def _remove_ids(self, container: str, volume: str) -> None:
        with self._channels_lock:
            channel = self._channels.pop(container, None)
        if channel is not None:
            channel.close("the sandbox was destroyed")
        try:
            self.client.api.remove_container(container, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            log.warning("removing container %s failed: %s", container[:12], exc)
        try:
            self.client.api.remove_volume(volume, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            log.warning("removing volume %s failed: %s", volume, exc)
        self.disks.release(volume)

    def live_boxes(self) -> list[dict[str, Any]]:
        """Containers this server process owns (for tests and list_sandboxes)."""
        return list(
            self.client.api.containers(all=True, filters={"label": f"{LABEL}.owner={OWNER}"})
        )

    def remove_orphans(self) -> int:
        removed = 0
        for c in self.client.api.containers(all=True, filters={"label": LABEL}):
            if _is_orphan(c.get("Labels") or {}, float(c.get("Created") or 0)):
                self._remove_ids(c["Id"], c["Names"][0].lstrip("/"))
                removed += 1
        for v in self.client.api.volumes(filters={"label": LABEL}).get("Volumes") or []:
            if _is_orphan(v.get("Labels") or {}, _created(v.get("CreatedAt"))):
                self._remove_ids(v["Name"], v["Name"])
                removed += 1
        removed += self.disks.remove_orphans(
            lambda owner, created: _is_orphan({f"{LABEL}.owner": owner}, created)
        )
        if removed:
            log.info("removed %d orphaned sandbox containers/volumes/disks", removed)
        return removed

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._channels_lock:
            channels = list(self._channels.values())
            self._channels.clear()
        for channel in channels:
            channel.close("the sandbox server is shutting down")


# Under gVisor the container's cgroup counts the sandbox kernel's host threads and the
# ptrace platform's stub processes (thousands when a guest fork bomb is killed), not the
# guest's processes. So the guest is held to the pids limit by gVisor's own RLIMIT_NPROC,
# and the cgroup keeps a fixed backstop that bounds what one sandbox can take from the
# host (16 sandboxes: half of a default pid_max of 32768). A sandbox that reaches it, or
# its memory limit, is stopped whole: the call says so (`_why_gone`), the host is fine.
RUNSC_HOST_TASKS = 1024


def _pid_limits(pids: int, runtime: str) -> dict[str, Any]:
    if runtime != "runsc":
        return {"pids_limit": pids}
    return {
        "pids_limit": max(RUNSC_HOST_TASKS, pids),
        "ulimits": [Ulimit(name="nproc", soft=pids, hard=pids)],
    }


def host_resources(client: docker.DockerClient, disk_root: Path) -> dict[str, float]:
    """What the Docker host has: cores and memory (as dockerd reports), disk for workspaces."""
    info = client.info()
    probe = disk_root
    while not probe.exists():
        probe = probe.parent
    return {
        "cpus": info.get("NCPU") or 0,
        "memory_mb": (info.get("MemTotal") or 0) >> 20,
        "disk_free_mb": shutil.disk_usage(probe).free >> 20,
    }


def available_runtimes(client: docker.DockerClient) -> list[str]:
    """OCI runtimes registered with the Docker daemon (e.g. runc, runsc)."""
    return sorted((client.info().get("Runtimes") or {}).keys())


def _is_orphan(labels: dict[str, str], created: float) -> bool:
    """Whether a sandbox's server is gone. ``created``: when it was made (epoch seconds).

    Same PID namespace: gone when no process has the owner's PID and start time. Another
    namespace (another container, another host's daemon client): its PIDs cannot be looked up
    here, so it is left to its own server unless older than :data:`FOREIGN_ORPHAN_AGE_S`.
    """
    parts = labels.get(f"{LABEL}.owner", "").split(":")
    if len(parts) == 2:  # written before the namespace was recorded: this host's
        parts = [PID_NS, *parts]
    if len(parts) != 3 or not parts[1].isdigit():
        return True
    namespace, pid, start = parts
    if namespace != PID_NS:
        return time.time() - created > FOREIGN_ORPHAN_AGE_S
    return _proc_start(int(pid)) != start


def _created(stamp: str | None) -> float:
    """Docker's ``CreatedAt`` of a volume as epoch seconds (0, i.e. old, when unreadable)."""
    try:
        return datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return 0.0
