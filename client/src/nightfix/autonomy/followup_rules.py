"""Which review feedback may start a follow-up run: named checks, each failing closed.

A piece of feedback on a nightfix pull request (a review, a comment, a line comment, as the
github server's ``list_pull_request_feedback`` lists it) starts a follow-up run only when every
check passes. Each check returns ``None`` (passes) or the reason the feedback is ignored, which
the watcher records and logs. Anything missing or unknown counts against the feedback: an
unknown permission is no permission, a missing author is nobody.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Collection
from typing import Any

WRITE_OR_MORE = frozenset({"admin", "maintain", "write"})
"""Permissions that may ask nightfix for a change (GitHub's roles with push access)."""
MAX_REQUEST_CHARS = 4000
"""Most characters of a reviewer's comment shown to the model."""


def check_not_from_nightfix(item: dict[str, Any], own_replies: Collection[str]) -> str | None:
    """Nightfix's own comments (its replies, its evidence) never start a run: no loop."""
    if item.get("by_agent") or str(item.get("id")) in own_replies:
        return "written by nightfix itself"
    return None


def check_asks_nightfix(item: dict[str, Any], mention: str) -> str | None:
    """A review that requests changes, or a comment that mentions ``mention`` as a word."""
    if item.get("kind") == "review" and item.get("state") == "CHANGES_REQUESTED":
        return None
    if mention and mentions(str(item.get("body") or ""), mention):
        return None
    return f"neither a review requesting changes nor a comment mentioning {mention}"


def mentions(body: str, mention: str) -> bool:
    """``mention`` appears in ``body`` as a whole word (``@nightfix``, not ``@nightfixer``)."""
    pattern = rf"(?<![\w@-]){re.escape(mention)}(?![\w-])"
    return re.search(pattern, body, flags=re.IGNORECASE) is not None


def check_write_access(item: dict[str, Any]) -> str | None:
    """Only someone who could push the change themselves may ask nightfix to make it."""
    permission = str(item.get("permission") or "none")
    if permission in WRITE_OR_MORE and item.get("author"):
        return None
    return f"{item.get('author') or 'an unknown author'} has permission {permission}, not write"


def check_newer(item: dict[str, Any], last_handled_at: str | None) -> str | None:
    """Feedback older than the last one handled on this pull request is not acted on again
    (after a follow-up, the pull request has moved on)."""
    created = str(item.get("created_at") or "")
    if not created:
        return "no creation time"
    if last_handled_at is not None and created <= last_handled_at:
        return f"older than the last feedback handled ({last_handled_at})"
    return None


def check_pull_is_nightfix(head: str | None, branch: str) -> str | None:
    """The pull request's head is the branch nightfix delivered this run's fix on."""
    if head != branch:
        return f"pull request from {head!r}, not nightfix's branch {branch!r}"
    return None


def check_under_limit(done: int, limit: int) -> str | None:
    """At most ``delivery.max_followups_per_pr`` follow-up runs per pull request."""
    if done >= limit:
        return f"the follow-up limit is reached ({done} of {limit})"
    return None


def check_branch_unmoved(head: str | None, ours: str | None) -> str | None:
    """The branch's head is nightfix's last commit: nobody else pushed since. A follow-up on a
    branch someone else moved would build on (or overwrite) code nobody verified."""
    if not ours:
        return "nightfix has no record of its last commit on the branch, so it cannot tell"
    if head != ours:
        return (
            f"the branch moved: its head is {(head or 'missing')[:12]}, not nightfix's last "
            f"commit {(ours or 'unknown')[:12]}"
        )
    return None


def refusal(
    item: dict[str, Any], mention: str, own_replies: Collection[str], last_handled_at: str | None
) -> str | None:
    """The first reason ``item`` does not start a follow-up, or ``None`` when it may."""
    return (
        check_not_from_nightfix(item, own_replies)
        or check_asks_nightfix(item, mention)
        or check_write_access(item)
        or check_newer(item, last_handled_at)
    )


def fence(body: str) -> tuple[str, str]:
    """The reviewer's text made safe to show the model, and an unguessable fence name.

    Control and format characters (hidden text, bidi overrides; the server already replaced
    them, this is the client's own line) become U+FFFD, the text is capped, and the fence name
    carries a random nonce, so the text cannot close its fence and speak as the task.
    """
    kept = "".join(
        "\ufffd" if unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t" else c for c in body
    )
    if len(kept) > MAX_REQUEST_CHARS:
        kept = kept[:MAX_REQUEST_CHARS] + " [...cut]"
    return kept, f"reviewer-comment-{secrets.token_hex(6)}"
