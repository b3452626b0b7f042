import pytest
from checkout.db import ConnectionPool
from checkout.service import CheckoutService, InvalidCart, price


def test_price_sums_the_cart():
    assert price({"apple": 2, "coffee": 1}) == 2 * 120 + 650


def test_price_refuses_an_empty_cart():
    with pytest.raises(InvalidCart):
        price({})


def test_price_refuses_unknown_items():
    with pytest.raises(InvalidCart, match="caviar"):
        price({"caviar": 1})


def test_checkout_confirms_an_order_and_returns_the_connection():
    pool = ConnectionPool(query_seconds=0)
    order = CheckoutService(pool).checkout("u1", {"bread": 1})
    assert order.status == "confirmed"
    assert order.total_cents == 300
    assert pool.available == pool.size


def test_checkout_returns_the_connection_on_failure():
    pool = ConnectionPool(query_seconds=0)
    with pytest.raises(InvalidCart):
        CheckoutService(pool).checkout("u1", {})
    assert pool.available == pool.size
