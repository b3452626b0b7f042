"""Subscriptions: who has access to the paid features, and until when."""
