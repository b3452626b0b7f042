"""``POST /bills/<id>/split``: what each guest is charged."""

from __future__ import annotations

from billing.split import split_bill


def split_request(total: float, guests: list[str]) -> dict[str, str]:
    shares = split_bill(total, len(guests))
    return {guest: f"{share:.2f}" for guest, share in zip(guests, shares, strict=True)}
