"""``POST /contacts/import``: the upload form's handler."""

from __future__ import annotations

from contacts.importer import parse_contacts


def import_contacts(upload: bytes) -> dict[str, object]:
    contacts = parse_contacts(upload)
    return {"imported": len(contacts), "names": [c["name"] for c in contacts]}
