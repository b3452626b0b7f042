"""Each named security check, tested against the attack it stops (no Docker needed)."""

from __future__ import annotations

import io
import tarfile

import pytest
from pydantic import ValidationError

from nightfix_sandbox.config import Limits, SandboxConfig, parse_source
from nightfix_sandbox.errors import ConfigError, SandboxError, SecurityError, UnknownSourceError
from nightfix_sandbox.security import (
    check_command,
    check_container_hardened,
    check_git_url,
    check_init_hardened,
    check_limits_fit_host,
    check_patch_paths,
    check_realpath_in_workspace,
    check_ref_safe,
    check_sandbox_id,
    check_source_known,
    check_timeout,
    check_workspace_capped,
    resolve_in_workspace,
)
from nightfix_sandbox.sources import reown_tar

WS = "/sandbox/workspace"


def test_resolve_in_workspace_accepts_nested_relative_path() -> None:
    assert resolve_in_workspace(WS, "pkg/mod.py") == f"{WS}/pkg/mod.py"
    assert resolve_in_workspace(WS, "./a//b.py") == f"{WS}/a/b.py"
    assert resolve_in_workspace(WS, "") == WS


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../x", "..", "pkg/../../../root"])
def test_resolve_in_workspace_refuses_dotdot_escape(path: str) -> None:
    with pytest.raises(SecurityError, match=r"'\.\.'"):
        resolve_in_workspace(WS, path)


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "/sandbox/.base.git/config", "/var/run/docker.sock"]
)
def test_resolve_in_workspace_refuses_absolute_path(path: str) -> None:
    with pytest.raises(SecurityError, match="absolute"):
        resolve_in_workspace(WS, path)


def test_resolve_in_workspace_refuses_nul_byte_truncation() -> None:
    with pytest.raises(SecurityError, match="NUL"):
        resolve_in_workspace(WS, "ok.py\x00/../../etc/passwd")


def test_resolve_in_workspace_refuses_control_characters() -> None:
    with pytest.raises(SecurityError, match="control"):
        resolve_in_workspace(WS, "a\nb")


def test_check_realpath_refuses_symlink_target_outside() -> None:
    with pytest.raises(SecurityError, match="outside"):
        check_realpath_in_workspace(WS, "/etc/shadow")
    with pytest.raises(SecurityError, match="outside"):
        check_realpath_in_workspace(WS, "/sandbox/workspace-evil/x")  # prefix trick
    assert check_realpath_in_workspace(WS, f"{WS}/x") == f"{WS}/x"


def test_check_source_known_refuses_unknown_source() -> None:
    with pytest.raises(UnknownSourceError, match="known sources: calc"):
        check_source_known({"calc": "/repo"}, "/etc")


def test_check_source_known_fails_closed_without_configuration() -> None:
    with pytest.raises(UnknownSourceError, match="no sources"):
        check_source_known({}, "anything")


@pytest.mark.parametrize(
    "ref",
    ["--output=/tmp/x", "-h", "HEAD:secret.txt", "main..evil", "a b", "HEAD\n", "", "x" * 300],
)
def test_check_ref_safe_refuses_option_injection_and_odd_refs(ref: str) -> None:
    with pytest.raises(SecurityError):
        check_ref_safe(ref)


@pytest.mark.parametrize("ref", ["HEAD", "main", "v1.2.3", "feature/x", "HEAD~1", "a1b2c3d"])
def test_check_ref_safe_accepts_ordinary_refs(ref: str) -> None:
    assert check_ref_safe(ref) == ref


@pytest.mark.parametrize("sid", ["../../x", "sbx-", "sbx-ZZZZZZZZZZZZ", "nightfix-abc"])
def test_check_sandbox_id_refuses_forged_ids(sid: str) -> None:
    with pytest.raises(SecurityError):
        check_sandbox_id(sid)


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/pwned", "--upload-pack=evil", "/etc"])
def test_check_git_url_refuses_ext_transport_and_options(url: str) -> None:
    with pytest.raises(SecurityError):
        check_git_url(url)


def test_check_patch_paths_refuses_patch_escaping_workspace() -> None:
    patch = "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(SecurityError, match=r"'\.\.'"):
        check_patch_paths(WS, patch)


