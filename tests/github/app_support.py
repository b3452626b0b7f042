"""GitHub App helpers for the tests: real RSA keys, a fake GitHub that signs in Apps, the server
over stdio with its stderr captured."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_github import FakeGitHub
from fake_github_app import FakeApp, Installation
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client

SCRIPT = str(Path(sys.executable).parent / "nightfix-github")
APP_ID = 4242
SHOP_INSTALLATION = 7
OTHER_INSTALLATION = 8


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(key: rsa.RSAPrivateKey, path: Path, mode: int = 0o600) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(mode)
    return path


def key_fragments(path: Path) -> list[str]:
    """Pieces of the key file that must never appear anywhere: every base64 line of it."""
    lines = path.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("-----")]


@contextmanager
def app_github(repo: Path, tmp_path: Path, key: rsa.RSAPrivateKey) -> Iterator[FakeGitHub]:
    """A GitHub Enterprise-like fake (`/api/v3`) where App 4242 is installed on acme/shop
    (installation 7) and, separately, on acme/other (installation 8)."""
    app = FakeApp(
        APP_ID,
        key.public_key(),
        {
            SHOP_INSTALLATION: Installation(SHOP_INSTALLATION, {"acme/shop"}),
            OTHER_INSTALLATION: Installation(OTHER_INSTALLATION, {"acme/other"}),
        },
    )
    with FakeGitHub(repo, tmp_path, app=app, prefix="/api/v3") as fake:
        yield fake


def server_env(**extra: str) -> dict[str, str]:
    env = get_default_environment()
    env.pop("GITHUB_TOKEN", None)
    return {**env, **extra}


def serve_args(fake: FakeGitHub, key_file: Path, *more: str) -> list[str]:
    return [
        "--log-level",
        "debug",
        "serve",
        "--repo",
        "acme/shop",
        "--app-id",
        str(APP_ID),
        "--private-key-file",
        str(key_file),
        "--api-url",
        fake.base_url,
        *more,
    ]


def run_cli(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """The command run to completion (a start-up that fails), stdin closed."""
    return subprocess.run(
        [SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=server_env(**env),
    )


@asynccontextmanager
async def stdio_session(args: list[str], errlog: Path):  # type: ignore[no-untyped-def]
    params = StdioServerParameters(command=SCRIPT, args=args, env=server_env())
    with errlog.open("w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> Any:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content
