"""JUnit XML, the report most runners can write, read into neutral results by test id."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

from nightfix_sandbox.models import TestResult

MAX_MESSAGE = 2000
_OUTCOME = {"failure": "failed", "error": "error", "skipped": "skipped"}
_EXC = re.compile(r"^(?:[A-Za-z_]\w*\.)*([A-Z]\w*)\s*:")
IdMaker = Callable[[dict[str, str]], str]
"""Turns a ``<testcase>``'s attributes into the runner's own test id."""


class ReportError(ValueError):
    """The report is not JUnit XML we can read."""


def parse(xml: bytes, make_id: IdMaker | None = None) -> list[TestResult]:
    """Every ``<testcase>`` as a :class:`TestResult`; raises :class:`ReportError` if unreadable.

    ``expat`` refuses entity amplification, and the caller caps the report's size.
    """
    try:
        root = ET.fromstring(xml)  # noqa: S314 - size-capped, expat refuses entity bombs
    except ET.ParseError as exc:
        raise ReportError(f"the JUnit report does not parse ({exc})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ReportError(f"the report's root element is <{root.tag}>, not a JUnit <testsuite>")
    make_id = make_id or plain_id
    results = []
    for case in root.iter("testcase"):
        marker = next((c for c in case if c.tag in _OUTCOME), None)
        outcome = "passed" if marker is None else _OUTCOME[marker.tag]
        message = "" if marker is None else (marker.get("message") or marker.text or "")
        results.append(
            TestResult(
                test_id=make_id(dict(case.attrib)),
                outcome=outcome,  # type: ignore[arg-type]
                message=message.strip()[:MAX_MESSAGE],
                exception=exception_type(message) if outcome in ("failed", "error") else None,
                detail=_detail(case, marker),
            )
        )
    return results


def plain_id(attrs: dict[str, str]) -> str:
    """``classname::name`` (or ``name`` alone) — the neutral id when a runner has no better."""
    return "::".join(p for p in (attrs.get("classname", ""), attrs.get("name", "")) if p)


def exception_type(message: str) -> str | None:
    """``pkg.mod.PoolExhausted: all 10 ...`` -> ``PoolExhausted``; ``assert ...`` ->
    ``AssertionError``; ``None`` when the message names no exception."""
    text = message.strip()
    if text.startswith("assert ") or text == "assert":
        return "AssertionError"
    inner = re.search(r'with "([^"]+)"', text)  # pytest: failed on setup with "ValueError: x"
    if inner:
        text = inner.group(1)
    match = _EXC.match(text)
    return match.group(1) if match else None


def _detail(case: ET.Element, marker: ET.Element | None) -> str:
    if marker is None:
        return ""
    out = "".join((c.text or "") for c in case if c.tag in ("system-out", "system-err"))
    detail = (marker.text or "") + ("\n" + out if out else "")
    return detail.strip()[-4000:]
