"""Runs one command in the sandbox: timeout that kills the whole tree, capped output.

argv: COMMAND TIMEOUT_S CAP_BYTES TAG [ATTACH]. Prints one JSON line; with ATTACH, the
file at that path (a JUnit report, at most 5 MB) is read, removed and sent along.
Stdlib only, few imports (it starts on every exec: its start-up time is on the agent's
critical path).
"""

# A stdlib-only script executed inside the sandbox by `python3 -I -S -c`.
# ruff: noqa: PTH108, PTH123, PTH208, SIM105, S606
# mypy: disable-error-code="no-untyped-def"

import binascii
import os
import select
import signal
import sys
import time

CMD, TIMEOUT, CAP, TAG = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ATTACH = sys.argv[5] if len(sys.argv) > 5 else ""
HEAD = CAP * 3 // 4
MARK = ("NIGHTFIX_EXEC=" + TAG).encode()


def counter(paths, key):
    for path in paths:
        try:
            with open(path) as fh:
                for line in fh:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def oom_kills():
    return counter(
        ["/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"], "oom_kill"
    )


def pid_limit_hits():
    return counter(["/sys/fs/cgroup/pids.events", "/sys/fs/cgroup/pids/pids.events"], "max")


def kill_tagged():
    """SIGKILL every process that carries this command's tag (even after setsid)."""
    found = 0
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if MARK in fh.read().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
                    found += 1
        except OSError:
            continue
    return found


def kill_tree(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
    for _ in range(20):
        if not kill_tagged():
            break
        time.sleep(0.05)


class Capped:
    def __init__(self):
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data):
        self.total += len(data)
        room = HEAD - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > CAP - HEAD:
                del self.tail[: len(self.tail) - (CAP - HEAD)]

    def render(self, name):
        omitted = self.total - len(self.head) - len(self.tail)
        if omitted <= 0:
            return bytes(self.head + self.tail), False
        mark = f"\n[... nightfix: {omitted} bytes of {name} omitted (cap {CAP} bytes) ...]\n"
        return bytes(self.head) + mark.encode() + bytes(self.tail), True


def b64(data):
    return binascii.b2a_base64(data, newline=False).decode()


def attachment():
    if not ATTACH:
        return "null"
    try:
        with open(ATTACH, "rb") as fh:
            data = fh.read(5_000_000)
        os.unlink(ATTACH)
    except OSError:
        return "null"
    return f'"{b64(data)}"'


def report(code, out, err, timed_out, killed, reason, truncated, duration):
    reason_json = "null" if reason is None else f'"{reason}"'
    print(
        f'{{"exit_code": {code}, "stdout": "{b64(out)}", "stderr": "{b64(err)}", '
        f'"timed_out": {str(timed_out).lower()}, "killed": {str(killed).lower()}, '
        f'"reason": {reason_json}, "truncated": {str(truncated).lower()}, '
        f'"duration_s": {duration:.3f}, "attachment": {attachment()}}}'
    )


oom0, pids0 = oom_kills(), pid_limit_hits()
start = time.monotonic()
deadline = start + TIMEOUT
out_r, out_w = os.pipe()
err_r, err_w = os.pipe()
env = dict(os.environ)
env["NIGHTFIX_EXEC"] = TAG
try:
    pid = os.fork()
except OSError as exc:
    why = "pids_limit" if pid_limit_hits() > pids0 else "spawn_failed"
    report(126, b"", f"cannot start command: {exc}".encode(), False, True, why, False, 0.0)
    sys.exit(0)
if pid == 0:  # child: own session, first to go under memory pressure, then the shell
    try:
        os.setsid()
        try:
            with open("/proc/self/oom_score_adj", "w") as fh:
                fh.write("1000")
        except OSError:
            pass
        os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.execve("/bin/sh", ["/bin/sh", "-c", CMD], env)
    finally:
        os._exit(127)
os.close(out_w)
os.close(err_w)

bufs = {out_r: Capped(), err_r: Capped()}
poller = select.poll()
for fd in bufs:
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
open_fds = set(bufs)
timed_out = False
status = None
exited_at = None
while open_fds:
    now = time.monotonic()
    if not timed_out and now >= deadline:
        timed_out = True
        kill_tree(pid)
        deadline = now + 5.0
    elif timed_out and now >= deadline:
        break
    if status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status, exited_at = st, now
    if exited_at is not None and now - exited_at > 0.3:
        break  # background children keep the pipes open; stop listening to them
    for fd, _ in poller.poll(50):
        data = os.read(fd, 1 << 16)
        if data:
            bufs[fd].add(data)
        else:
            poller.unregister(fd)
            open_fds.discard(fd)
forked_too_much = pid_limit_hits() > pids0
if forked_too_much and not timed_out:
    # A command that hit the pids limit (a fork bomb) dies with its whole tree, even
    # when its first process already returned and the rest runs in the background.
    kill_tree(pid)
if status is None:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 9
code = os.waitstatus_to_exitcode(status)
out, t1 = bufs[out_r].render("stdout")
err, t2 = bufs[err_r].render("stderr")
reason: "str | None" = None
if oom_kills() > oom0:
    reason = "oom"
elif forked_too_much:
    reason = "pids_limit"
elif timed_out:
    reason = "timeout"
elif code < 0:
    reason = "signal:" + signal.Signals(-code).name
report(
    code if code >= 0 else 128 - code,
    out,
    err,
    timed_out,
    timed_out or forked_too_much or code < 0 or reason == "oom",
    reason,
    t1 or t2,
    time.monotonic() - start,
)
