"""CSV import: ``name,email`` per line, a header first."""

from __future__ import annotations

import csv
import io


class InvalidContacts(ValueError):
    """The upload is not a contacts CSV (the message says which line)."""


def parse_contacts(data: bytes) -> list[dict[str, str]]:
    """The contacts in an uploaded CSV file, names stripped and emails lower-cased."""
    text = data.decode("ascii")
    contacts = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        name, email = (row.get("name") or "").strip(), (row.get("email") or "").strip()
        if not name or "@" not in email:
            raise InvalidContacts(f"line {line}: a name and an email are needed")
        contacts.append({"name": name, "email": email.lower()})
    return contacts
