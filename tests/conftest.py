"""Suite-wide rules.

No test may skip: every dependency (Docker included) is provided by `make test`. A skip would
hide a missing install step, so it is turned into a failure that says what was missing.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} tried to skip ({reason}); tests never skip here — "
            "install what it needs in scripts/ensure-docker.sh or the dev extra instead"
        )
