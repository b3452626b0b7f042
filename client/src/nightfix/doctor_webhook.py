"""The ``webhook`` check of ``nightfix doctor``: the push listener answers where the policy says.

Asks ``GET /healthz`` of ``trigger.listen`` (nothing is delivered, nothing written) and reports
the listener's delivery counters; a listener needs its secret, so an unset secret variable is
a failure too.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from nightfix.policy import Policy, parse_listen

TIMEOUT_S = 5.0
LOCAL = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - mapped, not bound


def check_webhook(policy: Policy) -> dict[str, Any]:
    """The check's fields (name, status, detail, fix) — :class:`nightfix.doctor.Check`'s."""
    listen = policy.trigger.listen
    if not listen:
        detail = "not configured (trigger.listen unset: polling only)"
        return {"name": "webhook", "status": "skip", "detail": detail}
    name = policy.trigger.webhook_secret_env
    if not os.environ.get(name):
        return fail(
            f"trigger.listen is {listen}, but ${name} is not set, so the listener cannot verify "
            "deliveries (and does not start)",
            f"set ${name} to the Sentry integration's client secret (the collector's --notify "
            "signs with the same value)",
        )
    host, port = parse_listen(listen)
    host = LOCAL.get(host, host)
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=TIMEOUT_S) as answer:  # noqa: S310
            health = json.loads(answer.read())
    except (OSError, ValueError) as exc:
        return fail(
            f"nothing answers on {base}/healthz ({exc})",
            f"start `nightfix watch --listen {listen}`, or check the address and firewall",
        )
    if not isinstance(health, dict) or health.get("service") != "nightfix-watch":
        return fail(
            f"{base}/healthz answers, but not as nightfix watch",
            f"another service holds port {port}; give trigger.listen a free port",
        )
    refused = sum(int(health.get(k, 0)) for k in ("bad_signature", "stale", "replayed"))
    detail = (
        f"nightfix watch answers on {base}/webhook ({health.get('accepted', 0)} accepted, "
        f"{refused} refused as forged, stale or replayed)"
    )
    return {"name": "webhook", "status": "ok", "detail": detail}


def fail(detail: str, fix: str) -> dict[str, Any]:
    return {"name": "webhook", "status": "FAIL", "detail": detail, "fix": fix}
