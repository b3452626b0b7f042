"""Autonomous operation: watch the error server, decide criticality, gate and deliver fixes.

Modules, one concept each:

- :mod:`~nightfix.autonomy.tools` — the ``ToolCaller`` protocol (client-side, audited calls).
- :mod:`~nightfix.autonomy.trigger` — deterministic criticality rules from ``policy.trigger``.
- :mod:`~nightfix.autonomy.watch_state` — SQLite watch state (claims, approvals, back-off).
- :mod:`~nightfix.autonomy.diffs` — unified-diff parsing (paths, counts, test-file hunks).
- :mod:`~nightfix.autonomy.verification` — the gate a fix passes before anything leaves.
- :mod:`~nightfix.autonomy.approvals` — approvals bound to a hash of the diff and target.
- :mod:`~nightfix.autonomy.delivery` — report / draft PR / ready PR / merge by trust phase.
- :mod:`~nightfix.autonomy.notify` — Slack-compatible webhook notifications.
- :mod:`~nightfix.autonomy.watch` — the poll loop that ties them together.
"""
