"""PID 1 of every sandbox: runs the host's commands, reaps orphans, cannot be killed.

The host talks to it over the container's attach stream: one JSON request per line on
stdin, one JSON reply per line on stdout. For each command it forks a child that runs
`supervise` (supervisor.py, whose text is argv[1]), so a command costs a fork, not a
`docker exec` and a Python start-up.

Why code under test, which runs as the same uid, cannot reach this channel:
- PID 1 makes itself non-dumpable at start (the forked supervisors inherit that), so
  /proc/1/fd, /proc/1/mem and ptrace need CAP_SYS_PTRACE, which no process here has;
- the kernel delivers no signal to a PID namespace's init from inside the namespace
  unless init handles it, and the only one handled is SIGCHLD (it reaps every exited
  child at once, so zombies never eat the pids limit);
- a command's stdin is /dev/null and its stdout/stderr are pipes to its supervisor;
- every line is `<hmac> <json>` under a key the host sends in `hello`, before any command
  runs, kept in memory only: where a runtime still lets the sandbox user open PID 1's
  descriptors (gVisor's /proc/1/fd), what it writes into the channel or into a
  supervisor's result pipe has no valid HMAC and is refused.
"""

# A stdlib-only script executed as the container's command by `python3 -I -S -c`.
# ruff: noqa: S102, SIM105, PTH123, PTH208
# mypy: disable-error-code="no-untyped-def"

import ctypes
import hashlib
import hmac
import json
import os
import re
import select
import signal
import sys
import time

PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 3, 4, 36
_libc = ctypes.CDLL(None, use_errno=True)
_supervisor: dict = {}
exec(compile(sys.argv[1], "supervisor.py", "exec"), _supervisor)
supervise = _supervisor["supervise"]
pending: dict = {}  # result pipe fd -> [request id, bytes so far, supervisor pid]
supervisors: set = set()  # pids of the supervisors still running a command
channel: dict = {}  # "key": the HMAC key the host sent in its first request (hello)


def mac(payload):
    return hmac.new(channel["key"], payload, hashlib.sha256).hexdigest().encode()


SIGNED = re.compile(rb"([0-9a-f]{64}) \{")


def authentic(line):
    """The JSON payload of the signed `<hmac> <json>` in line, or None.

    Bytes written ahead of a genuine line (from inside, without a newline) are skipped:
    the first position where a valid HMAC starts wins; nothing unsigned ever does.
    """
    line = bytes(line).strip()
    for m in SIGNED.finditer(line) if "key" in channel else ():
        payload = line[m.end() - 1 :]
        if hmac.compare_digest(m.group(1), mac(payload)):
            return payload
    return None


def reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def unsupervised():
    """Processes no running supervisor answers for: PID 1 adopted them, or their parent."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = parent_of(entry)
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    found = []
    for pid in parents:
        up, hops = pid, 0
        while up > 1 and up not in supervisors and hops < 4096:
            up, hops = parents.get(up, 0), hops + 1
        if pid != 1 and up not in supervisors:
            found.append(pid)
    return found


def sweep():
    """Kill every unsupervised process: what a timed-out or killed command left behind.

    A process can leave its process group (setsid), clear the tag in its environment and
    even make itself non-dumpable, but it cannot hide its parent: once its command's
    supervisor is gone it descends from no running supervisor. Background processes
    that earlier commands left on purpose go too; commands still running are spared.
    """
    for _ in range(20):
        doomed = unsupervised()
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass  # already gone, or root's (a docker exec helper)
        if not doomed:
            return
        time.sleep(0.05)


def capacity(path):
    """What the filesystem at `path` really holds (the host checks it against its caps)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return {"bytes": st.f_blocks * st.f_frsize, "files": st.f_files}


def warn(message):
    try:
        os.write(2, (message + "\n").encode())
    except OSError:
        pass


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def send(reply, fd=1):
    """One signed reply line: to the host (stdout), or from a supervisor to PID 1."""
    payload = json.dumps(reply).encode()
    write_all(fd, mac(payload) + b" " + payload + b"\n")


def failed(why, reason):
    """The result of a command that never ran to the end under its supervisor."""
    return _supervisor["result"](
        137 if reason in ("supervisor_killed", "result_tampered") else 126,
        b"",
        f"nightfix: {why}\n".encode(),
        timed_out=False,
        killed=True,
        reason=reason,
        truncated=False,
        duration=0.0,
    )


def check_run(req):
    argv, env = req.get("argv"), req.get("env", {})
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError("argv must be a non-empty list of strings")
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise ValueError("env must map strings to strings")
    for key, kind in (("timeout_s", (int, float)), ("cap", int)):
        if not isinstance(req.get(key), kind) or req[key] <= 0:
            raise ValueError(f"{key} must be a positive number")
    for key in ("cwd", "attach"):
        if not isinstance(req.get(key, ""), str):
            raise ValueError(f"{key} must be a string")


