"""``GET /account``: the account page's header."""

from __future__ import annotations

from typing import Any

from profiles.names import display_name


def account_header(user: dict[str, Any]) -> dict[str, str]:
    return {"greeting": f"Hello, {display_name(user)}", "email": user["email"]}
