"""Hidden oracle: never in the repository the model sees."""

from contacts.api import import_contacts
from contacts.importer import parse_contacts


def test_accented_names_survive_intact():
    data = "name,email\nZoë Brontë,zoe@example.com\nŁukasz Żak,lz@example.com\n".encode()
    names = [c["name"] for c in parse_contacts(data)]
    assert names == ["Zoë Brontë", "Łukasz Żak"]


def test_an_excel_file_with_a_byte_order_mark():
    data = "\ufeffname,email\nJosé,jose@example.com\n".encode()
    assert parse_contacts(data) == [{"name": "José", "email": "jose@example.com"}]


def test_plain_ascii_still_works():
    assert import_contacts(b"name,email\nAna,a@example.com\n")["names"] == ["Ana"]
