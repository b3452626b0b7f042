"""The error hierarchy of nightfix-github. Tools turn these into MCP tool errors."""


class RepoError(Exception):
    """Base class of every domain error this server raises on purpose."""


class RefusedError(RepoError):
    """A boundary rule refused the call; `rule` names it (e.g. ``protected_branch``)."""

    def __init__(self, rule: str, detail: str) -> None:
        self.rule = rule
        super().__init__(f"refused by rule {rule}: {detail}")


class NotFoundError(RepoError):
    """The repository, ref, path or pull request does not exist."""


class InvalidInputError(RepoError):
    """The arguments are malformed; the message says what to send instead."""


class ConflictError(RepoError):
    """The repository moved under us (non fast-forward, branch at another commit)."""


class BackendError(RepoError):
    """git or the GitHub API failed in a way the caller cannot fix by changing arguments."""
