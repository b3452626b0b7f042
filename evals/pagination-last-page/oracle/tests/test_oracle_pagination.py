"""Hidden oracle: never in the repository the model sees."""

import pytest
from orders.api import order_history
from orders.pages import PageOutOfRange, get_page, page_count


def orders(n):
    return [{"id": f"o{i}", "placed_at": f"2026-01-{i + 1:02d}"} for i in range(n)]


@pytest.mark.parametrize(("total", "pages"), [(0, 1), (1, 1), (10, 1), (11, 2), (25, 3), (30, 3)])
def test_page_count_rounds_up(total, pages):
    assert page_count(total, 10) == pages


def test_the_last_partial_page_holds_the_oldest_orders():
    body = order_history(orders(25), 3)
    assert body["orders"] == ["o4", "o3", "o2", "o1", "o0"]
    assert body["pages"] == 3
    assert body["next"] is None


def test_every_order_is_on_exactly_one_page():
    seen = []
    for page in range(1, 4):
        seen += order_history(orders(23), page)["orders"]
    assert sorted(seen) == sorted(f"o{i}" for i in range(23))


def test_a_page_past_the_last_is_still_refused():
    with pytest.raises(PageOutOfRange):
        get_page(list(range(25)), 4)
    with pytest.raises(PageOutOfRange):
        get_page(list(range(7)), 3, per_page=7)
