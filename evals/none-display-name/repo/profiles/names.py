"""Display names."""

from __future__ import annotations

from typing import Any


def full_name(user: dict[str, Any]) -> str:
    return f"{user['first_name']} {user['last_name']}".strip()


def display_name(user: dict[str, Any]) -> str:
    """The name shown in the header and on receipts: the nickname, else the full name."""
    nickname = user.get("nickname")
    if nickname.strip():
        return nickname.strip()
    return full_name(user)
