"""``GET /customers/<id>/orders?page=N``: the order history, as the mobile app shows it."""

from __future__ import annotations

from typing import Any

from orders.pages import get_page

PER_PAGE = 10


def order_history(orders: list[dict[str, Any]], page: int) -> dict[str, Any]:
    """The JSON body of one page of a customer's orders (newest first)."""
    ordered = sorted(orders, key=lambda o: o["placed_at"], reverse=True)
    result = get_page(ordered, page, PER_PAGE)
    return {
        "orders": [o["id"] for o in result.items],
        "page": result.page,
        "pages": result.page_count,
        "total": len(orders),
        "next": result.page + 1 if result.has_next else None,
    }
