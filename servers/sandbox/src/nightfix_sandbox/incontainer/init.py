"""PID 1 of every sandbox: reaps orphans and cannot be killed from inside.

The kernel delivers no signal to a PID namespace's init from inside the namespace unless
init handles it, so the sandbox user's `kill -9 -1` cannot stop its own container (with
docker's tini, the user could kill tini's child and so the container). SIGCHLD is the one
signal handled: it reaps every exited child at once, so zombies never eat the pids limit.
"""

# A stdlib-only script executed as the container's command by `python3 -I -S -c`.
# mypy: disable-error-code="no-untyped-def"

import os
import signal
import time


def reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


signal.signal(signal.SIGCHLD, reap)
signal.signal(signal.SIGINT, signal.SIG_DFL)  # unhandled, hence never delivered from inside
while True:
    reap()
    time.sleep(1)
