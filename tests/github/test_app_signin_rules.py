"""Sign-in rules: one way to sign in, the App's key kept private, credentials never in clear
text over the network; and the fake GitHub's own JWT and token checks (so the end-to-end tests
prove something)."""

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jwt
import pytest
from app_support import APP_ID, SHOP_INSTALLATION, app_github, new_key, run_cli, write_key
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_github import FakeGitHub
from pydantic import SecretStr

from nightfix_github.auth import AppLogin
from nightfix_github.backends.github import GitHubBackend
from nightfix_github.config import Boundary


def test_token_and_app_together_is_a_usage_error(tmp_path: Path) -> None:
    key_file = write_key(new_key(), tmp_path / "app.pem")
    args = ["serve", "--repo", "acme/shop", "--app-id", "1", "--private-key-file", str(key_file)]
    out = run_cli(args, GITHUB_TOKEN="ghp_x")
    assert out.returncode == 2
    assert "unset GITHUB_TOKEN to sign in as the App" in out.stderr


def test_app_without_its_key_is_a_usage_error() -> None:
    out = run_cli(["serve", "--repo", "acme/shop", "--app-id", "1"])
    assert out.returncode == 2 and "--app-id needs --private-key-file" in out.stderr
    out = run_cli(["serve", "--repo", "acme/shop"])
    assert out.returncode == 2 and "a token in GITHUB_TOKEN, or a GitHub App" in out.stderr


def test_key_that_is_not_a_pem_key_is_a_usage_error(tmp_path: Path) -> None:
    bogus = tmp_path / "app.pem"
    bogus.write_text("-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n")
    bogus.chmod(0o600)
    args = ["serve", "--repo", "acme/shop", "--app-id", "1", "--private-key-file", str(bogus)]
    out = run_cli(args)
    assert out.returncode == 2 and "not an unencrypted PEM RSA private key" in out.stderr
    assert "c2VjcmV0LXNlY3JldA" not in out.stderr


def test_world_readable_private_key_is_refused(tmp_path: Path) -> None:
    key_file = write_key(new_key(), tmp_path / "app.pem", mode=0o644)
    args = ["serve", "--repo", "acme/shop", "--app-id", "1", "--private-key-file", str(key_file)]
    out = run_cli(args)
    assert out.returncode == 1
    assert "refused by rule private_key_file" in out.stderr
    assert f"chmod 600 {key_file}" in out.stderr


def test_group_readable_private_key_is_a_warning(repo: Path, tmp_path: Path) -> None:
    key = new_key()
    key_file = write_key(key, tmp_path / "app.pem", mode=0o640)
    with app_github(repo, tmp_path, key) as fake:
        args = ["serve", "--repo", "acme/shop", "--app-id", str(APP_ID)]
        out = run_cli([*args, "--private-key-file", str(key_file), "--api-url", fake.base_url])
    assert out.returncode == 0, out.stderr  # started, then stdin closed
    assert '"level": "warning"' in out.stderr and "readable by its group" in out.stderr


def test_token_over_plain_http_is_refused() -> None:
    args = ["serve", "--repo", "acme/shop", "--api-url", "http://github.example.com/api/v3"]
    out = run_cli(args, GITHUB_TOKEN="ghp_x")
    assert out.returncode == 1
    assert "refused by rule plaintext_credentials" in out.stderr
    assert "ghp_x" not in out.stderr


# -- the fake GitHub's checks -----------------------------------------------------------------
def send(fake: FakeGitHub, method: str, path: str, authorization: str) -> int:
    request = urllib.request.Request(
        fake.base_url + path, method=method, headers={"Authorization": authorization}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def app_jwt(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iat": now - 60, "exp": now + 300, "iss": str(APP_ID), **claims}
    return "Bearer " + jwt.encode(payload, key, algorithm="RS256")


@pytest.fixture
def fake_app(repo: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    key = new_key()
    with app_github(repo, tmp_path, key) as fake:
        yield fake, key


def test_fake_github_accepts_the_documented_jwt(fake_app) -> None:  # type: ignore[no-untyped-def]
    fake, key = fake_app
    exchange = f"/app/installations/{SHOP_INSTALLATION}/access_tokens"
    assert send(fake, "POST", exchange, app_jwt(key)) == 201


@pytest.mark.parametrize(
    ("claims", "times"),
    [
        ({"iss": "999"}, {}),  # another App
        ({}, {"exp": 3600}),  # more than 10 minutes ahead
        ({}, {"iat": 300}),  # issued in the future
        ({}, {"exp": -120, "iat": -400}),  # expired
    ],
)
def test_jwt_with_bad_claims_is_refused_by_fake_github(fake_app, claims, times) -> None:  # type: ignore[no-untyped-def]
    """``times`` are seconds from the moment the test runs (not from collection: a long
    suite would otherwise age an "issued in the future" claim into the past)."""
    fake, key = fake_app
    now = int(time.time())
    claims = {**claims, **{name: now + offset for name, offset in times.items()}}
    exchange = f"/app/installations/{SHOP_INSTALLATION}/access_tokens"
    assert send(fake, "POST", exchange, app_jwt(key, **claims)) == 401
    assert fake.app.exchanges == []


def test_expired_installation_token_is_refused_by_fake_github(fake_app) -> None:  # type: ignore[no-untyped-def]
    fake, key = fake_app
    exchange = f"/app/installations/{SHOP_INSTALLATION}/access_tokens"
    request = urllib.request.Request(
        fake.base_url + exchange, method="POST", headers={"Authorization": app_jwt(key)}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        token = json.load(response)["token"]
    assert send(fake, "GET", "/repos/acme/shop", f"token {token}") == 200
    fake.app.clock_offset = 3601  # an hour later on GitHub's clock
    assert send(fake, "GET", "/repos/acme/shop", f"token {token}") == 401
    assert send(fake, "GET", "/repos/acme/shop", app_jwt(key)) == 401  # a JWT is no token


@pytest.mark.parametrize("contents", ["write", "read"])
def test_app_without_contents_write_cannot_push(fake_app, contents: str) -> None:  # type: ignore[no-untyped-def]
    fake, key = fake_app
    fake.app.installations[SHOP_INSTALLATION].permissions["contents"] = contents
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    login = AppLogin(app_id=APP_ID, private_key=SecretStr(pem))
    backend = GitHubBackend.connect(
        "acme/shop", Boundary(), login, fake.base_url, seconds_between_requests=0, retry=None
    )
    try:
        assert backend.can_push() is (contents == "write")
    finally:
        backend.close()
    assert not [r for r in fake.requests if r.is_write and "access_tokens" not in r.path]


def test_serve_help_documents_the_app_flags() -> None:
    out = run_cli(["serve", "--help"])
    for flag in ("--app-id", "--private-key-file", "--installation-id", "--api-url"):
        assert flag in out.stdout
    assert "GITHUB_API_URL" in out.stdout and "/api/v3" in out.stdout
