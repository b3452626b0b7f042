"""One HTTP door for every server: the copies agree, and each server's HTTP transport keeps out
whoever does not carry its token.

The errors and github servers run here as real processes on a free port (the sandbox server,
which needs Docker, has its own test: `tests/sandbox/test_http_token.py`).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from http_door import free_port, post_initialize, wait_serving

from nightfix_errors import http_auth as errors_http_auth
from nightfix_github import http_auth as github_http_auth
from nightfix_sandbox import http_auth as sandbox_http_auth

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
COPIES = [
    ROOT / "servers/error_tracking/src/nightfix_errors/http_auth.py",
    ROOT / "servers/github/src/nightfix_github/http_auth.py",
    ROOT / "servers/sandbox/src/nightfix_sandbox/http_auth.py",
]
MODULES = [errors_http_auth, github_http_auth, sandbox_http_auth]
TOKEN = secrets.token_hex(32)


def test_every_server_holds_the_same_http_door() -> None:
    texts = {path: path.read_text() for path in COPIES}
    differing = [p.relative_to(ROOT).as_posix() for p, t in texts.items() if t != texts[COPIES[0]]]
    assert not differing, f"http_auth.py differs from the errors server's copy in: {differing}"
    assert [Path(m.__file__ or "").resolve() for m in MODULES] == [p.resolve() for p in COPIES]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_may_serve_without_a_token(host: str) -> None:
    sandbox_http_auth.check_http_exposure(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "sandbox", "example.org"])
def test_serving_beyond_loopback_without_a_token_is_refused(host: str) -> None:
    with pytest.raises(sandbox_http_auth.HttpAuthError, match="without a token"):
        sandbox_http_auth.check_http_exposure(host, None)


@pytest.mark.parametrize(
    "header",
    [None, "", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", "Bearer", TOKEN],
    ids=["none", "empty", "basic", "prefix", "longer", "no-token", "no-scheme"],
)
def test_request_with_a_wrong_authorization_is_refused(header: str | None) -> None:
    with pytest.raises(sandbox_http_auth.HttpAuthError):
        sandbox_http_auth.check_bearer_token(header, TOKEN)
    sandbox_http_auth.check_bearer_token(f"bearer  {TOKEN}", TOKEN)  # scheme is case-blind


def _argv(server: str, tmp: Path) -> list[str]:
    if server == "errors":
        db = tmp / "errors.db"
        subprocess.run(
            [str(BIN / "nightfix-errors"), "project", "create", "shop", "--db", str(db)],
            check=True,
            capture_output=True,
        )
        return [str(BIN / "nightfix-errors"), "serve", "--db", str(db)]
    repo = tmp / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x", *args],
            check=True,
        )
    return [str(BIN / "nightfix-github"), "serve", "--local", str(repo)]


@pytest.fixture(params=["errors", "github"], scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = free_port()
    argv = _argv(request.param, tmp_path_factory.mktemp(request.param))
    argv += ["--transport", "http", "--port", str(port), "--token-env", "NF_TEST_HTTP_TOKEN"]
    proc = subprocess.Popen(
        argv,
        env={**os.environ, "NF_TEST_HTTP_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_serving(proc, port, request.param)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_server_request_without_its_token_is_refused(served: str) -> None:
    assert post_initialize(served, {})[0] == 401
    assert post_initialize(served, {"authorization": f"Bearer {secrets.token_hex(32)}"})[0] == 401


def test_server_request_with_its_token_is_served(served: str) -> None:
    assert post_initialize(served, {"authorization": f"Bearer {TOKEN}"})[0] == 200


@pytest.mark.parametrize("server", ["errors", "github"])
def test_server_on_a_public_address_without_a_token_is_refused(server: str, tmp_path: Path) -> None:
    argv = _argv(server, tmp_path)
    argv += ["--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()  # (were the check gone, it would be serving)
    assert proc.returncode != 0
    assert "without a token" in out.decode() and "--token-env" in out.decode()
