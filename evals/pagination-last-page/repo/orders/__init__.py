"""Order history: a customer's orders, newest first, one page at a time."""
