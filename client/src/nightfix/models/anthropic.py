"""Claude through the ``anthropic`` SDK (Messages API, tool use, prompt caching).

- Key from ``ANTHROPIC_API_KEY``; ``ANTHROPIC_BASE_URL`` (or ``base_url``) points the SDK at
  another endpoint (tests use a local server speaking the Messages API).
- The stable prefix (tool definitions + system prompt) carries ``cache_control`` so later
  steps read it from the prompt cache; the newest message is marked too, so each step caches
  the conversation so far.
- Rate limits (429) and overload (529) are retried up to ``max_retries`` times with
  exponential back-off (``retry-after`` honoured, capped); any other API failure — a 500,
  a 400, a connection error — raises :class:`ModelError` at once (stop ``model_error``).
- Tool names are ``server.tool`` inside nightfix; the API allows no dots, so on the wire
  they are ``server__tool``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import random
from typing import Any

import anthropic

from nightfix.budgets import Usage
from nightfix.errors import ModelError
from nightfix.models import Message, ModelTurn, ToolCall, ToolSpec
from nightfix.policy import ModelPolicy

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {429, 529}
MAX_RETRY_AFTER_S = 30.0


def wire_name(name: str) -> str:
    return name.replace(".", "__")


def local_name(name: str) -> str:
    return name.replace("__", ".", 1)


class AnthropicModel:
    """A :class:`nightfix.models.Model` backed by the Messages API."""

    def __init__(
        self,
        model: str,
        max_tokens: int = 4096,
        max_retries: int = 3,
        timeout_s: float = 120,
        base_url: str | None = None,
        api_key: str | None = None,
        retry_base_s: float = 1.0,
    ) -> None:
        self.name = f"anthropic:{model}"
        self.model = model
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.retry_base_s = retry_base_s
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ModelError("ANTHROPIC_API_KEY is not set (or use --model replay:TRACE)")
        self._client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=0,  # retries are ours: bounded, and only on 429/529
            timeout=timeout_s,
        )

    @classmethod
    def from_policy(cls, policy: ModelPolicy) -> AnthropicModel:
        return cls(policy.name, policy.max_tokens, policy.max_retries, policy.timeout_s)

    def request(
        self, system: str, messages: list[Message], tools: list[ToolSpec]
    ) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` (with cache breakpoints)."""
        wire_tools: list[dict[str, Any]] = [
            {
                "name": wire_name(t.name),
                "description": t.description,
                "input_schema": t.input_schema,
            }
            for t in tools
        ]
        if wire_tools:
            wire_tools[-1]["cache_control"] = {"type": "ephemeral"}
        wire_messages = copy.deepcopy(messages)
        for message in wire_messages:
            for block in message["content"]:
                if block.get("type") == "tool_use":
                    block["name"] = wire_name(block["name"])
        if wire_messages and wire_messages[-1]["content"]:
            wire_messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": wire_messages,
            "tools": wire_tools,
        }

    async def complete(
        self, system: str, messages: list[Message], tools: list[ToolSpec]
    ) -> ModelTurn:
        kwargs = self.request(system, messages, tools)
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._client.messages.create(**kwargs)
                return _turn(response)
            except anthropic.APIStatusError as exc:
                if exc.status_code not in RETRYABLE_STATUS or attempt == self.max_retries:
                    raise ModelError(_describe(exc, attempt)) from exc
                delay = _retry_delay(exc, attempt, self.retry_base_s)
                log.warning(
                    "model: HTTP %s, retry %d in %.1fs", exc.status_code, attempt + 1, delay
                )
                await asyncio.sleep(delay)
            except anthropic.APIError as exc:
                raise ModelError(f"model API failed: {type(exc).__name__}: {exc}") from exc
        raise ModelError("unreachable: retries exhausted")  # pragma: no cover


def _turn(response: Any) -> ModelTurn:
    texts, calls = [], []
    for block in response.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            calls.append(ToolCall(block.id, local_name(block.name), dict(block.input or {})))
    u = response.usage
    usage = Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_creation_input_tokens=getattr(u, "cache_creation_input_tokens", None) or 0,
        cache_read_input_tokens=getattr(u, "cache_read_input_tokens", None) or 0,
    )
    return ModelTurn("\n".join(texts), calls, usage, response.stop_reason)


def _retry_delay(exc: anthropic.APIStatusError, attempt: int, base: float) -> float:
    header = exc.response.headers.get("retry-after")
    try:
        if header is not None:
            return min(max(float(header), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    return min(base * (2**attempt) * (0.5 + random.random()), MAX_RETRY_AFTER_S)  # noqa: S311


def _describe(exc: anthropic.APIStatusError, attempt: int) -> str:
    tries = f" after {attempt + 1} attempt(s)" if attempt else ""
    return f"model API answered HTTP {exc.status_code}{tries}: {exc.api_message or exc.message}"
