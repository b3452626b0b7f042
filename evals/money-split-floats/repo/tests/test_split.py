import pytest
from billing.api import split_request
from billing.split import split_bill


def test_an_even_split():
    assert split_bill(90.0, 3) == [30.0, 30.0, 30.0]


def test_one_person_pays_everything():
    assert split_bill(12.5, 1) == [12.5]


def test_nobody_to_pay_is_an_error():
    with pytest.raises(ValueError):
        split_bill(10.0, 0)


def test_the_request_formats_two_decimals():
    assert split_request(20.0, ["ana", "bo"]) == {"ana": "10.00", "bo": "10.00"}
