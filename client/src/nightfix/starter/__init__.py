"""``nightfix init``: a starter policy for one service (Sentry + GitHub), from a few flags.

The file is rendered from ``policy.yaml.j2`` (Jinja, ``StrictUndefined``) so a person can read
what it will say, and parsed with :func:`nightfix.policy.parse_policy` before it is written:
``init`` never leaves an invalid policy behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightfix.errors import NightfixError
from nightfix.policy import parse_policy

_TEMPLATES = Environment(
    loader=PackageLoader("nightfix", "starter"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - YAML whose values are pattern-checked, not HTML
)
PHASE_NOTES = {
    1: "Trust phase 1: a verified fix becomes a report (root cause + diff); nothing is pushed.",
    2: "Trust phase 2: a verified fix becomes a branch and a DRAFT pull request.",
    3: "Trust phase 3: a ready pull request, opened after `nightfix approve RUN`.",
}
APPROVALS = {1: "", 2: "", 3: "open_pull_request"}


class StarterOptions(BaseModel):
    """What ``nightfix init`` asks for; each value lands in the policy as a YAML plain word,
    so each is held to a shape that cannot break out of it."""

    model_config = ConfigDict(extra="forbid")

    repo: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")]
    """The GitHub repository, ``OWNER/NAME``."""
    sentry_org: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    """The Sentry organization's slug (from its URL)."""
    sentry_project: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    """The Sentry project's slug."""
    phase: Literal[1, 2, 3] = 2
    """Trust phase: 1 report, 2 draft pull request, 3 pull request after approval."""
    environment: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] = "production"
    """The Sentry environment whose issues may start a run."""
    min_events: Annotated[int, Field(ge=1, le=10_000)] = 5
    """Events in 10 minutes before an issue starts a run."""
    notify: Annotated[str | None, Field(pattern=r"^https?://\S+$")] = None
    """A Slack-compatible incoming webhook for notifications (``None``: printed)."""
    output: str = "nightfix.yaml"
    """Where the policy is written (named in its header)."""


SHAPES = {
    "repo": "expected OWNER/NAME, as in https://github.com/OWNER/NAME",
    "sentry_org": "expected the organization's slug, as in https://sentry.io/organizations/SLUG/",
    "sentry_project": "expected the project's slug (lower case, digits, - and _)",
    "environment": "expected an environment name (letters, digits, . _ -)",
    "notify": "expected an http(s) URL",
}
"""What each pattern-checked option should look like, for the one-line error."""


def options(**values: object) -> StarterOptions:
    """Validated options; a bad value is one line naming the flag and what was expected."""
    try:
        return StarterOptions.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0])
        expected = first["msg"]
        if first["type"] == "string_pattern_mismatch":
            expected = SHAPES.get(field, expected)
        flag = "--" + field.replace("_", "-")
        raise NightfixError(f"{flag} {first['input']!r}: {expected}") from None


def render(opts: StarterOptions) -> str:
    """The starter policy's text, checked by the policy parser."""
    text = _TEMPLATES.get_template("policy.yaml.j2").render(
        repo=opts.repo,
        sentry_org=opts.sentry_org,
        sentry_project=opts.sentry_project,
        phase=opts.phase,
        phase_note=PHASE_NOTES[opts.phase],
        approvals=APPROVALS[opts.phase],
        environment=opts.environment,
        min_events=opts.min_events,
        notify=json.dumps(opts.notify),
        output=opts.output,
    )
    parse_policy(text, source="the starter policy")
    return text


def write(opts: StarterOptions, force: bool = False) -> Path:
    """Write the starter policy to ``opts.output``; an existing file is kept unless ``force``."""
    path = Path(opts.output)
    if path.exists() and not force:
        raise NightfixError(f"{path} exists; pass --force to replace it, or --output another file")
    path.write_text(render(opts), encoding="utf-8")
    return path
