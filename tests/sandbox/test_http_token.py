"""The HTTP transport's bearer token: a request without it never reaches a tool.

The server runs as `nightfix-sandbox serve --transport http --token-env NAME` (a real process on
a free port); the client is nightfix's own ServerPool with the token in a policy header.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from http_door import free_port, post_initialize, wait_serving

from nightfix.policy import ServerSpec
from nightfix.servers import ServerPool

pytestmark = pytest.mark.docker

BIN = Path(sys.executable).parent / "nightfix-sandbox"
TOKEN = secrets.token_hex(32)


def _serve(repo: Path, image: str, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [str(BIN), "serve", "--transport", "http", "--source", f"calc={repo}"]
    argv += ["--image", image, "--pool-size", "0", *args]
    return subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


@pytest.fixture(scope="module")
def url(calc_repo: Path, sandbox_image: str) -> Iterator[str]:
    port = free_port()
    proc = _serve(
        calc_repo,
        sandbox_image,
        "--port",
        str(port),
        "--token-env",
        "NF_TEST_SANDBOX_TOKEN",
        env={"NF_TEST_SANDBOX_TOKEN": TOKEN},
    )
    try:
        wait_serving(proc, port, "nightfix-sandbox")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_http_request_without_the_token_is_refused(url: str) -> None:
    status, body = post_initialize(url, {})
    assert status == 401
    assert "Authorization: Bearer" in json.loads(body)["detail"]


def test_http_request_with_a_wrong_token_is_refused(url: str) -> None:
    assert post_initialize(url, {"authorization": f"Bearer {secrets.token_hex(32)}"})[0] == 401
    assert post_initialize(url, {"authorization": f"Basic {TOKEN}"})[0] == 401  # the scheme counts
    assert (
        post_initialize(url, {"authorization": f"Bearer {TOKEN[:-1]}"})[0] == 401
    )  # a prefix is not it


def test_request_with_the_token_is_served(url: str) -> None:
    status, _ = post_initialize(url, {"authorization": f"Bearer {TOKEN}"})
    assert status == 200


async def test_client_sends_the_token_from_its_policy_header(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NF_TEST_SANDBOX_TOKEN", TOKEN)
    spec = ServerSpec(url=url, headers={"Authorization": "Bearer ${NF_TEST_SANDBOX_TOKEN}"})
    async with ServerPool({"sandbox": spec}) as pool:
        assert "create_sandbox" in {t.name for t in pool.tools["sandbox"]}


def test_serving_http_beyond_loopback_without_a_token_is_refused(
    calc_repo: Path, sandbox_image: str
) -> None:
    port = str(free_port())
    proc = _serve(calc_repo, sandbox_image, "--host", "0.0.0.0", "--port", port, env={})
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()  # (when the check is gone, it would be serving)
    assert proc.returncode != 0
    assert "without a token" in out.decode() and "--token-env" in out.decode()


def test_short_http_token_is_refused(calc_repo: Path, sandbox_image: str) -> None:
    proc = _serve(calc_repo, sandbox_image, "--token-env", "NF_SHORT", env={"NF_SHORT": "s3cret"})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "at least 32" in out.decode()
