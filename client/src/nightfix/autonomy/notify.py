"""Notifications to a Slack-compatible incoming webhook, or printed when none is configured.

The payload is ``{"text": ..., "blocks": [...]}``: ``text`` is the plain fallback Slack shows in
notifications, ``blocks`` a header and sections in Block Kit ``mrkdwn``. A failing webhook is
logged, never fatal: a notification must not stop a run.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2

from nightfix.policy import NotifyPolicy
from nightfix.redaction import Redactor

log = logging.getLogger("nightfix.notify")

Event = Literal[
    "pull_request_opened",
    "followup_committed",
    "awaiting_approval",
    "stopped",
    "reported",
    "merged",
]
TITLES: dict[str, str] = {
    "pull_request_opened": ":wrench: nightfix opened a pull request",
    "followup_committed": ":wrench: nightfix added a follow-up commit to its pull request",
    "awaiting_approval": ":hourglass: nightfix waits for your approval",
    "stopped": ":octagonal_sign: nightfix stopped",
    "reported": ":memo: nightfix proposes a fix (report only)",
    "merged": ":white_check_mark: nightfix merged a fix",
}
MAX_SECTION = 2900  # Slack limits a section's text to 3000 characters


@dataclass(frozen=True)
class Notification:
    event: Event
    run_id: str
    summary: str
    fields: dict[str, str] = field(default_factory=dict)
    details: str | None = None
    """Longer text (a diff, the root cause) shown in its own section."""

    def payload(self) -> dict[str, Any]:
        title = TITLES[self.event]
        text = f"{title} — run {self.run_id}: {self.summary}"
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(self.summary)}},
        ]
        if self.fields:
            blocks.append(
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", 1900)}
                        for k, v in list(self.fields.items())[:10]
                    ],
                }
            )
        if self.details:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": _cut(self.details)}}
            )
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"run `{self.run_id}`"}]}
        )
        return {"text": text, "blocks": blocks}

    def plain(self) -> str:
        lines = [f"[nightfix] {TITLES[self.event]} — run {self.run_id}", f"  {self.summary}"]
        lines += [f"  {k}: {v}" for k, v in self.fields.items()]
        if self.details:
            lines += ["", self.details]
        return "\n".join(lines)


def _redacted(note: Notification) -> Notification:
    """Secret values from the environment never leave in a notification."""
    r = Redactor.from_environ()
    return Notification(
        note.event,
        note.run_id,
        r.text(note.summary),
        {k: r.text(v) for k, v in note.fields.items()},
        r.text(note.details) if note.details else None,
    )


def _cut(text: str, limit: int = MAX_SECTION) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n…[cut by nightfix]"


async def send(policy: NotifyPolicy, note: Notification) -> bool:
    """Post ``note`` to the webhook (``True`` on a 2xx), or print it to stdout without one."""
    note = _redacted(note)
    if not policy.webhook_url:
        print(note.plain(), file=sys.stdout, flush=True)
        return True
    try:
        async with httpx2.AsyncClient(timeout=policy.timeout_s) as client:
            response = await client.post(policy.webhook_url, json=note.payload())
    except httpx2.HTTPError as exc:
        log.warning("notification %s for run %s failed: %s", note.event, note.run_id, exc)
        return False
    if response.status_code // 100 != 2:
        log.warning(
            "notification %s for run %s refused: HTTP %s",
            note.event,
            note.run_id,
            response.status_code,
        )
        return False
    return True
