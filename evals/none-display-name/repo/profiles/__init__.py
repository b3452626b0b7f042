"""Customer profiles: what the account page and receipts call a customer."""
