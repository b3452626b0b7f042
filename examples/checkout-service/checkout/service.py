"""Checkout: price a cart, reserve stock and record the order, on one pooled connection."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from checkout.db import ConnectionPool

PRICES = {"apple": 120, "pear": 90, "coffee": 650, "bread": 300}
"""Unit prices in cents."""

_order_ids = itertools.count(1)


class InvalidCart(ValueError):
    """The cart is empty or holds an unknown item."""


@dataclass(frozen=True)
class Order:
    id: int
    user: str
    total_cents: int
    status: str


class CheckoutService:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def checkout(self, user: str, cart: dict[str, int]) -> Order:
        total = price(cart)
        conn = self.pool.acquire()
        try:
            conn.execute("UPDATE stock SET reserved = reserved + ? WHERE item IN (?)", cart)
            conn.execute("INSERT INTO orders (user, total) VALUES (?, ?)", user, total)
        finally:
            self.pool.release(conn)
        return Order(id=next(_order_ids), user=user, total_cents=total, status="confirmed")


def price(cart: dict[str, int]) -> int:
    if not cart:
        raise InvalidCart("the cart is empty")
    unknown = sorted(set(cart) - set(PRICES))
    if unknown:
        raise InvalidCart(f"unknown items: {', '.join(unknown)}")
    return sum(PRICES[item] * qty for item, qty in cart.items())
