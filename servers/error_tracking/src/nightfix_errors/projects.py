"""Projects and their DSN keys (written by the CLI and the collector, never by `serve`)."""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from nightfix_errors.errors import InvalidArgumentError, NotFoundError

DEFAULT_PROJECT = "default"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    public_key: str

    def dsn(self, base_url: str) -> str:
        """`http://<key>@host:port/<id>`: what `sentry_sdk.init(dsn=...)` takes."""
        parts = urlsplit(base_url if "://" in base_url else f"http://{base_url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgumentError(f"--url must look like http://HOST:PORT, got {base_url!r}")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        path = parts.path.rstrip("/")
        return f"{parts.scheme}://{self.public_key}@{netloc}{path}/{self.id}"


def create_project(db: sqlite3.Connection, name: str) -> Project:
    """A new project with a fresh random key; refuses an existing or malformed name."""
    if not _NAME_RE.fullmatch(name):
        raise InvalidArgumentError(
            f"project name {name[:80]!r} is not allowed: use 1-64 letters, digits, '.', '_', '-'"
        )
    key = secrets.token_hex(16)
    try:
        cur = db.execute(
            "INSERT INTO projects (name, public_key, created_at) VALUES (?, ?, ?)",
            (name, key, time.time()),
        )
    except sqlite3.IntegrityError:
        raise InvalidArgumentError(
            f"project {name!r} already exists; `nightfix-errors project list` shows its DSN"
        ) from None
    assert cur.lastrowid is not None
    return Project(cur.lastrowid, name, key)


def list_projects(db: sqlite3.Connection) -> list[Project]:
    rows = db.execute("SELECT id, name, public_key FROM projects ORDER BY id").fetchall()
    return [Project(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def get_project(db: sqlite3.Connection, name: str) -> Project:
    row = db.execute("SELECT id, name, public_key FROM projects WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFoundError(f"no project named {name!r}; `nightfix-errors project list` shows them")
    return Project(int(row[0]), str(row[1]), str(row[2]))


def ensure_default_project(db: sqlite3.Connection) -> Project | None:
    """Create the `default` project if the store has none; returns it when created."""
    if db.execute("SELECT 1 FROM projects LIMIT 1").fetchone():
        return None
    return create_project(db, DEFAULT_PROJECT)


def project_keys(db: sqlite3.Connection) -> dict[str, int]:
    """public key -> project id, for the collector's auth check."""
    return {str(k): int(i) for k, i in db.execute("SELECT public_key, id FROM projects")}


def set_path_map(db: sqlite3.Connection, name: str, mappings: list[tuple[str, str]]) -> Project:
    """Replace the project's frame path mapping (see `paths.py`); empty clears it."""
    project = get_project(db, name)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM project_path_maps WHERE project_id = ?", (project.id,))
        db.executemany(
            "INSERT INTO project_path_maps VALUES (?, ?, ?, ?)",
            [(project.id, n, src, dst) for n, (src, dst) in enumerate(mappings)],
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return project


def path_maps(db: sqlite3.Connection) -> dict[int, list[tuple[str, str]]]:
    """project id -> its path mapping, in order (the collector's normalize reads it)."""
    maps: dict[int, list[tuple[str, str]]] = {}
    rows = db.execute(
        "SELECT project_id, source, target FROM project_path_maps ORDER BY project_id, position"
    )
    for project_id, source, target in rows:
        maps.setdefault(int(project_id), []).append((str(source), str(target)))
    return maps
