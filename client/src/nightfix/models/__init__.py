"""Model backends behind one small Protocol, chosen by a short name.

``anthropic`` talks to the Messages API through the ``anthropic`` SDK; ``replay:PATH`` feeds a
recorded trace's (or a hand-written trajectory's) model turns back in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from nightfix.budgets import Usage

Message = dict[str, Any]
"""A conversation message in the Messages API shape: ``{"role", "content": [blocks]}``."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


@dataclass
class ModelTurn:
    """One model answer: optional text, tool calls, and the usage it cost."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None

    def as_content(self) -> list[dict[str, Any]]:
        """The assistant message content blocks to append to the conversation."""
        blocks: list[dict[str, Any]] = []
        if self.text:
            blocks.append({"type": "text", "text": self.text})
        blocks.extend(
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.input}
            for c in self.tool_calls
        )
        return blocks or [{"type": "text", "text": "(no output)"}]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as offered to the model (name uses ``__`` in place of ``.`` on the wire)."""

    name: str
    description: str
    input_schema: dict[str, Any]


class Model(Protocol):
    name: str

    async def complete(
        self, system: str, messages: list[Message], tools: list[ToolSpec]
    ) -> ModelTurn:
        """The next turn; raises :class:`nightfix.errors.ModelError` when the provider fails."""
        ...


def make_model(spec: str, policy: Any, variables: dict[str, str] | None = None) -> Model:
    """``anthropic`` or ``replay:PATH`` (``variables`` fill ``${name}`` in a trajectory)."""
    from nightfix.errors import NightfixError

    if spec == "anthropic":
        from nightfix.models.anthropic import AnthropicModel

        return AnthropicModel.from_policy(policy.model)
    if spec.startswith("replay:"):
        from nightfix.models.replay import ReplayModel

        return ReplayModel.from_file(spec.removeprefix("replay:"), variables or {})
    raise NightfixError(f"unknown model {spec!r}: use 'anthropic' or 'replay:PATH'")
