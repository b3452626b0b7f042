"""Hostile programs are contained, get a clear result, and the server keeps serving.

The `service` fixture runs with stricter limits than the defaults (64 pids, 256 MiB,
16 KiB of output), set the way an operator sets them: by configuration, never by a tool.
Every test runs under runc and under gVisor (runsc). Where gVisor differs, the security
property asserted is the same and only how it is observed changes: its /proc has no
NoNewPrivs line, `ls` (statx) fails on it, and a fork bomb or memory hog stops the whole
sandbox (its kernel runs inside the same limits) instead of one command.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nightfix_sandbox.errors import SandboxError, SecurityError
from nightfix_sandbox.runner import run_attached
from nightfix_sandbox.service import SandboxService

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module", params=["runc", "runsc"])
def service(request: pytest.FixtureRequest, start_service: Any) -> Iterator[SandboxService]:
    """The suite runs once under runc and once under gVisor (runsc), the second wall."""
    with start_service(request.param) as svc:
        yield svc


@pytest.fixture(scope="module")
def bystander(service: SandboxService) -> Iterator[str]:
    """Another sandbox that must keep working while its neighbours misbehave."""
    sid = service.create("calc").sandbox_id
    try:
        yield sid
    finally:
        service.destroy(sid)


def _still_serving(service: SandboxService, *sandbox_ids: str) -> None:
    for sid in sandbox_ids:
        res = service.exec(sid, "echo alive", timeout_s=30)
        assert (res.exit_code, res.stdout) == (0, "alive\n"), res


def _stopped_whole(service: SandboxService, sandbox_id: str, exc: SandboxError) -> None:
    """gVisor: the sandbox was stopped whole by its limits, said so, and stays dead."""
    assert service.config.runtime == "runsc", exc  # under runc one command dies, not all
    assert "create a new one" in str(exc)
    with pytest.raises(SandboxError, match="create a new one"):
        service.exec(sandbox_id, "echo still-here")


def test_fork_bomb_hits_pids_limit_and_is_killed(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    try:
        res = service.exec(sandbox_id, "bomb() { bomb | bomb & }; bomb; sleep 30", timeout_s=5)
    except SandboxError as exc:  # gVisor: the ptrace platform's host tasks hit the backstop
        _stopped_whole(service, sandbox_id, exc)
        _still_serving(service, bystander)
        return
    assert res.killed  # timed out, or its first process already gave up: killed either way
    assert res.reason == "pids_limit"
    _still_serving(service, sandbox_id, bystander)
    left = service.exec(sandbox_id, "echo /proc/[0-9]* | wc -w")  # init, python, sh, wc
    assert left.exit_code == 0 and 3 <= int(left.stdout) < 10, left


def test_memory_hog_is_oom_killed(service: SandboxService, sandbox_id: str, bystander: str) -> None:
    hog = "python3 -c 'x = []\nwhile True: x.append(bytearray(16 << 20))'"
    if service.config.runtime == "runsc":  # gVisor's kernel shares the memory limit
        with pytest.raises(SandboxError, match=r"out of memory \(256 MiB\)") as err:
            service.exec(sandbox_id, hog, timeout_s=60)
        _stopped_whole(service, sandbox_id, err.value)
        _still_serving(service, bystander)
        return
    res = service.exec(sandbox_id, hog, timeout_s=60)
    assert res.killed and not res.timed_out
    assert res.reason == "oom"
    assert res.exit_code == 137
    _still_serving(service, sandbox_id, bystander)


def test_infinite_loop_times_out_and_whole_tree_is_killed(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    # The loop also starts a child that leaves the process group (setsid).
    cmd = "setsid sh -c 'while :; do :; done' & while :; do :; done"
    res = service.exec(sandbox_id, cmd, timeout_s=2)
    assert res.timed_out and res.killed and res.reason == "timeout"
    # `whil[e]` matches the loops' command lines but not this probe's own
    probe = "cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -c 'whil[e] :' || true"
    left = service.exec(sandbox_id, probe)
    assert left.exit_code == 0 and left.stdout.strip() == "0", left  # the setsid escapee too
    _still_serving(service, sandbox_id, bystander)


def test_timeout_kills_escapees_that_hid_from_the_tag_and_from_proc(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    # Left the session, cleared the environment (the tag), made itself non-dumpable:
    # none of that hides a process's parent, so the sweep after the timeout finds it.
    hide = "import ctypes, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); time.sleep(999)"
    escapees = (
        "setsid env -i sh -c 'while :; do :; done' >/dev/null 2>&1 & "
        f'setsid env -i python3 -c "{hide}" >/dev/null 2>&1 & sleep 100'
    )
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        neighbour = pool.submit(service.exec, sandbox_id, "sleep 4; echo still-here", 30)
        res = service.exec(sandbox_id, escapees, timeout_s=2)
        assert res.timed_out and res.reason == "timeout", res
        # a command running alongside is not the timed-out command's: it is spared
        assert neighbour.result(timeout=60).stdout == "still-here\n"
    probe = "cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -c 'whil[e] :\\|slee[p](999)' || true"
    assert service.exec(sandbox_id, probe).stdout.strip() == "0"
    _still_serving(service, sandbox_id, bystander)


def test_gigabytes_of_output_are_capped_with_marker(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    res = service.exec(sandbox_id, "head -c 3000000000 /dev/zero | tr '\\0' x", timeout_s=120)
    assert res.truncated
    assert "bytes of stdout omitted (cap 16384 bytes)" in res.stdout
    assert len(res.stdout) < 17000
    _still_serving(service, sandbox_id, bystander)


def test_network_connection_is_impossible(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    probe = (
        'python3 -c "import socket\n'
        "try:\n socket.create_connection(('1.1.1.1', 53), timeout=3); print('CONNECTED')\n"
        "except OSError as e: print('refused', e.errno)\""
    )
    res = service.exec(sandbox_id, probe, timeout_s=20)
    assert res.stdout.startswith("refused"), res
    links = service.exec(sandbox_id, "cat /proc/net/dev | tail -n +3 | cut -d: -f1")
    assert links.stdout.split() == ["lo"]
    dns = service.exec(sandbox_id, "python3 -c \"import socket; socket.gethostbyname('pypi.org')\"")
    assert dns.exit_code != 0
    _still_serving(service, sandbox_id, bystander)


def test_write_outside_workspace_is_refused(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    res = service.exec(
        sandbox_id,
        "touch /etc/evil; touch /usr/evil; touch /sandbox/evil; echo x > /sandbox/.base.git/HEAD",
    )
    if service.config.runtime == "runc":
        assert res.stderr.count("Read-only file system") == 2
        assert res.stderr.count("Permission denied") == 2  # volume root and the diff base
    else:  # gVisor refuses writes to the read-only root with EACCES
        assert res.stderr.count("Permission denied") == 4, res
    gone = "for f in /etc/evil /usr/evil /sandbox/evil; do test -e $f && echo $f; done; true"
    assert service.exec(sandbox_id, gone).stdout == ""
    for path in ("../evil.py", "/etc/cron.d/evil", "/sandbox/.base.git/config"):
        with pytest.raises(SecurityError):
            service.write_file(sandbox_id, path, "pwned")
    # symlinks planted by a command cannot carry a write (or patch) out of the workspace
    service.exec(sandbox_id, "ln -s /tmp out; ln -s /sandbox/.base.git/HEAD basehead")
    with pytest.raises(SecurityError, match="outside the workspace"):
        service.write_file(sandbox_id, "out/evil", "pwned")
    with pytest.raises(SecurityError, match="outside the workspace"):
        service.write_file(sandbox_id, "basehead", "pwned")
    listing = "python3 -c 'import os; print(os.listdir(\"/tmp\"))'"
    assert service.exec(sandbox_id, listing).stdout == "[]\n"
    assert service.diff(sandbox_id).base_commit  # the base snapshot is intact
    _still_serving(service, sandbox_id, bystander)


def test_read_host_files_is_impossible(
    service: SandboxService, sandbox_id: str, bystander: str, tmp_path: Path
) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("TOP-SECRET")
    res = service.exec(sandbox_id, f"cat {secret}; ls /var/run/docker.sock /run/docker.sock")
    assert "TOP-SECRET" not in res.stdout and "No such file" in res.stderr
    with pytest.raises(SecurityError):
        service.read_file(sandbox_id, str(secret))
    with pytest.raises(SecurityError):
        service.read_file(sandbox_id, "../../etc/hostname")
    service.exec(sandbox_id, "ln -s /etc/passwd passwd-link")
    with pytest.raises(SecurityError, match="outside the workspace"):
        service.read_file(sandbox_id, "passwd-link")
    assert service.search(sandbox_id, "root:").matches == []  # search skips it too
    assert "passwd-link" not in service.list_files(sandbox_id).files
    _still_serving(service, sandbox_id, bystander)


def test_privilege_escalation_is_blocked(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    status = service.exec(sandbox_id, "grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status")
    fields = dict(line.split(":\t") for line in status.stdout.splitlines())
    no_caps = {"CapPrm": "0000000000000000", "CapEff": "0000000000000000"}
    if service.config.runtime == "runc":
        assert fields == {**no_caps, "NoNewPrivs": "1"}
    else:  # gVisor's /proc has no NoNewPrivs line; the su check below shows its effect
        assert fields == no_caps
    setuid = service.exec(sandbox_id, "python3 -c 'import os; os.setuid(0)'")
    assert setuid.exit_code != 0 and "PermissionError" in setuid.stderr
    # a setuid-root binary does not raise privileges under no-new-privileges
    mode = "python3 -c 'import os, stat; print(stat.filemode(os.stat(\"/bin/su\").st_mode))'"
    su = service.exec(sandbox_id, f"{mode}; su -c id root </dev/null", timeout_s=20)
    assert "rws" in su.stdout and "uid=0" not in su.stdout, su
    mount = service.exec(sandbox_id, "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m")
    assert mount.exit_code != 0
    _still_serving(service, sandbox_id, bystander)


def test_kill_everything_cannot_take_down_the_sandbox(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    res = service.exec(sandbox_id, "sleep 300 & kill -9 -1; echo survived", timeout_s=30)
    assert res.killed and res.reason == "supervisor_killed"  # it killed its own supervisor
    _still_serving(service, sandbox_id, bystander)  # PID 1 cannot be killed from inside
    left = service.exec(
        sandbox_id, "cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -c 'slee[p] 300' || true"
    )
    assert left.stdout.strip() == "0"  # the background sleep was cleaned up too


def test_command_cannot_reach_the_command_channel_of_pid1(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    # PID 1 and the supervisors are not dumpable: their fds are closed to the sandbox user.
    probe = (
        'python3 -c "import os\n'
        "def ppid(pid): return int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "sup = os.getpid()\n"
        "while ppid(sup) != 1: sup = ppid(sup)\n"
        "tries = [('init fds', lambda: os.listdir('/proc/1/fd')),\n"
        "  ('forge reply', lambda: open('/proc/1/fd/1', 'w').write('{}')),\n"
        "  ('supervisor fds', lambda: os.listdir(f'/proc/{sup}/fd'))]\n"
        "for name, attempt in tries:\n"
        "    try: attempt(); print(name, 'REACHED')\n"
        "    except OSError as e: print(name, 'refused', e.strerror)\n"
        'exit(3)"'
    )
    res = service.exec(sandbox_id, probe)
    if service.config.runtime == "runc":
        assert res.stdout.splitlines() == [
            "init fds refused Permission denied",
            "forge reply refused Permission denied",
            "supervisor fds refused Permission denied",
        ], res
    else:  # gVisor lets the same uid open a non-dumpable process's fds: the HMAC holds
        assert "REACHED" in res.stdout, res  # (the next test shows no forgery gets through)
    assert res.exit_code == 3 and res.reason is None  # a genuine result, not a forged one


FORGE = """
import json, os, time
tag = os.environ["NIGHTFIX_EXEC"]  # the request id of this very command
fake = {"exit_code": 0, "stdout": "Rk9SR0VE", "stderr": "", "timed_out": False,
        "killed": False, "reason": None, "truncated": False, "duration_s": 0.1}
