"""The background worker that talks to the payment provider."""
