"""Running the collector: one listening socket, served by one or more worker processes.

Python runs one thread of Python at a time per process, so on a machine with several cores the
collector forks workers that share the listening socket (the way uvicorn's own `--workers`
does), each with its own writer thread and SQLite connections; SQLite serialises their batched
commits. On SIGTERM/SIGINT the parent asks every worker to stop; each finishes its requests in
flight and commits its queue before exiting, so every accepted event is stored.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
from pathlib import Path

import uvicorn

from nightfix_errors.collector import CollectorConfig, build_app
from nightfix_errors.db import connect_rw
from nightfix_errors.errors import ConfigError
from nightfix_errors.logs import flush_logs

log = logging.getLogger("nightfix_errors.runner")
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or --host"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_worker(path: Path, config: CollectorConfig, sock: socket.socket) -> None:
    """One worker: its own connections, writer thread and event loop on the shared socket."""
    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler that
    # was there before it: make that a clean exit (also for a signal before uvicorn listens).
    for sig in STOP_SIGNALS:
        signal.signal(sig, _exit_cleanly)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the parent's fork
    writer_db = connect_rw(path)
    key_db = connect_rw(path)
    try:
        app = build_app(writer_db, key_db, config)
        # log_config=None: uvicorn's records go through our non-blocking handler (logs.py),
        # not through stream handlers of its own that block when stderr is not drained.
        config_ = uvicorn.Config(
            app,
            log_level="warning",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
        uvicorn.Server(config_).run(sockets=[sock])
    finally:
        writer_db.close()
        key_db.close()
        flush_logs()  # a forked worker exits without atexit; bounded when stderr stalls


def run_collector(path: Path, host: str, port: int, config: CollectorConfig, workers: int) -> None:
    """Listen on host:port and serve until SIGTERM/SIGINT; raises SystemExit(1) on a crash."""
    sock = _listen(host, port)
    log.info("event=listening url=http://%s:%d db=%s workers=%d", host, port, path, workers)
    if workers == 1:
        serve_worker(path, config, sock)
        return
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=serve_worker, args=(path, config, sock), name=f"collector-{i}")
        for i in range(workers)
    ]

    def stop_workers(signum: int, frame: object) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGTERM)  # SIGTERM even for SIGINT: never a forced exit

    # Stop signals wait until every worker exists and has its own handlers: a signal arriving
    # mid-fork is then delivered to the parent afterwards, and forwarded to all of them.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    signal.signal(signal.SIGTERM, stop_workers)
    signal.signal(signal.SIGINT, stop_workers)
    try:
        for p in procs:
            p.start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    sock.close()
    for p in procs:
        p.join()
    failed = [p.name for p in procs if p.exitcode != 0]
    if failed:
        log.error("event=worker_failed workers=%s", ",".join(failed))
        raise SystemExit(1)
