"""The ``nightfix init`` command (registered on the main group by :mod:`nightfix.cli`)."""

from __future__ import annotations

import sys

import click


def register(main: click.Group) -> None:
    @main.command(epilog="Exit codes: 0 written, 2 bad input (a flag, or the file exists).")
    @click.option("--repo", required=True, metavar="OWNER/NAME", help="The GitHub repository.")
    @click.option("--sentry-org", required=True, metavar="SLUG", help="Sentry organization.")
    @click.option("--sentry-project", required=True, metavar="SLUG", help="Sentry project.")
    @click.option(
        "--phase",
        type=click.IntRange(1, 3),
        default=2,
        show_default=True,
        help="Trust phase: 1 report only, 2 draft pull request, 3 pull request after "
        "`nightfix approve`.",
    )
    @click.option(
        "--environment",
        default="production",
        show_default=True,
        help="The Sentry environment whose issues may start a run.",
    )
    @click.option(
        "--min-events",
        type=int,
        default=5,
        show_default=True,
        help="Events in 10 minutes before an issue starts a run.",
    )
    @click.option("--notify", metavar="URL", help="Slack-compatible incoming webhook.")
    @click.option(
        "--output",
        "-o",
        default="nightfix.yaml",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="Where to write the policy.",
    )
    @click.option("--force", is_flag=True, help="Replace the output file if it exists.")
    def init(
        repo: str,
        sentry_org: str,
        sentry_project: str,
        phase: int,
        environment: str,
        min_events: int,
        notify: str | None,
        output: str,
        force: bool,
    ) -> None:
        """Write a starter policy for one service: its Sentry project, its GitHub repository.

        The policy starts the three servers with the Sentry backend (token in
        SENTRY_AUTH_TOKEN; SENTRY_URL for a self-hosted Sentry), the GitHub backend (token in
        GITHUB_TOKEN, or edit the command for a GitHub App; GITHUB_API_URL for GitHub
        Enterprise) and a sandbox made from $NIGHTFIX_REPO_URL (what git on this machine can
        fetch). It allows the model only read and sandbox tools, and is checked before it is
        written. Next: `nightfix doctor --policy nightfix.yaml`.

        \b
        Example:
          nightfix init --repo acme/shop --sentry-org acme --sentry-project shop-backend
        """
        from nightfix import starter
        from nightfix.errors import NightfixError

        try:
            opts = starter.options(
                repo=repo,
                sentry_org=sentry_org,
                sentry_project=sentry_project,
                phase=phase,
                environment=environment,
                min_events=min_events,
                notify=notify,
                output=output,
            )
            path = starter.write(opts, force=force)
        except NightfixError as exc:
            click.echo(f"nightfix: {exc}", err=True)
            sys.exit(2)
        click.echo(f"wrote {path} (trust phase {phase}); next: nightfix doctor --policy {path}")
