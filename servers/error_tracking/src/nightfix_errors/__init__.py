"""Read-only MCP access to production errors: a Sentry-compatible collector and store, or a real Sentry."""
