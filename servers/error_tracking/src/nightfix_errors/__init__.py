"""Read-only MCP access to production errors.

A Sentry-compatible collector and store, or a real Sentry, behind one read-only MCP server.
"""
