"""Any OpenAI-compatible Chat Completions endpoint, through the official ``openai`` SDK.

OpenAI itself, Azure OpenAI (its ``/openai/v1/`` endpoint), LiteLLM, vLLM, Ollama, OpenRouter…:
``model.base_url`` says where, ``model.api_key_env`` names the variable holding the key
(default ``OPENAI_API_KEY``; with a ``base_url`` and no key set, a placeholder is sent, as a
local server needs none), ``model.headers`` adds gateway headers (``${VAR}`` from the env).

- Tools are Chat Completions functions named ``server__tool``; parallel tool calls are on and
  every call of a turn is answered, in order, by a ``tool`` message. Chat Completions has no
  error flag on a tool message, so an error result's content starts with ``ERROR:``.
- Arguments that are not a JSON object (malformed JSON, a cut-off call) do not crash the run:
  the call carries ``invalid_arguments`` and the loop tells the model.
- Usage as the server reports it (cached prompt tokens counted as cache reads). A server that
  reports none (many local ones) gets an estimate (about 4 characters a token) marked
  ``estimated`` in the trace. Cost as the server reports it (``usage.cost``, OpenRouter; the
  ``x-litellm-response-cost`` header, LiteLLM), else from ``model.prices_per_mtok``.
- 429 and 503 are retried up to ``max_retries`` times (``retry-after``/``retry-after-ms``
  honoured, capped); a timeout (``timeout_s``), a connection failure or any other status
  raises :class:`ModelError` at once (stop ``model_error``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from typing import Any

import openai

from nightfix.budgets import Usage
from nightfix.errors import ModelError
from nightfix.models import (
    Message,
    ModelTurn,
    ToolCall,
    ToolResults,
    ToolSpec,
    UserText,
    local_name,
    wire_name,
)
from nightfix.models.http import expand_headers, read_key, retry_delay
from nightfix.policy import ModelPolicy

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {429, 503}
NO_KEY = "no-key"
"""Sent as the key to a ``base_url`` when no key is set: local servers ignore it."""
CHARS_PER_TOKEN = 4
COST_HEADER = "x-litellm-response-cost"


class OpenAIModel:
    """A :class:`nightfix.models.Model` backed by the Chat Completions API."""

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        max_tokens: int = 4096,
        max_retries: int = 3,
        timeout_s: float = 120,
        headers: dict[str, str] | None = None,
        retry_base_s: float = 1.0,
    ) -> None:
        self.name = f"openai:{model}"
        self.model = model
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.retry_base_s = retry_base_s
        self.timeout_s = timeout_s
        self.sleep = asyncio.sleep  # between retries (a test records the delays instead)
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,  # retries are ours: bounded, and only on 429/503
            timeout=timeout_s,
            default_headers=headers or None,
        )

    @classmethod
    def from_policy(cls, policy: ModelPolicy) -> OpenAIModel:
        variable = policy.api_key_env or "OPENAI_API_KEY"
        base_url = policy.base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = read_key(variable)
        if key is None and base_url is None:
            raise ModelError(
                f"{variable} is not set: put the API key there, set model.base_url for a "
                "local server, or use --model replay:TRACE"
            )
        return cls(
            policy.name,
            key or NO_KEY,
            base_url=base_url,
            max_tokens=policy.max_tokens,
            max_retries=policy.max_retries,
            timeout_s=policy.timeout_s,
            headers=expand_headers(policy.headers),
        )

    def request(
        self, system: str, messages: list[Message], tools: list[ToolSpec]
    ) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create``."""
        wire: list[dict[str, Any]] = [{"role": "system", "content": system}]
        for message in messages:
            wire.extend(to_wire(message))
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": wire,
            "max_completion_tokens": self.max_tokens,
        }
        if tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": wire_name(t.name),
                        "description": t.description,
                        "parameters": t.input_schema,
                    },
                }
                for t in tools
            ]
            kwargs["parallel_tool_calls"] = True
        return kwargs

    async def complete(
        self, system: str, messages: list[Message], tools: list[ToolSpec]
    ) -> ModelTurn:
        kwargs = self.request(system, messages, tools)
        for attempt in range(self.max_retries + 1):
            try:
                raw = await self._client.chat.completions.with_raw_response.create(**kwargs)
                return to_turn(raw.parse(), raw.headers, kwargs)
            except openai.APIStatusError as exc:
                if exc.status_code not in RETRYABLE_STATUS or attempt == self.max_retries:
                    raise ModelError(_describe(exc, attempt)) from exc
                delay = retry_delay(exc.response.headers, attempt, self.retry_base_s)
                log.warning(
                    "model: HTTP %s, retry %d in %.1fs", exc.status_code, attempt + 1, delay
                )
                await self.sleep(delay)
            except openai.APITimeoutError as exc:
                raise ModelError(f"model API did not answer within {self.timeout_s}s") from exc
            except openai.APIError as exc:
                raise ModelError(f"model API failed: {type(exc).__name__}: {exc}") from exc
        raise ModelError("unreachable: retries exhausted")  # pragma: no cover