def test_check_patch_paths_refuses_absolute_target() -> None:
    with pytest.raises(SecurityError, match="absolute"):
        check_patch_paths(WS, "--- /dev/null\n+++ /etc/cron.d/evil\n@@ -0,0 +1 @@\n+x\n")


def test_check_patch_paths_refuses_text_that_is_not_a_diff() -> None:
    with pytest.raises(SecurityError, match="no file headers"):
        check_patch_paths(WS, "rm -rf /\n")


def _attrs(**overrides: object) -> dict[str, object]:
    hc: dict[str, object] = {
        "NetworkMode": "none",
        "ReadonlyRootfs": True,
        "CapDrop": ["ALL"],
        "CapAdd": None,
        "SecurityOpt": ["no-new-privileges:true"],
        "Privileged": False,
        "Binds": None,
        "Devices": None,
        "PidsLimit": 64,
        "Memory": 1 << 28,
        "MemorySwap": 1 << 28,
        "LogConfig": {"Type": "none", "Config": {}},
        "Runtime": "runc",
    }
    hc.update(overrides)
    return {
        "HostConfig": hc,
        "Config": {"User": "1000:1000"},
        "Mounts": [{"Type": "volume", "Name": "v1"}, {"Type": "tmpfs"}],
    }


def test_check_container_hardened_accepts_the_hardened_shape() -> None:
    check_container_hardened(_attrs(), "v1")


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"NetworkMode": "bridge"}, "network"),
        ({"ReadonlyRootfs": False}, "writable"),
        ({"CapDrop": None}, "capabilities"),
        ({"CapAdd": ["SYS_ADMIN"]}, "capabilities"),
        ({"SecurityOpt": []}, "no-new-privileges"),
        ({"Privileged": True}, "privileged"),
        ({"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]}, "host paths"),
        ({"PidsLimit": 0}, "limit"),
        ({"MemorySwap": -1}, "swap"),
        ({"LogConfig": {"Type": "json-file"}}, "logged on the host"),
    ],
)
def test_check_container_hardened_refuses_weakened_container(
    override: dict[str, object], problem: str
) -> None:
    with pytest.raises(SecurityError, match=problem):
        check_container_hardened(_attrs(**override), "v1")


def test_check_container_hardened_refuses_root_user_and_host_mount() -> None:
    attrs = _attrs()
    attrs["Config"] = {"User": ""}
    attrs["Mounts"] = [{"Type": "bind", "Source": "/"}, {"Type": "volume", "Name": "v1"}]
    with pytest.raises(SecurityError, match="root") as err:
        check_container_hardened(attrs, "v1")
    assert "mounts other than" in str(err.value)


def test_check_init_hardened_accepts_an_undumpable_unprivileged_pid1() -> None:
    check_init_hardened({"ok": True, "uid": 1000, "dumpable": 0}, "box")


@pytest.mark.parametrize(
    ("hello", "problem"),
    [
        ({"uid": 0, "dumpable": 0}, "uid 0"),
        ({"dumpable": 0}, "uid None"),
        ({"uid": 1000, "dumpable": 1}, "dumpable"),
        ({"uid": 1000}, "dumpable"),
    ],
)
def test_check_init_hardened_refuses_a_pid1_the_sandbox_user_could_reach(
    hello: dict[str, object], problem: str
) -> None:
    with pytest.raises(SecurityError, match=problem):
        check_init_hardened(hello, "box")


@pytest.mark.parametrize("timeout", [0, -1, 601])
def test_check_timeout_refuses_unbounded_commands(timeout: int) -> None:
    with pytest.raises(SecurityError, match=r"1\.\.600"):
        check_timeout(timeout, 600)


@pytest.mark.parametrize("field", [{"output_bytes": 10**9}, {"tmp_mb": 4096}])
def test_limits_refuse_loosening_output_and_tmp_by_flags(field: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match="stricter"):
        Limits(**field)


@pytest.mark.parametrize("field", [{"pids": 100000}, {"max_timeout_s": 10**6}])
def test_limits_refuse_values_past_the_hard_bounds(field: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match="less than or equal"):
        Limits(**field)