def child(req, w):
    """In the forked child: run the command, write the reply to the pipe, exit."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the supervisor waits for its own
        # Orphans of the command (even after setsid) are adopted by its supervisor, not
        # PID 1, so they stay its descendants until it ends (see `sweep`).
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        os.dup2(os.open("/dev/null", os.O_RDWR), 0)
        os.dup2(0, 1)  # nothing a supervisor prints can reach the host's channel
        res = supervise(
            req["argv"],
            {**os.environ, **req.get("env", {})},
            req.get("cwd") or "/",
            float(req["timeout_s"]),
            int(req["cap"]),
            req["id"],  # the tag of the command's processes
            req.get("attach", ""),
        )
        reply = {"id": req["id"], "ok": True, "result": res}
    except BaseException as exc:
        reply = {"id": req["id"], "ok": False, "error": f"the supervisor failed: {exc!r}"}
    try:
        send(reply, w)
    finally:
        os._exit(0)


def run(req):
    check_run(req)
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(r)
        os.close(w)
        res = failed(f"cannot start command: {exc}", "spawn_failed")
        send({"id": req["id"], "ok": True, "result": res})
        return
    if pid == 0:
        os.close(r)
        child(req, w)
    os.close(w)
    supervisors.add(pid)
    pending[r] = [req["id"], bytearray(), pid]


def first_hello(line):
    """Take the key from the host's first request, which no command can precede."""
    _, _, payload = line.partition(b" ")
    req = json.loads(payload)
    if not isinstance(req, dict) or req.get("op") != "hello":
        raise ValueError("the first request must be hello")
    channel["key"] = bytes.fromhex(req["key"])
    if authentic(line) is None:
        del channel["key"]
        raise ValueError("hello's HMAC does not match its key")


def handle(line):
    rid = None
    try:
        if "key" not in channel:
            first_hello(line)
        payload = authentic(line)
        if payload is None:  # id None: no waiting request can be answered by it
            send({"id": None, "ok": False, "error": "a request without a valid HMAC"})
            return
        req = json.loads(payload)
        if not isinstance(req, dict):
            raise ValueError("a request is a JSON object")
        rid = req.get("id")
        if not isinstance(rid, str) or not rid:
            raise ValueError("a request needs a string id")
        if req.get("op") == "hello":
            send(
                {
                    "id": rid,
                    "ok": True,
                    "uid": os.getuid(),
                    "dumpable": _libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
                    "disk": capacity("/sandbox"),
                }
            )
        elif req.get("op") == "run":
            run(req)
        else:
            raise ValueError(f"unknown op {req.get('op')!r}; use hello or run")
    except Exception as exc:
        send({"id": rid, "ok": False, "error": f"bad request: {exc}"})


def finish(fd):
    rid, data, pid = pending.pop(fd)
    os.close(fd)
    supervisors.discard(pid)
    payload = authentic(data)
    try:
        reply = json.loads(payload or b"")  # signed, id included: forwarded as it is
        if reply.get("id") != rid:  # a genuine reply of another command, replayed
            raise ValueError("reply to another request")
        data = mac(payload) + b" " + payload + b"\n"
    except ValueError:
        why = "the command killed its supervisor; its processes were killed"
        reason = "supervisor_killed"
        if data.strip():  # something else wrote into the supervisor's result pipe
            why = "the command's result was tampered with; its processes were killed"
            reason = "result_tampered"
        reply, data = {"id": rid, "ok": True, "result": failed(why, reason)}, None
    result = reply.get("result") or {}
    if result.get("timed_out") or result.get("reason") in (
        "pids_limit",
        "supervisor_killed",
        "result_tampered",
    ):
        sweep()
    if data is None:
        send(reply)
    else:
        write_all(1, data)


def main():
    if _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        warn("nightfix init: cannot make PID 1 non-dumpable; refusing to serve")
        sys.exit(1)
    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # unhandled, hence never delivered from inside
    inbuf = b""
    stdin_open = True
    while True:
        ready, _, _ = select.select([0, *pending] if stdin_open else list(pending), [], [])
        for fd in ready:
            try:
                if fd != 0:
                    chunk = os.read(fd, 1 << 20)
                    if chunk:
                        pending[fd][1] += chunk
                    else:
                        finish(fd)
                    continue
                chunk = os.read(0, 1 << 16)
                stdin_open = bool(chunk)
                inbuf += chunk
                while b"\n" in inbuf:
                    line, _, inbuf = inbuf.partition(b"\n")
                    if line.strip():
                        handle(line)
            except Exception as exc:  # PID 1 must outlive any one request
                warn(f"nightfix init: {exc!r}")


main()
