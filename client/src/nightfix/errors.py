"""The client's error hierarchy; the CLI turns these into one clear line and an exit code."""


class NightfixError(Exception):
    """Base of every error the client reports to a person."""


class PolicyError(NightfixError):
    """The policy file is unreadable or invalid (the message names the file, line and key)."""
