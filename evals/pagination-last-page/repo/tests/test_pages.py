import pytest
from orders.api import order_history
from orders.pages import PageOutOfRange, get_page


def orders(n):
    return [{"id": f"o{i}", "placed_at": f"2026-01-{i + 1:02d}"} for i in range(n)]


def test_first_page_is_the_newest_orders():
    body = order_history(orders(20), 1)
    assert body["orders"][0] == "o19"
    assert body["pages"] == 2
    assert body["next"] == 2


def test_last_full_page_has_no_next():
    body = order_history(orders(20), 2)
    assert len(body["orders"]) == 10
    assert body["next"] is None


def test_an_empty_history_is_one_empty_page():
    assert order_history([], 1)["orders"] == []


def test_a_page_past_the_end_is_refused():
    with pytest.raises(PageOutOfRange):
        get_page(list(range(10)), 2)


def test_page_zero_is_invalid():
    with pytest.raises(ValueError):
        get_page([1, 2], 0)
