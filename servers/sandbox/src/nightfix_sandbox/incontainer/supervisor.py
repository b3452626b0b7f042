"""Runs one command in the sandbox: a timeout that kills the whole tree, capped output.

PID 1 (init.py) loads this file and calls `supervise` in a freshly forked child for every
command the host sends, so no Python starts per command. The child is not dumpable (it
inherits that from PID 1): the command it runs, though it has the same uid, can neither
ptrace it nor open its file descriptors, so it cannot forge the result. It can only kill
it, which PID 1 sees and reports as `supervisor_killed`.
Stdlib only; defines functions, runs nothing at import.
"""

# A stdlib-only script executed inside the sandbox (its text is passed to PID 1).
# ruff: noqa: PTH108, PTH123, PTH208, SIM105, S606
# mypy: disable-error-code="no-untyped-def"

import binascii
import errno
import os
import resource
import select
import signal
import stat
import time


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


def nproc_saturated():
    """True when this uid's processes fill RLIMIT_NPROC, the pids limit under gVisor
    (which has no pids cgroup to read); never under runc, where it is unlimited."""
    soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    if soft == resource.RLIM_INFINITY:
        return False
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid  # noqa: PTH116
            except OSError:
                continue
    return count >= soft - 2


def kill_tagged(mark):
    """SIGKILL every process that carries this command's tag (even after setsid)."""
    found = 0
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if mark in fh.read().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
                    found += 1
        except OSError:
            continue
    return found


def kill_tree(pgid, mark):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
    for _ in range(20):
        if not kill_tagged(mark):
            break
        time.sleep(0.05)


class Capped:
    """Keeps the first 3/4 and the last 1/4 of a stream of at most `cap` bytes."""

    def __init__(self, cap):
        self.cap = cap
        self.head_cap = cap * 3 // 4
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data):
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            keep = self.cap - self.head_cap
            if len(self.tail) > keep:
                del self.tail[: len(self.tail) - keep]

    def render(self, name):
        omitted = self.total - len(self.head) - len(self.tail)
        if omitted <= 0:
            return bytes(self.head + self.tail), False
        mark = f"\n[... nightfix: {omitted} bytes of {name} omitted (cap {self.cap} bytes) ...]\n"
        return bytes(self.head) + mark.encode() + bytes(self.tail), True


def b64(data):
    return binascii.b2a_base64(data, newline=False).decode()


def attachment(path):
    """The file a command was asked to write (a JUnit report, at most 5 MB), then removed.

    Returns (base64 text or None, why it was not read or None). The command chose what
    lies at `path`: a FIFO would block a plain open() for ever and a symlink could point
    anywhere, so it is opened without following a symlink and without blocking, and read
    only if it then proves to be a regular file. Whatever it was, it is removed.
    """
    if not path:
        return None, None
    try:
        return read_regular(path, 5_000_000), None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        why = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror
        return None, f"{path} was not read: {why}; write the report as a regular file"
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def read_regular(path, limit):
    """At most `limit` bytes of a regular file, base64; OSError for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise OSError(errno.EINVAL, f"it is {kind}")
        chunks = []
        while limit > 0:
            chunk = os.read(fd, min(limit, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            limit -= len(chunk)
        return b64(b"".join(chunks))
    finally:
        os.close(fd)


def disk_full(path="/sandbox"):
    """True when the workspace filesystem has (almost) no blocks or no inodes left."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (1 << 20) or st.f_favail == 0


def result(code, out, err, *, timed_out, killed, reason, truncated, duration, attach=""):
    attached, attach_error = attachment(attach)
    return {
        "exit_code": code,
        "stdout": b64(out),
        "stderr": b64(err),
        "timed_out": timed_out,
        "killed": killed,
        "reason": reason,
        "truncated": truncated,
        "duration_s": round(duration, 3),
        "attachment": attached,
        "attachment_error": attach_error,
    }


