"""A small shop backend that fails in realistic ways, instrumented with the real `sentry-sdk`.

Run by `bench_errors.py` (through `errors_capture.py`) as
`python errors_sample_app.py DSN SPOTLIGHT_URL COUNT`: it raises COUNT exceptions from a few
code paths (nested calls, local variables, a chained exception, users, tags, a request), each
captured by the SDK, which sends envelopes to the DSN and to Spotlight like any app would.
"""

from __future__ import annotations

import sys

import sentry_sdk


class PaymentDeclinedError(Exception):
    pass


def load_cart(user_id: int, items: list[dict[str, object]]) -> dict[str, object]:
    prices = {"sku-1": 12.5, "sku-2": 3.0}
    total = 0.0
    for item in items:
        total += prices[str(item["sku"])] * int(str(item["qty"]))  # KeyError for unknown sku
    return {"user": user_id, "total": total}


def charge(amount: float, card_last4: str) -> None:
    gateway_reply = {"code": 51, "reason": "insufficient funds", "card": card_last4}
    if amount > 100:
        raise PaymentDeclinedError(f"card ending {card_last4} declined: {gateway_reply['reason']}")


def checkout(user_id: int, items: list[dict[str, object]]) -> None:
    cart = load_cart(user_id, items)
    try:
        charge(float(str(cart["total"])) * 10, "4242")
    except PaymentDeclinedError as exc:
        raise RuntimeError(f"checkout failed for user {user_id}") from exc


def parse_quantity(raw: str) -> int:
    return int(raw)  # ValueError on bad input


def handle(i: int) -> None:
    kind = i % 3
    if kind == 0:
        load_cart(i, [{"sku": "sku-1", "qty": 1}, {"sku": f"sku-{i % 7 + 3}", "qty": 2}])
    elif kind == 1:
        checkout(i, [{"sku": "sku-1", "qty": 4}])
    else:
        parse_quantity(f"{i} items")


def main() -> None:
    dsn, spotlight, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sentry_sdk.init(
        dsn=dsn,
        spotlight=spotlight,
        environment="production",
        release="shop@2.4.1",
        traces_sample_rate=0.0,
        include_local_variables=True,
        send_default_pii=False,
    )
    for i in range(count):
        with sentry_sdk.new_scope() as scope:
            scope.set_user({"id": str(1000 + i % 50), "username": f"user{i % 50}"})
            scope.set_tag("region", ["eu-west-1", "us-east-1"][i % 2])
            scope.set_transaction_name(["/cart", "/checkout", "/quantity"][i % 3])
            scope.set_context("request_info", {"path": "/checkout", "method": "POST"})
            try:
                handle(i)
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
        if i % 50 == 49:
            sentry_sdk.flush(timeout=10)  # the SDK's send queue is bounded: let it drain
    sentry_sdk.flush(timeout=10)


if __name__ == "__main__":
    main()
