"""Customers: the account store behind sign-in and support look-ups."""
