"""Untrusted error data made fit for a model: hidden text shown (`untrusted.py`), values cut."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from nightfix_errors.text import cut
from nightfix_errors.untrusted import clean_text

M = TypeVar("M", bound=BaseModel)
DEFAULT_LIMIT = 2000
LIMITS = {"vars": 300, "headers": 300, "tags": 300, "contexts": 300, "user": 200, "data": 1000}


def _clean(node: Any, limit: int) -> Any:
    if isinstance(node, str):
        return cut(clean_text(node), limit)
    if isinstance(node, dict):
        return {
            cut(clean_text(str(k)), 200): _clean(v, LIMITS.get(str(k), limit))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_clean(v, limit) for v in node]
    return node


def sanitize(model: M) -> M:
    """A copy of `model` whose every string is cleaned (`untrusted.clean_text`) and cut."""
    return type(model).model_validate(_clean(model.model_dump(), DEFAULT_LIMIT))
