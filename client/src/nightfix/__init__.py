"""The nightfix agent: MCP servers composed under a policy, with budgets, audit and delivery."""