reply = json.dumps({"id": tag, "ok": True, "result": fake})
request = json.dumps({"id": tag, "op": "run", "argv": ["echo", "FORGED"], "env": {},
                      "cwd": "/", "timeout_s": 5, "cap": 1024})
sent = []
try:
    fds = os.listdir("/proc/1/fd")  # the channel, and every supervisor's result pipe
except OSError:
    fds = []
for fd in fds:
    for line in (reply, "0" * 64 + " " + reply, request):
        try:
            w = os.open(f"/proc/1/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
            os.write(w, (line + chr(10)).encode())
            os.close(w)
            sent.append(fd)
        except OSError:
            pass
print("written into", sorted(set(sent)))
time.sleep(2)  # an injected request, were it run, would answer first
raise SystemExit(3)
"""


def test_forged_reply_written_into_pid1_channel_is_refused(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    # The command knows its own request id; it writes a forged "exit 0, FORGED" reply and
    # a forged request into whatever of PID 1's descriptors it can open. Under runc it
    # can open none; under gVisor it can, and the missing HMAC refuses every line.
    service.exec(sandbox_id, f"cat > /tmp/forge.py <<'EOF'\n{FORGE}\nEOF")
    res = service.exec(sandbox_id, "python3 /tmp/forge.py", timeout_s=30)
    assert "FORGED" not in res.stdout, res
    if service.config.runtime == "runc":
        assert (res.exit_code, res.stdout) == (3, "written into []\n"), res
    else:  # it wrote into the channel and into its supervisor's pipe: its own result is lost
        assert res.stdout.startswith("written into") or res.reason == "result_tampered", res
        assert res.exit_code != 0, res
    _still_serving(service, sandbox_id, bystander)


def test_command_cannot_ptrace_pid1_or_its_supervisor(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    # The supervisor is the ancestor whose parent is PID 1; attach to it and to PID 1.
    probe = (
        'python3 -c "import ctypes, os\n'
        "def ppid(pid): return int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "sup = os.getpid()\n"
        "while ppid(sup) != 1: sup = ppid(sup)\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for name, pid in (('init', 1), ('supervisor', sup)):\n"
        "    rc = libc.ptrace(16, pid, 0, 0)\n"  # PTRACE_ATTACH
        '    print(name, rc, os.strerror(ctypes.get_errno()))"'
    )
    res = service.exec(sandbox_id, probe)
    assert res.exit_code == 0, res
    lines = res.stdout.splitlines()
    assert lines == ["init -1 Operation not permitted", "supervisor -1 Operation not permitted"]
    _still_serving(service, sandbox_id, bystander)


def test_command_that_kills_its_supervisor_gets_a_clear_result(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    res = service.exec(sandbox_id, "sleep 200 & kill -9 $PPID; sleep 100", timeout_s=30)
    assert res.killed and res.reason == "supervisor_killed", res
    assert "killed its supervisor" in res.stderr
    _still_serving(service, sandbox_id, bystander)
    left = service.exec(
        sandbox_id, "cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -c 'slee[p] ' || true"
    )
    assert left.stdout.strip() == "0"


def test_orphans_a_command_leaves_are_reaped_while_it_runs(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    # 200 background processes that exit at once, each orphaned by its subshell: their
    # zombies must not pile up under the supervisor until the 64-pid limit is hit.
    res = service.exec(sandbox_id, "for i in $(seq 200); do (true &); done; echo ok", 60)
    assert (res.exit_code, res.stdout, res.reason) == (0, "ok\n", None), res
    _still_serving(service, sandbox_id, bystander)


def test_fifo_planted_where_run_tests_reads_its_report_is_refused(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    # A plain open() of a FIFO blocks until a writer comes: it used to hang the call.
    plant = 'rm -f "$NIGHTFIX_JUNIT_XML"; mkfifo "$NIGHTFIX_JUNIT_XML"; echo "1 passed"'
    report = service.run_tests(sandbox_id, plant, timeout_s=5)
    assert "was not read: it is a FIFO; write the report as a regular file" in report.output_tail
    assert not report.timed_out
    _still_serving(service, sandbox_id, bystander)


def test_symlink_planted_where_the_report_is_read_is_not_followed(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    report = "/tmp/nightfix-report.xml"  # inside the sandbox
    plant = f"ln -s /etc/passwd {report}"
    box = service._get(sandbox_id).box
    res, attached = run_attached(service.backend, box, plant, 5, 16384, attach=report)
    assert attached == b"" and "was not read: it is a symlink" in res.stderr, res
    gone = f"test -e {report} || test -L {report} || echo removed"
    assert service.exec(sandbox_id, gone).stdout == "removed\n"
    _still_serving(service, sandbox_id, bystander)


def test_flood_of_changed_files_caps_diff_and_list_files(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    flood = (
        'python3 -c "import os\n'
        "os.makedirs('gen')\n"
        "for i in range(3000): open(f'gen/f{i}.txt', 'w').write(f'line {i}\\\\n')\n"
        "open('big.txt', 'w').write(''.join(f'{i:039d}\\\\n' for i in range(20000)))\""
    )
    assert service.exec(sandbox_id, flood, timeout_s=120).exit_code == 0
    diff = service.diff(sandbox_id)
    assert diff.truncated and len(diff.files_changed) == 1000
    assert (diff.added_lines, diff.removed_lines) == (23000, 0)  # totals stay exact
    assert diff.note and "first 1000 of 3001 files" in diff.note and "path=" in diff.note
    assert diff.diff.endswith(diff.note + "\n") and len(diff.diff) < 400_000 + 1000
    narrow = service.diff(sandbox_id, path="gen/f7.txt")
    assert narrow.files_changed == ["gen/f7.txt"] and not narrow.truncated
    listing = service.list_files(sandbox_id)
    assert listing.truncated and len(listing.files) == 2000
    assert listing.note and "glob=" in listing.note
    _still_serving(service, sandbox_id, bystander)


def test_long_path_names_cap_list_files_by_bytes(
    service: SandboxService, sandbox_id: str, bystander: str
) -> None:
    deep = (
        'python3 -c "import os\n'
        "d = os.path.join('d' * 200, 'e' * 200)\n"
        "os.makedirs(d)\n"
        "for i in range(800): open(os.path.join(d, f'{i:0200d}'), 'w').close()\""
    )
    assert service.exec(sandbox_id, deep, timeout_s=120).exit_code == 0
    listing = service.list_files(sandbox_id)
    assert listing.truncated and len(listing.files) < 800
    assert sum(len(f) + 1 for f in listing.files) <= 200_000
    assert listing.note and "200000 bytes of names" in listing.note
    _still_serving(service, sandbox_id, bystander)
