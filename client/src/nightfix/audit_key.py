"""The audit chain's secret key: where it is kept, and the checks that refuse an unsafe one.

The key comes from the environment variable named by ``audit.key_env`` (default
``NIGHTFIX_AUDIT_KEY``) when it is set, else from ``audit.key_file`` (default ``audit.key``
beside ``state.db``). A key file is created — 32 random bytes, hex, mode 0600 — only when a
brand-new chain starts; a log that already has lines is never extended or verified with a key
made up on the spot. Each check fails closed with an :class:`AuditKeyError` that says what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nightfix.errors import AuditKeyError

KEY_BYTES = 32
MIN_KEY_CHARS = 32
"""A key shorter than this (e.g. a word typed into an environment variable) is refused."""


def key_id(key: bytes) -> str:
    """A short public name for a key (stored with the anchor) to tell keys apart in errors."""
    return hashlib.sha256(b"nightfix audit key id\0" + key).hexdigest()[:16]


def check_key_strength(text: bytes, where: str) -> bytes:
    """Refuse a key too short to resist guessing: whoever guesses it can re-MAC a forged log."""
    if len(text) < MIN_KEY_CHARS:
        raise AuditKeyError(
            f"audit key in {where} is {len(text)} characters; at least {MIN_KEY_CHARS} are "
            'required (make one: python -c "import secrets; print(secrets.token_hex(32))")'
        )
    return text


def check_key_private(info: os.stat_result, path: Path) -> None:
    """Refuse a key file others can read or write: they could forge a chain that verifies."""
    if not stat.S_ISREG(info.st_mode):
        raise AuditKeyError(f"audit key {path} is not a regular file")
    if info.st_uid != os.getuid():
        raise AuditKeyError(f"audit key {path} belongs to uid {info.st_uid}, not to you")
    if info.st_mode & 0o077:
        raise AuditKeyError(
            f"audit key {path} is accessible to group/others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
        )


def check_key_matches_anchor(key: bytes, anchor: dict[str, Any] | None, where: str) -> None:
    """Refuse to extend or verify a chain with a different key than the one that wrote it."""
    if anchor is not None and anchor["key_id"] != key_id(key):
        raise AuditKeyError(
            f"the audit key from {where} (id {key_id(key)}) is not the key this log was "
            f"written with (id {anchor['key_id']}); restore the original key"
        )


@dataclass(frozen=True)
class KeySource:
    """Where the key is looked for: an environment variable first, then a file."""

    file: Path
    env: str

    @classmethod
    def for_policy(cls, policy: Any) -> KeySource:
        """The policy's ``audit.key_file`` (default: ``audit.key`` beside ``state.db``)."""
        default = Path(policy.state.db).expanduser().parent / "audit.key"
        chosen = Path(policy.audit.key_file).expanduser() if policy.audit.key_file else default
        return cls(chosen, policy.audit.key_env)

    def where(self) -> str:
        return f"${self.env}" if os.environ.get(self.env) else str(self.file)

    def load(self) -> bytes | None:
        """The key, or None when neither the variable nor the file exists."""
        value = os.environ.get(self.env)
        if value:
            return check_key_strength(value.strip().encode(), f"${self.env}")
        try:
            fd = os.open(self.file, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditKeyError(f"cannot read audit key {self.file}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as handle:
            check_key_private(os.fstat(handle.fileno()), self.file)
            return check_key_strength(handle.read().strip(), str(self.file))

    def require(self) -> bytes:
        """The key, or a clear error saying where it is expected."""
        key = self.load()
        if key is None:
            raise AuditKeyError(
                f"no audit key: expected in ${self.env} or in the file {self.file} (policy "
                "audit.key_env / audit.key_file); this log was written with a key — restore it"
            )
        return key

    def create(self) -> bytes:
        """A new random key file (mode 0600), unless one exists (another writer made it first)."""
        if os.environ.get(self.env):
            return self.require()
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(KEY_BYTES).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.file)  # atomic: a reader never sees a half-written key
        finally:
            tmp.unlink()
        return self.require()
