"""MCP server for repository reads and agent-only branches, commits and pull requests.

Two backends (local git, GitHub) behind one set of tools; the boundary lives in `security.py`.
"""
