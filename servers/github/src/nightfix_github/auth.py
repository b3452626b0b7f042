"""How nightfix-github signs in to GitHub: a token, or a GitHub App.

A GitHub App signs a short-lived JWT (RS256, with the App's private key) to find its
installation on the repository and to exchange it for an installation token; the installation
token (valid one hour) is what reads and writes. PyGithub's `Auth.AppInstallationAuth` asks
for a new one on the first request less than 20 s before the current one expires, so a long
session never runs on an expired token; nothing here caches a token. The private key lives
in a `SecretStr` and goes only to PyGithub's JWT signer: never into a log, a message or a
tool result.
"""

import logging
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, Github, GithubException, GithubIntegration
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from . import security
from .errors import BackendError, InvalidInputError, NotFoundError, RepoError

log = logging.getLogger("nightfix_github")


class CredentialsError(InvalidInputError):
    """The credentials given do not make one way to sign in (a usage error: exit code 2)."""


class TokenLogin(BaseModel):
    """A personal access token or a fine-grained token (`GITHUB_TOKEN`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    token: SecretStr


class AppLogin(BaseModel):
    """A GitHub App: its id, its private key, and optionally the installation to use."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    app_id: int = Field(ge=1)
    """The App's numeric id (its settings page, "App ID")."""
    private_key: SecretStr
    """The PEM text of the App's private key."""
    installation_id: int | None = Field(default=None, ge=1)
    """The installation on the repository's account; None: asked of GitHub per repository."""


Login = TokenLogin | AppLogin


def choose_login(
    token: str | None, app_id: int | None, key_file: Path | None, installation_id: int | None
) -> Login:
    """Exactly one way to sign in, from `GITHUB_TOKEN` and the App flags, or a usage error."""
    if app_id is None and key_file is None:
        if installation_id is not None:
            raise CredentialsError("--installation-id needs --app-id and --private-key-file")
        if not token:
            raise CredentialsError(
                "--repo needs credentials: a token in GITHUB_TOKEN, or a GitHub App "
                "(--app-id and --private-key-file)"
            )
        return TokenLogin(token=SecretStr(token))
    if token:
        raise CredentialsError(
            "both GITHUB_TOKEN and a GitHub App are given: unset GITHUB_TOKEN to sign in as "
            "the App, or drop --app-id and --private-key-file to use the token"
        )
    if app_id is None:
        raise CredentialsError(
            "--private-key-file needs --app-id (the App ID on the App's settings page)"
        )
    if key_file is None:
        raise CredentialsError(
            "--app-id needs --private-key-file: the .pem file made on the App's settings "
            "page (Private keys, Generate a private key)"
        )
    return AppLogin(
        app_id=app_id, private_key=read_private_key(key_file), installation_id=installation_id
    )


def read_private_key(path: Path) -> SecretStr:
    """The App's key from `path`: a private file holding an unencrypted PEM RSA key."""
    warning = security.check_private_key_file(path)
    if warning:
        log.warning("private_key_file warning=%r", warning)
    data = path.read_bytes()
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None  # the library's message is not shown: it could quote the file
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsError(
            f"{str(path)!r} is not an unencrypted PEM RSA private key: give the .pem file "
            "GitHub generated for the App"
        )
    return SecretStr(data.decode("ascii", errors="replace"))


def github_for(
    name: str, login: Login, base_url: str, **options: Any
) -> tuple[Github, dict[str, str] | None]:
    """The PyGithub client for repository `name`; for an App also its installation's permissions.

    `options` go to PyGithub (tests pass `seconds_between_requests=0`, ...).
    """
    base_url = security.check_api_url(base_url)
    if isinstance(login, TokenLogin):
        auth = Auth.Token(login.token.get_secret_value())
        return Github(auth=auth, base_url=base_url, **options), None
    app = Auth.AppAuth(login.app_id, login.private_key.get_secret_value())
    integration = GithubIntegration(auth=app, base_url=base_url, **options)
    owner, repo = name.split("/", 1)
    try:
        installation = integration.get_repo_installation(owner, repo)
    except GithubException as exc:
        raise _app_failure(exc, login.app_id, name) from None
    found = security.check_installation_covers(name, login.installation_id, installation.id)
    log.info("github_app app_id=%s repo=%s installation=%s", login.app_id, name, found)
    permissions = {str(k): str(v) for k, v in (installation.permissions or {}).items()}
    return integration.get_github_for_installation(found), permissions


def _app_failure(exc: GithubException, app_id: int, name: str) -> RepoError:
    message = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
    if exc.status == 401:
        return BackendError(
            f"GitHub refused the JWT of App {app_id} ({exc.status}: {message}): check --app-id "
            "and that --private-key-file is this App's current key (and the machine's clock)"
        )
    if exc.status == 404:
        return NotFoundError(
            f"GitHub App {app_id} is not installed on {name}: install it there (the App's "
            "page, Install App, choose the repository), or check --repo and --app-id"
        )
    return BackendError(f"looking up App {app_id} on {name}: GitHub answered {exc.status}")
