"""Untrusted error data made fit for a model: control characters stripped, long values cut."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from nightfix_errors.security import strip_controls
from nightfix_errors.text import cut

M = TypeVar("M", bound=BaseModel)
DEFAULT_LIMIT = 2000
LIMITS = {"vars": 300, "headers": 300, "tags": 300, "contexts": 300, "user": 200, "data": 1000}


def _clean(node: Any, limit: int) -> Any:
    if isinstance(node, str):
        return cut(strip_controls(node), limit)
    if isinstance(node, dict):
        return {
            cut(strip_controls(str(k)), 200): _clean(v, LIMITS.get(str(k), limit))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_clean(v, limit) for v in node]
    return node


def sanitize(model: M) -> M:
    """A copy of `model` whose every string is free of invisible/bidi controls and cut."""
    return type(model).model_validate(_clean(model.model_dump(), DEFAULT_LIMIT))
