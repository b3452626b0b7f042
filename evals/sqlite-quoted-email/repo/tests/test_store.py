import sqlite3

import pytest
from customers.api import lookup
from customers.store import add_customer, connect, find_by_email


@pytest.fixture
def conn():
    db = connect()
    add_customer(db, "Ana@Example.com", "Ana Lima")
    return db


def test_found_by_email_case_insensitively(conn):
    customer = find_by_email(conn, "ana@example.COM")
    assert customer is not None and customer.name == "Ana Lima"


def test_unknown_email_is_none(conn):
    assert find_by_email(conn, "bo@example.com") is None


def test_lookup_answers_404_for_an_unknown_email(conn):
    assert lookup(conn, "bo@example.com")[0] == 404


def test_a_broken_database_is_an_error_not_a_missing_customer():
    db = sqlite3.connect(":memory:")  # never migrated: no customers table
    with pytest.raises(sqlite3.OperationalError):
        find_by_email(db, "ana@example.com")
