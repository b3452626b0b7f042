"""The nightfix agent: composes the MCP servers under a policy, with budgets, audit, verification and delivery."""
