"""Prompt templates (Jinja, rendered with ``StrictUndefined``): ``system.j2``, ``task.j2``."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

_ENV = Environment(
    loader=PackageLoader("nightfix", "prompts"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - plain text for a model, not HTML
)


def render(name: str, **variables: Any) -> str:
    """Render ``prompts/<name>.j2``; a missing variable is an error, never an empty string."""
    return _ENV.get_template(f"{name}.j2").render(**variables).strip()
