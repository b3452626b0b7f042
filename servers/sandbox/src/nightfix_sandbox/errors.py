"""Domain errors of the sandbox server: each says what was wrong and what to do."""


class SandboxError(Exception):
    """Base class: a request the sandbox server refuses or cannot carry out."""


class ConfigError(SandboxError):
    """The server was configured in a way it does not accept (e.g. a looser limit)."""


class SecurityError(SandboxError):
    """A security check refused the request (path escape, unknown source, unsafe ref)."""


class UnknownSourceError(SecurityError):
    """The caller named a source the server was not started with."""


class SandboxNotFoundError(SandboxError):
    """No live sandbox has this id (never created, destroyed, or reaped after idling)."""


class PatchError(SandboxError):
    """A unified diff did not apply; the message names the failing hunk."""


class ImageError(SandboxError):
    """Building or finding a sandbox image failed."""


class DockerUnavailableError(SandboxError):
    """The Docker daemon cannot be reached."""
