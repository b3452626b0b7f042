"""Hidden oracle: never in the repository the model sees."""

from decimal import Decimal

import pytest
from billing.api import split_request
from billing.split import split_bill


def cents(values):
    return [Decimal(str(v)).quantize(Decimal("0.01")) for v in values]


@pytest.mark.parametrize(
    ("total", "people"), [(100.0, 3), (59.99, 2), (0.1, 3), (1234.56, 7), (0.3, 2), (90.0, 3)]
)
def test_shares_add_up_to_the_bill_exactly(total, people):
    shares = split_bill(total, people)
    assert len(shares) == people
    assert cents(shares) == [Decimal(str(s)) for s in cents(shares)]  # whole cents
    assert all(Decimal(str(s)) == c for s, c in zip(shares, cents(shares), strict=True))
    assert sum(cents(shares)) == Decimal(str(total))
    assert max(cents(shares)) - min(cents(shares)) <= Decimal("0.01")


def test_a_hundred_split_three_ways():
    assert sorted(cents(split_bill(100.0, 3)), reverse=True) == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]


def test_the_request_charges_the_whole_bill():
    charged = split_request(100.0, ["ana", "bo", "cy"])
    assert sum(Decimal(v) for v in charged.values()) == Decimal("100.00")
