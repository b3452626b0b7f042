"""Pull requests of the local backend: one JSON record per pull request in the git directory.

`<git-dir>/nightfix/pulls/<n>.json`; numbers are allocated under an exclusive `flock`, and each
record is written to a temporary file and renamed into place, so readers never see half a file.
"""

import builtins
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import security
from ..errors import InvalidInputError, NotFoundError
from ..models import Comment, Feedback, Permission, PullRequest

AGENT = "nightfix"
"""The author of the comments the server itself writes (the local forge has no accounts)."""
KINDS = {"comment": "comments", "review": "reviews", "line_comment": "line_comments"}
"""Each kind of feedback and the list of the pull-request record that holds it."""
ID_PREFIX = {"comment": "comment", "review": "review", "line_comment": "line"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PermissionLookup:
    """Who may do what in a local repository: `<git-dir>/nightfix/collaborators.json`.

    Written by `nightfix-github local collaborator add`; a person not listed has `none`.
    """

    def __init__(self, root: Path) -> None:
        self.file = root / "collaborators.json"

    def all(self) -> dict[str, str]:
        if not self.file.is_file():
            return {}
        data = json.loads(self.file.read_text())
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def set(self, name: str, permission: Permission) -> None:
        if not name.strip() or name == AGENT:
            raise InvalidInputError(f"give a person's name (not {AGENT!r}, the agent's own)")
        people = self.all()
        people[name] = permission
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(people, indent=2, sort_keys=True))
        tmp.replace(self.file)

    def __call__(self, name: str) -> Permission:
        if name == AGENT:
            return "none"  # the agent's own comments never count as a reviewer's
        return security.permission_level(self.all().get(name))


class PullStore:
    """The pull-request records of one repository."""

    def __init__(self, root: Path, repo_path: Path, name: str) -> None:
        self.dir = root / "pulls"
        self.lock_path = root / "pulls.lock"
        self.repo_path = repo_path
        self.name = name

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _records(self) -> list[dict[str, Any]]:
        if not self.dir.is_dir():
            return []
        records = []
        for file in self.dir.glob("*.json"):
            if file.stem.isdigit():
                records.append(json.loads(file.read_text()))
        return sorted(records, key=lambda r: int(r["number"]))

    def _load(self, number: int) -> dict[str, Any]:
        file = self.dir / f"{number}.json"
        if not file.is_file():
            raise NotFoundError(f"no pull request #{number}")
        record: dict[str, Any] = json.loads(file.read_text())
        return record

    def _save(self, record: dict[str, Any]) -> None:
        file = self.dir / f"{record['number']}.json"
        tmp = file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
        tmp.replace(file)

    def _model(self, record: dict[str, Any], created: bool = False) -> PullRequest:
        fields = {k: v for k, v in record.items() if k in PullRequest.model_fields}
        url = (self.dir / f"{record['number']}.json").as_uri()
        extra = {"url": url, "created": created, "head_repo": self.name}  # no forks locally
        return PullRequest(**{**fields, **extra})

    def get(self, number: int) -> PullRequest:
        return self._model(self._load(number))

    def record(self, number: int) -> dict[str, Any]:
        """The full record, comments included (for `nightfix-github pulls show`)."""
        return self._load(number)

    def list(self, state: str, head: str | None) -> list[PullRequest]:
        out = []
        for record in self._records():
            if state not in ("all", record["state"]):
                continue
            if head is not None and record["head"] != head:
                continue
            out.append(self._model(record))
        return out

    def open(self, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        with self._locked():
            records = self._records()
            for record in records:
                if record["head"] == head and record["state"] == "open":
                    return self._model(record, created=False)
            number = max((int(r["number"]) for r in records), default=0) + 1
            record = {
                "number": number,
                "title": title,
                "body": body,
                "head": head,
                "base": base,
                "state": "open",
                "draft": draft,
                "created_at": _now(),
                "comments": [],
            }
            self._save(record)
            return self._model(record, created=True)

    def comment(self, number: int, body: str) -> Comment:
        with self._locked():
            record = self._load(number)
            comment: dict[str, Any] = {
                "id": len(record["comments"]) + 1,
                "author": AGENT,
                "body": body,
                "created_at": _now(),
            }
            record["comments"].append(comment)
            self._save(record)
            return Comment(id=comment["id"], body=body, created_at=comment["created_at"])

    def add_feedback(
        self,
        number: int,
        author: str,
        body: str,
        kind: str = "comment",
        state: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> dict[str, Any]:
        """A person's comment, review or line comment (`nightfix-github local comment`)."""
        if not author.strip() or author == AGENT:
            raise InvalidInputError(f"give the author's name (not {AGENT!r}, the agent's own)")
        with self._locked():
            record = self._load(number)
            items = record.setdefault(KINDS[kind], [])
            item: dict[str, Any] = {
                "id": len(items) + 1,
                "author": author,
                "body": body,
                "created_at": _now(),
            }
            if state is not None:
                item["state"] = state
            if path is not None:
                item.update(path=path, line=line)
            items.append(item)
            self._save(record)
            return item

    def feedback(self, number: int, permission_of: PermissionLookup) -> builtins.list[Feedback]:
        """Every comment, review and line comment of pull request `number`, oldest first."""
        record = self._load(number)
        out: builtins.list[Feedback] = []
        for kind, key in KINDS.items():
            for item in record.get(key, []):
                author = str(item.get("author") or AGENT)  # records before authors: the agent's
                out.append(
                    Feedback(
                        id=f"{ID_PREFIX[kind]}-{item['id']}",
                        kind=kind,  # type: ignore[arg-type]
                        state=item.get("state"),
                        author=author,
                        permission=permission_of(author),
                        by_agent=author == AGENT,
                        body=str(item.get("body") or ""),
                        created_at=str(item["created_at"]),
                        path=item.get("path"),
                        line=item.get("line"),
                    )
                )
        return sorted(out, key=lambda f: (f.created_at, f.kind, f.id))

    def mark_merged(self, number: int, commit: str) -> None:
        with self._locked():
            record = self._load(number)
            record["state"] = "merged"
            record["merge_commit"] = commit
            self._save(record)
