"""The `nightfix-github` command: serve the MCP server, or show local pull requests to a person.

Exit codes: 0 success; 1 a domain error (shown as one line on stderr); 2 a usage error.
Logs go to stderr (JSON lines, or short lines on a terminal); stdout is the MCP protocol
under `serve`.
"""

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from .config import DEFAULT_FORBID, Boundary
from .errors import RepoError
from .http_auth import DOOR_OPTION_HELP, HttpAuthError, http_middleware, http_token

if TYPE_CHECKING:
    from .auth import Login

log = logging.getLogger("nightfix_github")


def _setup_logging(level: str) -> None:
    from .logs import formatter_for

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # PyGithub's and urllib3's debug logs carry response bodies, and an installation-token
    # exchange answers with the token: never below INFO, whatever --log-level says.
    for noisy in ("github", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except RepoError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.option("--log-level", default="info", show_default=True, help="Log level on stderr.")
def main(log_level: str) -> None:
    """Repository MCP server for nightfix: read code, and write only to the agent's branches.

    \b
    nightfix-github serve --local PATH        a git repository on disk (no account needed)
    nightfix-github serve --repo OWNER/NAME   GitHub (token from GITHUB_TOKEN)
    nightfix-github pulls list --local PATH   the pull requests the agent opened locally
    nightfix-github local comment N BODY ...  comment on one as a person (local forge)

    Exit codes: 0 success, 1 domain error (one line on stderr), 2 usage error.
    """
    _setup_logging(log_level)


@main.command()
@click.option(
    "--local",
    "local",
    type=click.Path(file_okay=False, path_type=Path),
    multiple=True,
    help="Serve this local git repository (repeatable).",
)
@click.option(
    "--repo",
    "repos",
    multiple=True,
    metavar="OWNER/NAME",
    help="Serve this GitHub repository (repeatable). Signs in with GITHUB_TOKEN, or as a "
    "GitHub App (--app-id, --private-key-file).",
)
@click.option(
    "--app-id",
    type=click.IntRange(1),
    default=None,
    help="Sign in as this GitHub App (its App ID) instead of with GITHUB_TOKEN.",
)
@click.option(
    "--private-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The App's private key (.pem; chmod 600: a key others can read is refused).",
)
@click.option(
    "--installation-id",
    type=click.IntRange(1),
    default=None,
    help="The App's installation to use; default: looked up for each --repo.",
)
@click.option(
    "--api-url",
    envvar="GITHUB_API_URL",
    default="https://api.github.com",
    show_default=True,
    help="GitHub's API root (env GITHUB_API_URL); GitHub Enterprise: https://HOST/api/v3.",
)
@click.option(
    "--branch-prefix",
    default="nightfix/",
    show_default=True,
    help="The agent may write only branches starting with this prefix.",
)
@click.option(
    "--protected",
    multiple=True,
    metavar="GLOB",
    help="Extra branch patterns never written (the default branch always is).",
)
@click.option(
    "--allow-base",
    multiple=True,
    metavar="GLOB",
    help="Extra branches a pull request may target (repeatable; never a protected one). "
    "Default: only the default branch.",
)
@click.option(
    "--forbid",
    multiple=True,
    metavar="GLOB",
    help=f"Extra path globs no commit may touch (always: {', '.join(DEFAULT_FORBID)}).",
)
@click.option(
    "--max-file-bytes",
    default=1_000_000,
    show_default=True,
    type=click.IntRange(1),
    help="Largest file one commit may write (UTF-8 bytes).",
)
@click.option(
    "--max-files",
    default=50,
    show_default=True,
    type=click.IntRange(1),
    help="Most files per commit.",
)
@click.option("--read-only", is_flag=True, help="Register the read tools only.")
@click.option(
    "--allow-merge", is_flag=True, help="Register merge_pull_request (agent's own branches only)."
)
@click.option("--default-branch", default=None, help="Override the local default branch.")
@click.option(
    "--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True
)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP transport host.")
@click.option("--port", default=8765, show_default=True, type=int, help="HTTP transport port.")
@click.option("--token-env", metavar="NAME", default=None, help=DOOR_OPTION_HELP)
def serve(
    local: tuple[Path, ...],
    repos: tuple[str, ...],
    app_id: int | None,
    private_key_file: Path | None,
    installation_id: int | None,
    api_url: str,
    branch_prefix: str,
    protected: tuple[str, ...],
    allow_base: tuple[str, ...],
    forbid: tuple[str, ...],
    max_file_bytes: int,
    max_files: int,
    read_only: bool,
    allow_merge: bool,
    default_branch: str | None,
    transport: str,
    host: str,
    port: int,
    token_env: str | None,
) -> None:
    """Run the MCP server (stdio by default) for local or GitHub repositories.

    Reads are open; writes go only to branches under --branch-prefix, never to the default
    branch or a --protected pattern, fast-forward only, and never to paths under a --forbid
    glob (CI workflows, composite actions and CODEOWNERS always). Pull requests target the
    default branch or an --allow-base glob, never a protected branch. Globs are gitignore-style.
    A refused call is a tool error naming its rule.

    \b
    Examples:
      nightfix-github serve --local ~/src/shop
      nightfix-github serve --local ~/src/shop --read-only
      GITHUB_TOKEN=... nightfix-github serve --repo acme/shop --protected 'release/*'
      nightfix-github serve --repo acme/shop --app-id 12345 --private-key-file app.pem
      NF_TOKEN=... nightfix-github serve --local . --transport http --token-env NF_TOKEN
    """
    if not local and not repos:
        raise click.UsageError("give --local PATH or --repo OWNER/NAME")
    try:
        token = http_token(transport, host, token_env)
    except HttpAuthError as exc:
        raise click.UsageError(str(exc)) from None
    from .server import build_server
    from .service import RepoService

    if not branch_prefix.strip("/") or branch_prefix.startswith(("-", "refs/")):
        raise click.BadParameter("give a prefix such as 'nightfix/'", param_hint="--branch-prefix")
    try:
        boundary = Boundary(
            branch_prefix=branch_prefix,
            protected=protected,
            allow_base=allow_base,
            forbid=(*DEFAULT_FORBID, *forbid),
            max_file_bytes=max_file_bytes,
            max_files_per_commit=max_files,
            read_only=read_only,
            allow_merge=allow_merge,
        )
    except ValidationError as exc:
        raise click.UsageError("; ".join(e["msg"] for e in exc.errors())) from None
    login = _login(repos, app_id, private_key_file, installation_id)
    backends = _backends(local, repos, boundary, default_branch, login, api_url)
    mcp = build_server(RepoService(backends, boundary))
    log.info("serving repos=%s transport=%s read_only=%s", list(backends), transport, read_only)
    if transport == "stdio":
        mcp.run(transport="stdio", show_banner=False)
    else:
        gate = http_middleware(token)
        mcp.run(transport="http", show_banner=False, host=host, port=port, middleware=gate)


def _login(
    repos: tuple[str, ...], app_id: int | None, key_file: Path | None, installation_id: int | None
) -> "Login | None":
    from .auth import CredentialsError, choose_login

    if not repos:
        if app_id or key_file or installation_id:
            raise click.UsageError("--app-id, --private-key-file and --installation-id need --repo")
        return None
    try:
        return choose_login(os.environ.get("GITHUB_TOKEN"), app_id, key_file, installation_id)
    except CredentialsError as exc:
        raise click.UsageError(str(exc)) from None


def _backends(
    local: tuple[Path, ...],
    repos: tuple[str, ...],
    boundary: Boundary,
    default: str | None,
    login: "Login | None",
    api_url: str,
) -> dict[str, Any]:
    from .backends.local import LocalBackend

    backends: dict[str, Any] = {}
    for path in local:
        backend = LocalBackend(path, boundary, default)
        if backend.name in backends:
            raise click.UsageError(f"two local repositories are named {backend.name!r}")
        backends[backend.name] = backend
    if repos and login is not None:
        from .backends.github import GitHubBackend

        for name in dict.fromkeys(repos):
            if name in backends:
                raise click.UsageError(f"{name!r} is served twice")
            backends[name] = GitHubBackend.connect(name, boundary, login, api_url)
    return backends


@main.group()
def pulls() -> None:
    """Show the pull requests recorded in a local repository (`serve --local`)."""


@pulls.command("list")
@click.option("--local", "path", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--state",
    type=click.Choice(["open", "closed", "merged", "all"]),
    default="all",
    show_default=True,
)
def pulls_list(path: Path, state: str) -> None:
    """One line per pull request: number, state, head -> base, title."""
    from .backends.local import LocalBackend

    backend = LocalBackend(path, Boundary(read_only=True))
    items = backend.pulls.list(state, None)
    if not items:
        click.echo("no pull requests", err=True)
    for pull in items:
        draft = " (draft)" if pull.draft else ""
        click.echo(f"#{pull.number}\t{pull.state}{draft}\t{pull.head} -> {pull.base}\t{pull.title}")


@pulls.command("show")
@click.argument("number", type=click.IntRange(1))
@click.option("--local", "path", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--diff", is_flag=True, help="Also print the diff of head against base.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw record as JSON.")
def pulls_show(number: int, path: Path, diff: bool, as_json: bool) -> None:
    """Print pull request NUMBER: its fields, body, comments and optionally its diff."""
    from .backends.local import LocalBackend

    backend = LocalBackend(path, Boundary(read_only=True))
    record = backend.pulls.record(number)
    if as_json:
        click.echo(json.dumps(record, indent=2))
    else:
        click.echo(f"#{record['number']} {record['title']}")
        click.echo(f"state: {record['state']}{' (draft)' if record['draft'] else ''}")
        click.echo(f"head: {record['head']} -> base: {record['base']}")
        click.echo(f"created: {record['created_at']}\n")
        click.echo(record["body"])
        for comment in record.get("comments", []):
            click.echo(
                f"\n--- comment {comment['id']} ({comment['created_at']})\n{comment['body']}"
            )
    if diff:
        out = backend.git.run(
            "diff", "--no-color", f"refs/heads/{record['base']}...refs/heads/{record['head']}", "--"
        )
        click.echo("\n" + out.decode(errors="replace"))


@main.group("local")
def local_forge() -> None:
    """Act as a person on a local repository (`serve --local`): comment on the agent's pull
    requests, and say who has which permission (unknown people have none)."""


@local_forge.command("comment")
@click.argument("number", type=click.IntRange(1))
@click.argument("body")
@click.option("--local", "path", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--author", required=True, help="Who writes it (see `local collaborator add`).")
@click.option(
    "--request-changes", is_flag=True, help="A review that requests changes (else a comment)."
)
@click.option("--approve", is_flag=True, help="A review that approves (else a comment).")
@click.option("--file", "file_path", default=None, help="A comment on a line of this file...")
@click.option("--line", type=click.IntRange(1), default=None, help="...at this line.")
def local_comment(
    number: int,
    body: str,
    path: Path,
    author: str,
    request_changes: bool,
    approve: bool,
    file_path: str | None,
    line: int | None,
) -> None:
    """Add a comment, a review or a line comment by AUTHOR to pull request NUMBER.

    \b
    Examples:
      nightfix-github local comment 1 '@nightfix please also log it' --local . --author alice
      nightfix-github local comment 1 'the retry is wrong' --local . --author bob --request-changes
    """
    from .backends.local import LocalBackend

    if request_changes and approve:
        raise click.UsageError("give --request-changes or --approve, not both")
    if (file_path is None) != (line is None):
        raise click.UsageError("a line comment needs both --file and --line")
    backend = LocalBackend(path, Boundary(read_only=True))
    if file_path is not None:
        item = backend.pulls.add_feedback(
            number, author, body, "line_comment", path=file_path, line=line
        )
        kind = "line"
    elif request_changes or approve:
        state = "CHANGES_REQUESTED" if request_changes else "APPROVED"
        item = backend.pulls.add_feedback(number, author, body, "review", state=state)
        kind = "review"
    else:
        item = backend.pulls.add_feedback(number, author, body)
        kind = "comment"
    click.echo(f"{kind}-{item['id']} on #{number} by {author}")


@local_forge.group("collaborator")
def collaborator() -> None:
    """Who has which permission on a local repository."""


@collaborator.command("add")
@click.argument("name")
@click.option("--local", "path", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--permission",
    required=True,
    type=click.Choice(["admin", "maintain", "write", "triage", "read", "none"]),
    help="Their role on the repository, as GitHub names it.",
)
def collaborator_add(name: str, path: Path, permission: str) -> None:
    """Give NAME a permission on the local repository (replaces an earlier one)."""
    from .backends.local import LocalBackend
    from .security import permission_level

    LocalBackend(path, Boundary(read_only=True)).collaborators.set(
        name, permission_level(permission)
    )
    click.echo(f"{name}: {permission}")


@collaborator.command("list")
@click.option("--local", "path", required=True, type=click.Path(file_okay=False, path_type=Path))
def collaborator_list(path: Path) -> None:
    """One line per person: name and permission."""
    from .backends.local import LocalBackend

    people = LocalBackend(path, Boundary(read_only=True)).collaborators.all()
    if not people:
        click.echo("no collaborators (everyone has permission none)", err=True)
    for name, permission in sorted(people.items()):
        click.echo(f"{name}\t{permission}")
