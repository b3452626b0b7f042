"""The client-side ``finish`` tool: how the model ends a run, with a structured summary.

It is always offered (it is not an MCP tool). A valid call ends the run ``completed`` (or
``no_fix`` with ``fixed: false``); an invalid one is refused back to the model as a tool error.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from nightfix.models import ToolCall, ToolSpec


class Summary(BaseModel):
    """What the model hands in with ``finish``."""

    model_config = ConfigDict(extra="forbid")
    root_cause: str
    fix: str
    tests_run: str | list[str]
    confidence: Literal["low", "medium", "high"]
    fixed: bool = True


FINISH = ToolSpec(
    "finish",
    "End the investigation with a structured summary. Set fixed=false if you could not fix it.",
    {
        "type": "object",
        "properties": {
            "root_cause": {"type": "string", "description": "Why the error happens."},
            "fix": {"type": "string", "description": "What you changed and why it fixes it."},
            "tests_run": {"type": "string", "description": "Tests you ran and their results."},
            "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
            "fixed": {"type": "boolean", "description": "False when you could not fix it."},
        },
        "required": ["root_cause", "fix", "tests_run", "confidence"],
    },
)


def parse_summary(call: ToolCall) -> Summary | str:
    try:
        return Summary.model_validate(call.input)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return f"finish refused, fix the summary and call finish again: {problems}"
