"""Context economy: how many tokens the tool definitions offered to the model cost.

The definitions are taken from the same servers a run starts (the policy of an attempt), and
filtered exactly as the gateway filters them (the policy's allow list, never the client-only
tools, the sandbox id hidden), plus ``finish``. No tokenizer is reachable offline: tokens are
estimated as characters / 4 of the JSON each provider is sent (name, description, schema).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from nightfix.evals.results import ContextEconomy, ResultCost, ToolCost, tokens
from nightfix.finish import FINISH
from nightfix.gateway import model_schema, never_for_model
from nightfix.models import ToolSpec, wire_name
from nightfix.policy import load_policy
from nightfix.servers import ServerPool

TARGET = 3000


async def offered_tools(policy_path: Path) -> list[ToolSpec]:
    """The tools a run under ``policy_path`` offers its model."""
    policy = load_policy(policy_path)
    specs = {str(name): spec for name, spec in policy.servers.items()}
    async with ServerPool(specs, errlog=subprocess.DEVNULL) as pool:
        offered = [
            ToolSpec(
                f"{server}.{t.name}",
                t.description or "",
                model_schema(f"{server}.{t.name}", t.input_schema),
            )
            for server, listed in sorted(pool.tools.items())
            for t in listed
            if policy.tools.allows(f"{server}.{t.name}")
            and not never_for_model(f"{server}.{t.name}", t)
        ]
    return [*offered, FINISH]


def definition_tokens(spec: ToolSpec) -> int:
    sent = {
        "name": wire_name(spec.name),
        "description": spec.description,
        "input_schema": spec.input_schema,
    }
    return tokens(len(json.dumps(sent, separators=(",", ":"))))


def economy(specs: list[ToolSpec], results: list[ResultCost]) -> ContextEconomy:
    costs = sorted(
        (ToolCost(tool=s.name, tokens=definition_tokens(s)) for s in specs),
        key=lambda c: -c.tokens,
    )
    total = sum(c.tokens for c in costs)
    return ContextEconomy(
        tool_definitions=costs,
        tool_definitions_total=total,
        target=TARGET,
        over_target_by=max(total - TARGET, 0),
        tool_results=results,
    )
