"""Runs one command in the sandbox: timeout that kills the whole tree, capped output.

argv[1] is JSON {"cmd", "timeout", "cap", "tag"}. Prints one JSON line. Stdlib only.
"""

# A stdlib-only script executed inside the sandbox by `python3 -I -S -c`.
# ruff: noqa: PTH123, PTH208, SIM105
# mypy: disable-error-code="no-untyped-def,union-attr"

import base64
import json
import os
import selectors
import signal
import subprocess
import sys
import time

spec = json.loads(sys.argv[1])
CAP = int(spec["cap"])
HEAD = CAP * 3 // 4
TAG = ("NIGHTFIX_EXEC=" + spec["tag"]).encode()


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
                if TAG in fh.read().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
                    found += 1
        except OSError:
            continue
    return found


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


def preexec():
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass


oom0, pids0 = oom_kills(), pid_limit_hits()
start = time.monotonic()
deadline = start + float(spec["timeout"])
env = dict(os.environ)
env["NIGHTFIX_EXEC"] = spec["tag"]
try:
    proc = subprocess.Popen(
        ["/bin/sh", "-c", spec["cmd"]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
        preexec_fn=preexec,
    )
except OSError as exc:
    print(
        json.dumps(
            {
                "exit_code": 126,
                "stdout": "",
                "stderr": base64.b64encode(f"cannot start command: {exc}".encode()).decode(),
                "timed_out": False,
                "killed": True,
                "reason": "pids_limit" if pid_limit_hits() > pids0 else "spawn_failed",
                "truncated": False,
                "duration_s": 0.0,
            }
        )
    )
    sys.exit(0)

bufs = {proc.stdout.fileno(): Capped(), proc.stderr.fileno(): Capped()}
sel = selectors.DefaultSelector()
for fh in (proc.stdout, proc.stderr):
    os.set_blocking(fh.fileno(), False)
    sel.register(fh.fileno(), selectors.EVENT_READ)
timed_out = False
exited_at = None
while sel.get_map():
    now = time.monotonic()
    if not timed_out and now >= deadline:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        kill_tagged()
        deadline = now + 5.0
    elif timed_out and now >= deadline:
        break
    if exited_at is None and proc.poll() is not None:
        exited_at = now
    if exited_at is not None and now - exited_at > 0.3:
        break  # background children keep the pipes open; stop listening to them
    for key, _ in sel.select(timeout=0.05):
        try:
            data = os.read(key.fd, 1 << 16)
        except BlockingIOError:
            continue
        if data:
            bufs[key.fd].add(data)
        else:
            sel.unregister(key.fd)
forked_too_much = pid_limit_hits() > pids0
if timed_out or forked_too_much:
    # A command that hit the pids limit (a fork bomb) dies with its whole tree, even
    # when its first process already returned and the rest runs in the background.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    for _ in range(20):
        if not kill_tagged():
            break
        time.sleep(0.05)
try:
    code = proc.wait(timeout=5)
except subprocess.TimeoutExpired:
    code = -9
out, t1 = bufs[proc.stdout.fileno()].render("stdout")
err, t2 = bufs[proc.stderr.fileno()].render("stderr")
reason = None
if oom_kills() > oom0:
    reason = "oom"
elif pid_limit_hits() > pids0:
    reason = "pids_limit"
elif timed_out:
    reason = "timeout"
elif code < 0:
    reason = "signal:" + signal.Signals(-code).name
print(
    json.dumps(
        {
            "exit_code": code if code >= 0 else 128 - code,
            "stdout": base64.b64encode(out).decode(),
            "stderr": base64.b64encode(err).decode(),
            "timed_out": timed_out,
            "killed": timed_out or forked_too_much or code < 0 or reason == "oom",
            "reason": reason,
            "truncated": t1 or t2,
            "duration_s": round(time.monotonic() - start, 3),
        }
    )
)