def to_wire(message: Message) -> list[dict[str, Any]]:
    """One neutral message as Chat Completions messages (tool results: one each)."""
    if isinstance(message, UserText):
        return [{"role": "user", "content": message.text}]
    if isinstance(message, ToolResults):
        return [
            {
                "role": "tool",
                "tool_call_id": r.call_id,
                "content": f"ERROR: {r.content}" if r.is_error else r.content,
            }
            for r in message.results
        ]
    out: dict[str, Any] = {"role": "assistant", "content": message.text or None}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": wire_name(c.name), "arguments": json.dumps(c.input)},
            }
            for c in message.tool_calls
        ]
    elif not message.text:
        out["content"] = "(no output)"
    return [out]


def to_turn(completion: Any, headers: Any, request: dict[str, Any]) -> ModelTurn:
    """The neutral turn of a ``ChatCompletion`` (``headers``: for a reported cost)."""
    if not completion.choices:
        raise ModelError("model API answered with no choices")
    choice = completion.choices[0]
    message = choice.message
    calls = [_call(call, n) for n, call in enumerate(message.tool_calls or [], start=1)]
    text = message.content or ""
    usage = _usage(completion.usage, request, text, calls)
    usage.reported_usd = _reported_cost(completion.usage, headers)
    return ModelTurn(text, calls, usage, choice.finish_reason)


def _call(call: Any, n: int) -> ToolCall:
    call_id = call.id or f"call_{n}"
    function = getattr(call, "function", None)
    if function is None:
        kind = getattr(call, "type", "?")
        return ToolCall(call_id, "?", {}, f"a {kind!r} tool call, not a function call")
    name = local_name(function.name or "")
    try:
        args = json.loads(function.arguments or "{}")
    except json.JSONDecodeError as exc:
        shown = (function.arguments or "")[:200]
        return ToolCall(call_id, name, {}, f"malformed JSON ({exc.msg}): {shown!r}")
    if not isinstance(args, dict):
        return ToolCall(call_id, name, {}, f"a JSON {type(args).__name__}, not an object")
    return ToolCall(call_id, name, args)


def _usage(reported: Any, request: dict[str, Any], text: str, calls: list[ToolCall]) -> Usage:
    if reported is None:
        sent = json.dumps(request["messages"]) + json.dumps(request.get("tools", []))
        answer = text + "".join(json.dumps(c.input) + c.name for c in calls)
        return Usage(
            input_tokens=math.ceil(len(sent) / CHARS_PER_TOKEN),
            output_tokens=math.ceil(len(answer) / CHARS_PER_TOKEN),
            estimated=True,
        )
    details = getattr(reported, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
    prompt = reported.prompt_tokens or 0
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=reported.completion_tokens or 0,
        cache_read_input_tokens=cached,
    )


def _reported_cost(reported: Any, headers: Any) -> float | None:
    for raw in (getattr(reported, "cost", None), headers.get(COST_HEADER)):
        try:
            if raw is not None and math.isfinite(float(raw)) and float(raw) >= 0:
                return float(raw)
        except (TypeError, ValueError):
            continue
    return None


def _describe(exc: openai.APIStatusError, attempt: int) -> str:
    tries = f" after {attempt + 1} attempt(s)" if attempt else ""
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = body.get("message") if isinstance(body.get("message"), str) else exc.message
    return f"model API answered HTTP {exc.status_code}{tries}: {detail}"
