"""`nightfix-errors`: collect Sentry events locally, triage issues, serve them read-only over MCP.

Exit codes: 0 success; 1 a domain error (shown as one line: what was wrong, what to do);
2 a usage error (bad option or argument).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from nightfix_errors.db import DB_ENV, connect_rw, default_db_path
from nightfix_errors.errors import ConfigError, ErrorsError
from nightfix_errors.http_auth import DOOR_OPTION_HELP, HttpAuthError, http_middleware, http_token

log = logging.getLogger("nightfix_errors.cli")
DEFAULT_PORT = 9000
DEFAULT_HOST = "127.0.0.1"

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"SQLite store. Default: ${DB_ENV}, else errors.db in the user data directory.",
)


@contextmanager
def _rw(db_path: Path | None) -> Iterator[sqlite3.Connection]:
    try:
        db = connect_rw(db_path or default_db_path())
    except sqlite3.Error as exc:
        raise click.ClickException(f"cannot open the store: {exc}") from None
    try:
        yield db
    except ErrorsError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Logs go to stderr: JSON lines, or short lines on a terminal.",
)
def main(log_level: str) -> None:
    """Production errors for an AI agent, read-only.

    \b
    nightfix-errors collect          run a Sentry-compatible collector (point any Sentry SDK at it)
    nightfix-errors project create   make a project and print its DSN
    nightfix-errors issue resolve    change an issue's status (people only; MCP cannot)
    nightfix-errors serve            serve the issues over MCP, read-only (stdio or HTTP)

    Exit codes: 0 success, 1 error (one line on stderr saying what to do), 2 usage error.
    """
    from nightfix_errors.logs import setup_logging

    setup_logging(log_level)


@main.command()
@db_option
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--max-body",
    default=1024 * 1024,
    show_default=True,
    type=click.IntRange(1),
    help="Largest request body in bytes, as sent (413 beyond).",
)
@click.option(
    "--max-inflated",
    default=8 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1),
    help="Largest body after decompression (413 beyond).",
)
@click.option(
    "--max-queue",
    default=10_000,
    show_default=True,
    type=click.IntRange(1),
    help="Events waiting for commit before answering 429 + Retry-After.",
)
@click.option(
    "--workers",
    default=min(2, os.cpu_count() or 1),
    show_default="2 on a multi-core machine, else 1",
    type=click.IntRange(1, 64),
    help="Worker processes sharing the port, each with its own writer (see README).",
)
@click.option(
    "--scrub-key",
    multiple=True,
    metavar="REGEX",
    help="Extra key pattern whose values are scrubbed (repeatable).",
)
@click.option(
    "--scrub-value",
    multiple=True,
    metavar="REGEX",
    help="Extra value pattern replaced by [Filtered] anywhere (repeatable).",
)
@click.option(
    "--notify",
    "notify_url",
    metavar="URL",
    help="POST a signed notification here when an issue is new or regressed "
    "(`nightfix watch --listen`: http://HOST:PORT/webhook).",
)
@click.option(
    "--notify-secret-env",
    default="NIGHTFIX_WEBHOOK_SECRET",
    show_default=True,
    metavar="NAME",
    help="The variable holding the secret notifications are signed with (its NAME).",
)
@click.option(
    "--notify-min-events",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Announce a new issue when it has this many events (set it to the watcher's "
    "trigger.min_events); a regression is announced at once.",
)
def collect(
    db_path: Path | None,
    host: str,
    port: int,
    max_body: int,
    max_inflated: int,
    max_queue: int,
    workers: int,
    scrub_key: tuple[str, ...],
    scrub_value: tuple[str, ...],
    notify_url: str | None,
    notify_secret_env: str,
    notify_min_events: int,
) -> None:
    """Run the Sentry-compatible collector.

    Accepts POST /api/<project_id>/envelope/ (gzip, deflate, br or identity) and the legacy
    POST /api/<project_id>/store/, authenticated by the project's key (X-Sentry-Auth
    sentry_key, or ?sentry_key=). Events are scrubbed of secrets before they are stored and
    grouped into issues. If the store has no project, a `default` one is created and its DSN
    printed on stdout. SIGTERM / Ctrl-C stop it after every accepted event is committed
    (exit code 0).

    With --notify URL, an issue that is new or regressed is announced to URL at once, signed
    like a Sentry integration webhook (HMAC-SHA256 of the body with the secret in
    $NIGHTFIX_WEBHOOK_SECRET, or the variable --notify-secret-env names).
    """

    from nightfix_errors.collector import CollectorConfig
    from nightfix_errors.projects import ensure_default_project
    from nightfix_errors.runner import run_collector

    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler that
    # was there before it: make that a clean exit, so a stop exits 0 after the final commit
    # (and a signal that arrives before uvicorn listens exits 0 at once).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    for pattern in (*scrub_key, *scrub_value):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise click.BadParameter(f"{pattern!r} is not a regular expression: {exc}") from None
    path = db_path or default_db_path()
    with _rw(path) as db:
        created = ensure_default_project(db)
    if created is not None:
        click.echo(f"created project 'default'; DSN: {created.dsn(f'http://{host}:{port}')}")
    secret = _notify_secret(notify_url, notify_secret_env)
    config = CollectorConfig(
        notify_url=notify_url,
        notify_secret=secret,
        notify_min_events=notify_min_events,
        max_body_bytes=max_body,
        max_inflated_bytes=max_inflated,
        max_queue=max_queue,
        scrub_keys=list(scrub_key),
        scrub_values=list(scrub_value),
    )
    try:
        run_collector(path, host, port, config, workers)
    except ErrorsError as exc:
        raise click.ClickException(str(exc)) from None


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _notify_secret(url: str | None, env: str) -> bytes:
    """The signing secret for --notify; refused when the URL is not http(s) or it is unset."""
    if url is None:
        return b""
    if not re.match(r"https?://[^/\s@]+(/|$)", url):
        raise click.BadParameter(
            f"{url!r} is not an http(s) URL without credentials", param_hint="--notify"
        )
    secret = os.environ.get(env, "")
    if not secret:
        raise click.UsageError(f"--notify needs the signing secret in ${env}; set it first")
    return secret.encode()


@main.group()
def project() -> None:
    """Create and list projects (each has its own DSN key)."""


@project.command("create")
@click.argument("name")
@db_option
@click.option(
    "--url",
    default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
    show_default=True,
    help="The collector's address, as the app will reach it.",
)
def project_create(name: str, db_path: Path | None, url: str) -> None:
    """Create project NAME and print its DSN (the only line on stdout)."""
    from nightfix_errors.projects import create_project

    with _rw(db_path) as db:
        click.echo(create_project(db, name).dsn(url))


@project.command("list")
@db_option
@click.option(
    "--url",
    default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
    show_default=True,
    help="The collector's address, as the app will reach it.",
)
def project_list(db_path: Path | None, url: str) -> None:
    """Print each project: id, name and DSN (tab-separated)."""
    from nightfix_errors.projects import list_projects

    with _rw(db_path) as db:
        for p in list_projects(db):
            click.echo(f"{p.id}\t{p.name}\t{p.dsn(url)}")


@project.command("paths")
@click.argument("name")
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FROM=TO",
    help="Rewrite a frame path starting with FROM to start with TO (repeatable, first match "
    "wins; TO may be empty), e.g. --map /srv/app/= for a service deployed at /srv/app.",
)
@db_option
def project_paths(name: str, mappings: tuple[str, ...], db_path: Path | None) -> None:
    """Set how project NAME's frame paths become repository paths (no --map clears it).

    Applies to events received from then on (the collector rereads it within seconds). Without
    a mapping, deploy roots are stripped by rule (see the README, "Frame paths").
    """
    from nightfix_errors.errors import InvalidArgumentError
    from nightfix_errors.paths import parse_mapping
    from nightfix_errors.projects import set_path_map

    try:
        parsed = [parse_mapping(m) for m in mappings]
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None
    with _rw(db_path) as db:
        set_path_map(db, name, parsed)
    shown = ", ".join(f"{src} -> {dst or '(stripped)'}" for src, dst in parsed) or "none"
    click.echo(f"project {name}: path mapping {shown}", err=True)


@main.group()
def issue() -> None:
    """Change an issue's status. Only people do this: the MCP server is read-only.

    An event arriving for a resolved issue reopens it as unresolved / regressed.
    """


def _status_command(action: str, summary: str) -> None:
    @issue.command(action, help=summary)
    @click.argument("issue_id")
    @db_option
    def command(issue_id: str, db_path: Path | None) -> None:
        from nightfix_errors.triage import set_issue_status

        with _rw(db_path) as db:
            old, new = set_issue_status(db, issue_id, action)  # type: ignore[arg-type]
        click.echo(f"issue {issue_id}: {old} -> {new}")


_status_command("resolve", "Mark ISSUE_ID resolved (a new event reopens it as regressed).")
_status_command("ignore", "Mark ISSUE_ID ignored (new events keep it ignored).")
_status_command("unresolve", "Mark ISSUE_ID unresolved again.")


@main.command()
@db_option
@click.option(
    "--backend",
    default="sqlite",
    show_default=True,
    type=click.Choice(["sqlite", "sentry"]),
    help="Where issues are read from.",
)
@click.option("--org", help="Sentry organization slug (--backend sentry).")
@click.option("--project", "project_slug", help="Sentry project slug (--backend sentry).")
@click.option(
    "--transport",
    default="stdio",
    show_default=True,
    type=click.Choice(["stdio", "http"]),
    help="MCP transport.",
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="HTTP transport address.")
@click.option(
    "--port",
    default=8001,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="HTTP transport port.",
)
@click.option("--token-env", metavar="NAME", default=None, help=DOOR_OPTION_HELP)
def serve(
    db_path: Path | None,
    backend: str,
    org: str | None,
    project_slug: str | None,
    transport: str,
    host: str,
    port: int,
    token_env: str | None,
) -> None:
    """Serve the issues over MCP, read-only.

    \b
    Tools: list_issues, get_issue, list_issue_events, get_event, get_issue_stats
    (all readOnlyHint: true). The sqlite backend opens the store with SQLite's
    mode=ro, so no tool can change it. The sentry backend reads Sentry's REST API:
    token from SENTRY_AUTH_TOKEN, base URL from SENTRY_URL (default https://sentry.io).
    """
    from nightfix_errors.backends import ErrorStore, backend_class
    from nightfix_errors.server import build_server

    os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
    os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")

    def open_store() -> ErrorStore:
        cls = backend_class(backend)
        if backend == "sqlite":
            return cls(db_path=db_path or default_db_path())  # type: ignore[call-arg]
        token = os.environ.get("SENTRY_AUTH_TOKEN", "")
        if not (org and project_slug and token):
            raise ConfigError(
                "--backend sentry needs --org, --project and SENTRY_AUTH_TOKEN in the environment"
            )
        base = os.environ.get("SENTRY_URL", "https://sentry.io")
        return cls(org=org, project=project_slug, token=token, base_url=base)  # type: ignore[call-arg]

    try:
        token = http_token(transport, host, token_env)
        open_store().close()  # fail fast, with one clear line, before speaking MCP
    except (ErrorsError, HttpAuthError) as exc:
        raise click.ClickException(str(exc)) from None
    mcp = build_server(open_store, open_world=backend == "sentry")
    if transport == "stdio":
        mcp.run(transport="stdio", show_banner=False)
    else:
        log.info("event=serving transport=http url=http://%s:%d/mcp", host, port)
        gate = http_middleware(token)
        mcp.run(transport="http", host=host, port=port, show_banner=False, middleware=gate)
