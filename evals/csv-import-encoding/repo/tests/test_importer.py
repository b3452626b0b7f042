import pytest
from contacts.api import import_contacts
from contacts.importer import InvalidContacts, parse_contacts


def test_a_plain_file_imports():
    data = b"name,email\nAna Lima,Ana@Example.com\nBo Chen, bo@example.com \n"
    assert parse_contacts(data) == [
        {"name": "Ana Lima", "email": "ana@example.com"},
        {"name": "Bo Chen", "email": "bo@example.com"},
    ]


def test_a_row_without_email_is_refused_with_its_line():
    with pytest.raises(InvalidContacts, match="line 3"):
        parse_contacts(b"name,email\nAna,ana@example.com\nBo,\n")


def test_the_handler_counts():
    assert import_contacts(b"name,email\nAna,a@example.com\n")["imported"] == 1