HOST = {"cpus": 2, "memory_mb": 24000, "disk_free_mb": 80000}


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ({"cpus": 4.0}, "--cpus 4.0 is more than the host's 2 cores"),
        ({"memory_mb": 65536}, "--memory-mb 65536 is more than the host's 24000 MiB of memory"),
        ({"disk_mb": 10**6}, "--disk-mb 1000000 is more than the host's 80000 MiB free"),
    ],
)
def test_limits_raised_beyond_the_host_are_refused(field: dict[str, float], problem: str) -> None:
    with pytest.raises(SecurityError, match=problem):
        check_limits_fit_host(Limits(**field), HOST)


def test_limits_fail_closed_when_the_host_is_unknown() -> None:
    with pytest.raises(SecurityError, match="unknown"):
        check_limits_fit_host(Limits(), {"cpus": 2})


def test_operator_may_raise_limits_up_to_the_host() -> None:
    raised = Limits(cpus=2.0, memory_mb=8192, pids=4096, max_timeout_s=3600, disk_mb=20000)
    assert check_limits_fit_host(raised, HOST) is raised


def test_uncapped_workspace_on_the_host_disk_is_refused() -> None:
    host_disk = {"bytes": 252 << 30, "files": 16_000_000}  # what statvfs shows on /
    with pytest.raises(SecurityError, match="not capped by its filesystem"):
        check_workspace_capped(host_disk, Limits(), "box")


@pytest.mark.parametrize(
    ("disk", "problem"),
    [
        ({"bytes": 2 << 30, "files": 100_000}, "MiB"),  # twice the 1024 MiB cap
        ({"bytes": 1 << 30, "files": 5_000_000}, "files"),  # size capped, inodes not
        (None, "could not be measured"),
        ({"bytes": "1"}, "could not be measured"),
    ],
)
def test_workspace_over_its_caps_or_unmeasured_is_refused(
    disk: dict[str, object] | None, problem: str
) -> None:
    with pytest.raises(SecurityError, match=problem):
        check_workspace_capped(disk, Limits(disk_mb=1024, disk_files=200_000), "box")


def test_workspace_within_its_caps_is_accepted() -> None:
    check_workspace_capped({"bytes": 2_089_787_392, "files": 200_192}, Limits(), "box")


NPROC = [{"Name": "nproc", "Soft": 64, "Hard": 64}]


def test_container_under_runc_when_gvisor_was_configured_is_refused() -> None:
    with pytest.raises(SecurityError, match="runtime is 'runc', not 'runsc'"):
        check_container_hardened(_attrs(Ulimits=NPROC), "v1", "runsc")
    check_container_hardened(_attrs(Runtime="runsc", Ulimits=NPROC), "v1", "runsc")


def test_gvisor_guest_without_a_process_limit_is_refused() -> None:
    # gVisor's guest processes are outside the pids cgroup: a fork bomb needs RLIMIT_NPROC
    with pytest.raises(SecurityError, match="no process limit"):
        check_container_hardened(_attrs(Runtime="runsc"), "v1", "runsc")
    with pytest.raises(SecurityError, match="no process limit"):
        unbounded = [{"Name": "nproc", "Soft": 10**6, "Hard": 10**6}]
        check_container_hardened(_attrs(Runtime="runsc", Ulimits=unbounded), "v1", "runsc")


def test_limits_accept_stricter_values() -> None:
    assert Limits(pids=32, memory_mb=128).pids == 32


def test_config_refuses_source_name_with_path_characters() -> None:
    with pytest.raises(ValidationError):
        SandboxConfig(sources={"../x": "/tmp"})
    with pytest.raises(ConfigError):
        parse_source("no-equals-sign")


def test_reown_tar_refuses_archive_member_escaping_workspace() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../../etc/cron.d/evil")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(SecurityError, match="escapes"):
        reown_tar(buf.getvalue())


def test_reown_tar_gives_files_to_the_sandbox_user() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("a.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with tarfile.open(fileobj=io.BytesIO(reown_tar(buf.getvalue()))) as tar:
        assert [(m.name, m.uid, m.gid) for m in tar] == [("a.py", 1000, 1000)]


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("   ", "empty"),
        ("echo a\x00b", "NUL byte"),
        ("echo " + "x" * 131_067, "write a script with write_file"),
    ],
)
def test_check_command_refuses_what_no_exec_can_run(command: str, problem: str) -> None:
    with pytest.raises(SandboxError, match=problem):
        check_command(command)


def test_check_command_accepts_the_largest_command_exec_can_take() -> None:
    assert check_command("echo " + "x" * 131_066)
