"""MCP server for hardened, network-less Docker sandboxes that run a repository's tests."""
