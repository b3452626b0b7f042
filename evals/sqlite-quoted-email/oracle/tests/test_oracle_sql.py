"""Hidden oracle: never in the repository the model sees."""

import sqlite3

import pytest
from customers.api import lookup
from customers.store import add_customer, connect, find_by_email


@pytest.fixture
def conn():
    db = connect()
    add_customer(db, "o'brien@example.com", "Aoife O'Brien")
    add_customer(db, "ana@example.com", "Ana Lima")
    return db


def test_an_apostrophe_in_the_address_is_found(conn):
    customer = find_by_email(conn, "O'Brien@example.com")
    assert customer is not None and customer.name == "Aoife O'Brien"
    assert lookup(conn, "o'brien@example.com") == (
        200,
        {"id": customer.id, "name": "Aoife O'Brien"},
    )


def test_the_address_is_not_changed_to_match(conn):
    assert find_by_email(conn, "obrien@example.com") is None


@pytest.mark.parametrize("attack", ["x' OR '1'='1", "' OR 1=1 --", "ana@example.com' --"])
def test_injection_finds_nobody(conn, attack):
    assert find_by_email(conn, attack) is None


def test_a_broken_database_is_still_an_error():
    with pytest.raises(sqlite3.OperationalError):
        find_by_email(sqlite3.connect(":memory:"), "ana@example.com")
