"""Run budgets, checked *before* the step or call that would cross them (fail closed).

Model steps, tool calls and seconds are counted exactly. Tokens and dollars are only known
after a model call, so before each call the budget projects the next one conservatively:
the next call is assumed to cost at least as much as the last one did (the conversation only
grows). If the projection would cross ``max_input_tokens`` or ``max_usd``, the run stops
before the call is made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from nightfix.policy import BudgetsPolicy, PricesPolicy
from nightfix.stop_reasons import Kind


@dataclass
class Usage:
    """Token usage of one model call or summed over a run.

    ``estimated`` marks counts nightfix guessed because the server reported none (a local
    server); ``reported_usd`` is the price the provider itself reported for one call, used
    instead of ``prices_per_mtok`` when present.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    estimated: bool = False
    reported_usd: float | None = None

    @property
    def total_input(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def add(self, other: Usage) -> None:
        """Sum token counts (a sum is estimated when any part was; prices are per call)."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens
        self.estimated = self.estimated or other.estimated

    def cost(self, prices: PricesPolicy) -> float:
        """Dollars for one call: as the provider reported, else at ``prices`` (USD/Mtok)."""
        if self.reported_usd is not None:
            return self.reported_usd
        return (
            self.input_tokens * prices.input
            + self.output_tokens * prices.output
            + self.cache_creation_input_tokens * prices.cache_write
            + self.cache_read_input_tokens * prices.cache_read
        ) / 1_000_000

    def as_dict(self) -> dict[str, Any]:
        """As traced: the four counts, plus ``estimated``/``reported_usd`` only when set."""
        data: dict[str, Any] = {k: getattr(self, k) for k in TOKEN_KEYS}
        if self.estimated:
            data["estimated"] = True
        if self.reported_usd is not None:
            data["reported_usd"] = self.reported_usd
        return data


TOKEN_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


@dataclass
class Budget:
    """Counters of one run against its :class:`BudgetsPolicy`."""

    limits: BudgetsPolicy
    prices: PricesPolicy
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    last_call: Usage = field(default_factory=Usage)
    spent_usd: float = 0.0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def cost_usd(self) -> float:
        """Spend so far: each call at its own price (reported by the provider, or priced)."""
        return self.spent_usd

    def remaining_seconds(self) -> float:
        return self.limits.max_seconds - self.elapsed

    def check_step(self) -> Kind | None:
        """The budget the next model step would cross, or ``None`` when it may run."""
        if self.steps + 1 > self.limits.max_steps:
            return Kind.MAX_STEPS
        if self.remaining_seconds() <= 0:
            return Kind.MAX_SECONDS
        if self.usage.total_input + self.last_call.total_input > self.limits.max_input_tokens:
            return Kind.MAX_INPUT_TOKENS
        if self.cost_usd + self.last_call.cost(self.prices) > self.limits.max_usd:
            return Kind.MAX_USD
        return None

    def check_tool_call(self) -> Kind | None:
        """The budget the next tool call would cross, or ``None`` when it may run."""
        if self.tool_calls + 1 > self.limits.max_tool_calls:
            return Kind.MAX_TOOL_CALLS
        if self.remaining_seconds() <= 0:
            return Kind.MAX_SECONDS
        return None

    def record_step(self, usage: Usage) -> None:
        self.steps += 1
        self.usage.add(usage)
        self.last_call = usage
        self.spent_usd += usage.cost(self.prices)

    def snapshot(self) -> dict[str, object]:
        """Counters as written to the audit log and trace."""
        return {
            "steps": self.steps,
            "tool_calls": self.tool_calls,
            "seconds": round(self.elapsed, 3),
            "input_tokens": self.usage.total_input,
            "output_tokens": self.usage.output_tokens,
            "usd": round(self.cost_usd, 6),
        }
