"""The GitHub App side of the fake GitHub, checked as GitHub documents it.

- `/app/...` endpoints and `GET /repos/{owner}/{repo}/installation` take a JWT
  (`Authorization: Bearer ...`): RS256, signed by the App's key (the fake holds only the public
  key), `iss` = the App id, `iat` not in the future and `exp` in the future but at most 10
  minutes ahead, with 60 s allowed for clock skew.
- `POST /app/installations/{id}/access_tokens` answers `{token, expires_at, permissions}`; the
  token lives `token_ttl` seconds.
- Every repository endpoint takes only a live installation token (`Authorization: token ...`)
  of an installation that covers the repository: an expired or unknown token is 401, a
  repository outside the installation 404 (GitHub does not say it exists).

`clock_offset` moves the fake's clock (not the client's): a test ages tokens on the server.
"""

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from fake_github_routes import HttpError

SKEW = 60
MAX_JWT_LIFETIME = 600
WRITE = {"contents": "write", "pull_requests": "write", "metadata": "read"}


@dataclass
class Installation:
    id: int
    repos: set[str]
    permissions: dict[str, str] = field(default_factory=lambda: dict(WRITE))


@dataclass
class IssuedToken:
    installation: int
    expires: float


@dataclass
class FakeApp:
    app_id: int
    public_key: Any
    installations: dict[int, Installation]
    token_ttl: float = 3600
    clock_offset: float = 0
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    exchanges: list[int] = field(default_factory=list)
    """The installation of each token exchange, in order."""
    refused: list[str] = field(default_factory=list)
    """Why each refused credential was refused, in order."""

    def now(self) -> float:
        return time.time() + self.clock_offset

    def _refuse(self, status: int, why: str) -> HttpError:
        self.refused.append(why)
        return HttpError(status, why)

    def check_jwt(self, authorization: str) -> None:
        """The JWT checks GitHub documents for authenticating as an App."""
        if not authorization.startswith("Bearer "):
            raise self._refuse(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                authorization.removeprefix("Bearer "),
                self.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"], "verify_iat": False},
                leeway=SKEW,
            )
        except jwt.PyJWTError as exc:
            raise self._refuse(401, f"A JSON web token could not be decoded ({exc})") from None
        now = self.now()
        if str(claims["iss"]) != str(self.app_id):
            raise self._refuse(401, "'Issuer' claim ('iss') must be the App's id")
        if claims["iat"] > now + SKEW:
            raise self._refuse(401, "'Issued at' claim ('iat') must be in the past")
        if claims["exp"] > now + MAX_JWT_LIFETIME + SKEW:
            raise self._refuse(401, "'Expiration time' claim ('exp') is too far in the future")

    def check_token(self, authorization: str, repo: str) -> None:
        """A repository request: a live installation token of an installation covering `repo`."""
        issued = self.tokens.get(authorization.removeprefix("token "))
        if not authorization.startswith("token ") or issued is None:
            raise self._refuse(401, "Bad credentials")
        if issued.expires <= self.now():
            raise self._refuse(401, "Bad credentials (installation token expired)")
        if repo not in self.installations[issued.installation].repos:
            raise self._refuse(404, "Not Found")

    def issue(self, installation_id: int) -> dict[str, Any]:
        installation = self.installations.get(installation_id)
        if installation is None:
            raise HttpError(404, "Not Found")
        token = "ghs_" + secrets.token_urlsafe(27)
        expires = self.now() + self.token_ttl
        self.tokens[token] = IssuedToken(installation_id, expires)
        self.exchanges.append(installation_id)
        at = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "token": token,
            "expires_at": at,
            "permissions": installation.permissions,
            "repository_selection": "selected",
        }

    def installation_json(self, installation: Installation, base_url: str) -> dict[str, Any]:
        return {
            "id": installation.id,
            "app_id": self.app_id,
            "target_type": "Organization",
            "permissions": installation.permissions,
            "repository_selection": "selected",
            "access_tokens_url": f"{base_url}/app/installations/{installation.id}/access_tokens",
        }

    def route(
        self, method: str, path: str, authorization: str, base_url: str
    ) -> tuple[int, Any] | None:
        """Answer an App endpoint, or check a repository request's token and return None."""
        found = re.fullmatch(r"/repos/([^/]+/[^/]+)/installation", path)
        if method == "GET" and found:
            self.check_jwt(authorization)
            for installation in self.installations.values():
                if found[1] in installation.repos:
                    return 200, self.installation_json(installation, base_url)
            raise HttpError(404, "Not Found")
        found = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if method == "POST" and found:
            self.check_jwt(authorization)
            return 201, self.issue(int(found[1]))
        if path.startswith("/app"):
            self.check_jwt(authorization)
            raise HttpError(404, f"Not Found (fake has no {method} {path})")
        repo = re.match(r"/repos/([^/]+/[^/]+)", path)
        self.check_token(authorization, repo[1] if repo else "")
        return None
