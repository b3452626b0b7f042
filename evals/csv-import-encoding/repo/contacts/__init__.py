"""Contacts: customers import their address books as CSV."""
