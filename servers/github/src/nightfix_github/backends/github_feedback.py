"""Pull-request feedback on GitHub: reviews, issue comments and review (line) comments, each
with its author's permission on the repository (`get_collaborator_permission`, cached)."""

from datetime import datetime
from itertools import islice
from typing import Any, Literal

from github import Github, GithubException

from .. import security
from ..models import Feedback, Permission

MAX_FEEDBACK = 100
"""Most items of each kind read from one pull request."""
Kind = Literal["review", "comment", "line_comment"]


class FeedbackReader:
    def __init__(self, client: Github, repo: Any, is_app: bool) -> None:
        self.client, self.repo, self.is_app = client, repo, is_app
        self._permissions: dict[str, Permission] = {}
        self._viewer: str | None = None

    def of(self, pr: Any) -> list[Feedback]:
        """Every piece of feedback on `pr`, oldest first. Raises `GithubException`."""
        out = [
            self.item("review", f"review-{r.id}", r.user, r.body, r.submitted_at, r.state)
            for r in islice(pr.get_reviews(), MAX_FEEDBACK)
        ]
        out += [
            self.item("comment", f"comment-{c.id}", c.user, c.body, c.created_at)
            for c in islice(pr.get_issue_comments(), MAX_FEEDBACK)
        ]
        for c in islice(pr.get_review_comments(), MAX_FEEDBACK):
            item = self.item("line_comment", f"line-{c.id}", c.user, c.body, c.created_at)
            out.append(item.model_copy(update={"path": c.path, "line": c.line}))
        return sorted(out, key=lambda f: (f.created_at, f.kind, f.id))

    def item(
        self,
        kind: Kind,
        fid: str,
        user: Any,
        body: str | None,
        when: datetime | None,
        state: str | None = None,
    ) -> Feedback:
        login = str(user.login) if user is not None else ""
        return Feedback(
            id=fid,
            kind=kind,
            state=state,
            author=login,
            permission=self.permission(login),
            by_agent=bool(login) and login == self.viewer(),
            body=body or "",
            created_at=when.isoformat() if when is not None else "",
        )

    def permission(self, login: str) -> Permission:
        """The person's permission on the repository; `none` when unknown or not found."""
        if not login:
            return "none"
        if login not in self._permissions:
            try:
                raw = self.repo.get_collaborator_permission(login)
            except GithubException as exc:
                if exc.status not in (403, 404):
                    raise
                raw = "none"  # not a collaborator, or not visible to these credentials
            self._permissions[login] = security.permission_level(raw)
        return self._permissions[login]

    def viewer(self) -> str | None:
        """The login a token acts as; None for a GitHub App (its bot is told apart by the
        client, which records the ids of the replies it wrote)."""
        if self.is_app:
            return None
        if self._viewer is None:
            try:
                self._viewer = str(self.client.get_user().login)
            except GithubException:
                return None
        return self._viewer
