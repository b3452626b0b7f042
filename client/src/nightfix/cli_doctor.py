"""The ``nightfix doctor`` command (registered on the main group by :mod:`nightfix.cli`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click


def register(main: click.Group) -> None:
    @main.command(epilog="Exit codes: 0 every check passed, 1 a check failed.")
    @click.option(
        "--policy",
        "policy_path",
        type=click.Path(dir_okay=False),
        help="Policy file (default: $NIGHTFIX_POLICY, else ./policies/default.yaml).",
    )
    @click.option("--json", "as_json", is_flag=True, help="One JSON object for machines.")
    def doctor(policy_path: str | None, as_json: bool) -> None:
        """Check a deployment end to end and say what to fix, one line per check.

        \b
        policy          the policy file validates
        kill_switch     off (on is a FAIL, with how to clear it)
        server NAME     each configured server starts and offers the tools the policy allows
        repository      the repository reads, and its credentials may push an agent branch
                        (asked of the server, which checks without writing)
        errors backend  the errors server's store or Sentry answers
        collector       with trigger.collector_url: the collector answers (GET /healthz)
        docker          Docker answers the sandbox server's DOCKER_HOST; its runtime exists
        sandbox image   the sandbox server's image exists
        webhook         with trigger.listen: its secret variable is set and
                        `nightfix watch --listen` answers there (GET /healthz)

        Nothing is written: no branch, no sandbox, no run.
        """
        from nightfix.cli import DEFAULT_POLICY, run_async
        from nightfix.doctor import diagnose, render

        chosen = Path(policy_path or os.environ.get("NIGHTFIX_POLICY") or DEFAULT_POLICY)
        checks = run_async(lambda: diagnose(chosen))
        failed = any(c.status == "FAIL" for c in checks)
        if as_json:
            report = {"ok": not failed, "checks": [c.model_dump() for c in checks]}
            click.echo(json.dumps(report, indent=2))
        else:
            click.echo(render(checks))
        sys.exit(1 if failed else 0)
