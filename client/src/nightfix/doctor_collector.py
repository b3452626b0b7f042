"""The ``collector`` check of ``nightfix doctor``: the error collector answers.

A deployment's errors server reads the store that ``nightfix-errors collect`` writes; when the
collector is down, the store is still readable but nothing new arrives and nothing is
announced, so the errors server's own check passes. ``trigger.collector_url`` names the
collector; its ``GET /healthz`` (read-only, its writer counters) must answer as a collector.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from nightfix.policy import Policy

TIMEOUT_S = 5.0


def check_collector(policy: Policy) -> dict[str, Any]:
    """The check's fields (name, status, detail, fix) — :class:`nightfix.doctor.Check`'s."""
    url = policy.trigger.collector_url
    if url is None:
        detail = "not configured (trigger.collector_url unset)"
        return {"name": "collector", "status": "skip", "detail": detail}
    health_url = f"{url.rstrip('/')}/healthz"
    try:
        with urllib.request.urlopen(health_url, timeout=TIMEOUT_S) as answer:  # noqa: S310
            health = json.loads(answer.read())
    except (OSError, ValueError) as exc:
        return fail(
            f"nothing answers on {health_url} ({exc}): no new errors arrive and no pushes are sent",
            "start the collector (`docker-compose -f deploy/compose.yaml up -d collector`, "
            "`systemctl start nightfix-collector`, or `nightfix-errors collect`), or correct "
            "trigger.collector_url",
        )
    if not isinstance(health, dict) or health.get("status") != "ok":
        return fail(
            f"{health_url} answers, but not as a nightfix-errors collector",
            "point trigger.collector_url at `nightfix-errors collect` (default port 9000)",
        )
    committed = health.get("committed", "?")
    detail = f"answers on {url} ({committed} events committed since it started)"
    return {"name": "collector", "status": "ok", "detail": detail}


def fail(detail: str, fix: str) -> dict[str, Any]:
    return {"name": "collector", "status": "FAIL", "detail": detail, "fix": fix}