def start(argv, env, cwd, out_w, err_w):
    """Fork the command: own session, first to go under memory pressure."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            try:
                with open("/proc/self/oom_score_adj", "w") as fh:
                    fh.write("1000")
            except OSError:
                pass
            os.chdir(cwd)
            os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.execvpe(argv[0], argv, env)
        except BaseException as exc:  # os._exit below runs even if this write fails
            os.write(2, f"nightfix: cannot start {argv[0]}: {exc}\n".encode())
        finally:
            os._exit(127)
    return pid


def reap(pid, exited):
    """Reap every exited child: the command (its status kept in `exited`) and the orphans
    this supervisor adopted as a subreaper, so their zombies never eat the pids limit."""
    try:
        while True:
            done, status = os.waitpid(-1, os.WNOHANG)
            if not done:
                return
            if done == pid:
                exited["status"] = status
    except ChildProcessError:
        return


def supervise(argv, env, cwd, timeout, cap, tag, attach=""):
    """Run argv; return its result as a JSON-ready dict (output base64-encoded)."""
    mark = ("NIGHTFIX_EXEC=" + tag).encode()
    oom0, pids0 = oom_kills(), pid_limit_hits()
    begin = time.monotonic()
    deadline = begin + timeout
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = start(argv, {**env, "NIGHTFIX_EXEC": tag}, cwd, out_w, err_w)
    except OSError as exc:
        why = "pids_limit" if pid_limit_hits() > pids0 else "spawn_failed"
        msg = f"cannot start command: {exc}".encode()
        return result(
            126, b"", msg, timed_out=False, killed=True, reason=why, truncated=False, duration=0.0
        )
    os.close(out_w)
    os.close(err_w)
    exited: dict = {}
    signal.signal(signal.SIGCHLD, lambda *_: reap(pid, exited))
    reap(pid, exited)  # a child that ended before the handler was in place

    bufs = {out_r: Capped(cap), err_r: Capped(cap)}
    poller = select.poll()
    for fd in bufs:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    open_fds = set(bufs)
    timed_out = saturated = False
    status = None
    exited_at = None
    while open_fds:
        now = time.monotonic()
        if not timed_out and now >= deadline:
            timed_out = True
            saturated = saturated or nproc_saturated()
            kill_tree(pid, mark)
            deadline = now + 5.0
        elif timed_out and now >= deadline:
            break
        if status is None and "status" in exited:
            status, exited_at = exited["status"], now
        if exited_at is not None and now - exited_at > 0.3:
            break  # background children keep the pipes open; stop listening to them
        for fd, _ in poller.poll(50):
            data = os.read(fd, 1 << 16)
            if data:
                bufs[fd].add(data)
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
    for fd in bufs:
        os.close(fd)
    forked_too_much = pid_limit_hits() > pids0 or saturated or nproc_saturated()
    if forked_too_much and not timed_out:
        # A command that hit the pids limit (a fork bomb) dies with its whole tree, even
        # when its first process already returned and the rest runs in the background.
        kill_tree(pid, mark)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if status is None:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped by the handler meanwhile
            status = exited.get("status", 9)
    code = os.waitstatus_to_exitcode(status)
    out, t1 = bufs[out_r].render("stdout")
    err, t2 = bufs[err_r].render("stderr")
    reason = None
    if oom_kills() > oom0:
        reason = "oom"
    elif forked_too_much:
        reason = "pids_limit"
    elif timed_out:
        reason = "timeout"
    elif code < 0:
        reason = "signal:" + signal.Signals(-code).name
    elif code != 0 and disk_full():
        reason = "disk_full"
        err += (
            b"\nnightfix: the workspace is full (its filesystem's size or file-count cap); "
            b"delete files, or ask the operator for a larger --disk-mb / --disk-files\n"
        )
    return result(
        code if code >= 0 else 128 - code,
        out,
        err,
        timed_out=timed_out,
        killed=timed_out or forked_too_much or code < 0 or reason == "oom",
        reason=reason,
        truncated=t1 or t2,
        duration=time.monotonic() - begin,
        attach=attach,
    )
