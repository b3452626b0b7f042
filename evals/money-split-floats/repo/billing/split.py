"""Splitting a bill into equal shares."""

from __future__ import annotations


class InvoiceMismatch(ArithmeticError):
    """The shares do not add up to the bill (charging them would lose or invent money)."""


def split_bill(total: float, people: int) -> list[float]:
    """``people`` shares of ``total`` (in the currency's units, two decimals)."""
    if people < 1:
        raise ValueError("a bill is split between at least one person")
    share = round(total / people, 2)
    shares = [share] * people
    if sum(shares) != total:
        raise InvoiceMismatch(f"shares add up to {sum(shares)}, the bill is {total}")
    return shares
