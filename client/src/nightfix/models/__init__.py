"""Model providers behind one small Protocol, speaking provider-neutral messages.

The conversation is a list of :data:`Message`: :class:`UserText`, :class:`ModelTurn` (the
assistant's text, tool calls and usage) and :class:`ToolResults`; the system prompt is passed
beside it. A provider is one module that turns these into its wire format and back, chosen by
name from :data:`PROVIDERS` (``model.provider`` in the policy, or ``--model``). Adding one is
that module, one line here, one word in the policy's ``provider`` choices, and its tests.

``replay:PATH`` is not a provider but a recording: it feeds a trace's (or a hand-written
trajectory's) model turns back in order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from nightfix.budgets import Usage
from nightfix.errors import NightfixError
from nightfix.policy import ModelPolicy


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for.

    ``invalid_arguments`` says why the arguments could not be used (malformed JSON, not an
    object); the loop then answers the call with a tool error instead of running it.
    """

    id: str
    name: str
    input: dict[str, Any]
    invalid_arguments: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The call as traced (and read back by replay)."""
        data: dict[str, Any] = {"id": self.id, "name": self.name, "input": self.input}
        if self.invalid_arguments is not None:
            data["invalid_arguments"] = self.invalid_arguments
        return data


@dataclass(frozen=True)
class UserText:
    """Text from the user side: the task, or a nudge after a turn without tool calls."""

    text: str


@dataclass
class ModelTurn:
    """One assistant turn: optional text, tool calls, and the usage it cost."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """What the model is told about one of its tool calls (``call_id`` pairs them)."""

    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class ToolResults:
    """The answers to every tool call of the previous turn, in the order they were made."""

    results: list[ToolResult]


Message = UserText | ModelTurn | ToolResults


@dataclass(frozen=True)
class ToolSpec:
    """A tool as offered to the model (``server.tool``; see :func:`wire_name`)."""

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


def wire_name(name: str) -> str:
    """``server.tool`` as APIs that allow no dots in tool names see it: ``server__tool``."""
    return name.replace(".", "__")


def local_name(name: str) -> str:
    return name.replace("__", ".", 1)


PROVIDERS: dict[str, str] = {
    "anthropic": "nightfix.models.anthropic:AnthropicModel",
    "openai": "nightfix.models.openai:OpenAIModel",
    "bedrock": "nightfix.models.bedrock:BedrockModel",
    "vertex": "nightfix.models.vertex:VertexModel",
}
"""Provider name -> ``module:Class``; the class has ``from_policy(ModelPolicy)``."""


def provider_class(provider: str) -> Callable[[ModelPolicy], Model]:
    """The ``from_policy`` constructor of ``provider`` (imported only when chosen)."""
    module, _, cls = PROVIDERS[provider].partition(":")
    factory: Callable[[ModelPolicy], Model] = getattr(
        importlib.import_module(module), cls
    ).from_policy
    return factory


def resolve_spec(spec: str | None, policy: ModelPolicy) -> str:
    """The model choice of one run: ``--model`` when given, else the policy's provider.

    ``PROVIDER`` or ``PROVIDER:NAME`` (``NAME`` overrides ``model.name``) or ``replay:PATH``.
    Raises :class:`NightfixError` with what to write instead when it names nothing known.
    """
    chosen = spec or policy.provider
    if chosen == "replay":
        raise NightfixError("the policy's model provider is 'replay': pass --model replay:PATH")
    provider = chosen.split(":", 1)[0]
    if provider != "replay" and provider not in PROVIDERS:
        names = ", ".join(f"'{p}'" for p in PROVIDERS)
        raise NightfixError(
            f"unknown model {chosen!r}: use {names} (optionally PROVIDER:MODEL_NAME) "
            "or 'replay:PATH'"
        )
    return chosen


def make_model(spec: str, policy: Any, variables: dict[str, str] | None = None) -> Model:
    """The model for ``spec`` (see :func:`resolve_spec`); ``variables`` fill a trajectory."""
    chosen = resolve_spec(spec, policy.model)
    provider, _, rest = chosen.partition(":")
    if provider == "replay":
        from nightfix.models.replay import ReplayModel

        return ReplayModel.from_file(rest, variables or {})
    settings = policy.model.model_copy(update={"name": rest}) if rest else policy.model
    return provider_class(provider)(settings)
