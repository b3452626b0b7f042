"""Webhooks: order events delivered to the merchants' endpoints."""
