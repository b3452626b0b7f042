"""MCP server for repository reads and agent-only branches, commits and pull requests (local git or GitHub)."""
