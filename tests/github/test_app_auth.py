"""GitHub App sign-in end to end: the real server over stdio, PyGithub's own App auth, and a
fake GitHub Enterprise (`/api/v3`) that checks JWTs and installation tokens as GitHub does."""

from pathlib import Path

import pytest
from app_support import (
    APP_ID,
    OTHER_INSTALLATION,
    SHOP_INSTALLATION,
    app_github,
    call,
    key_fragments,
    new_key,
    run_cli,
    serve_args,
    stdio_session,
    write_key,
)

pytestmark = pytest.mark.e2e
CHANGE = [{"path": "app/cart.py", "content": "def total(items):\n    return 0\n"}]


async def test_app_reads_and_writes_through_its_installation(repo: Path, tmp_path: Path) -> None:
    key = new_key()
    key_file = write_key(key, tmp_path / "app.pem")
    with app_github(repo, tmp_path, key) as fake:
        async with stdio_session(serve_args(fake, key_file), tmp_path / "err.log") as s:
            info = await call(s, "repo_info")
            cart = await call(s, "read_file", path="app/cart.py")
            await call(s, "create_branch", name="nightfix/fix-1", from_ref="main")
            commit = await call(
                s, "commit_files", branch="nightfix/fix-1", changes=CHANGE, message="fix"
            )
            pull = await call(
                s, "open_pull_request", branch="nightfix/fix-1", title="Fix", body="b"
            )
        assert info["default_branch"] == "main" and info["can_push"] is True
        assert "i.price" in cart["content"]
        assert fake.rev("refs/heads/nightfix/fix-1") == commit["commit"]
        assert pull["number"] == 1 and pull["head"] == "nightfix/fix-1"
        sent = [(r.method, r.path) for r in fake.requests]
        # the installation was looked up for the repository with the App's JWT, then exchanged
        assert sent[:2] == [
            ("GET", "/repos/acme/shop/installation"),
            ("POST", f"/app/installations/{SHOP_INSTALLATION}/access_tokens"),
        ]
        assert fake.app is not None and fake.app.exchanges == [SHOP_INSTALLATION]
        assert fake.app.refused == []


async def test_installation_token_expiring_mid_session_is_refreshed(
    repo: Path, tmp_path: Path
) -> None:
    key = new_key()
    key_file = write_key(key, tmp_path / "app.pem")
    with app_github(repo, tmp_path, key) as fake:
        assert fake.app is not None
        # 15 s tokens: inside PyGithub's 20 s early-refresh margin from the moment they arrive
        fake.app.token_ttl = 15
        async with stdio_session(serve_args(fake, key_file), tmp_path / "err.log") as s:
            await call(s, "read_file", path="app/cart.py")
            before = len(fake.app.exchanges)
            issued_before = set(fake.app.tokens)
            fake.app.clock_offset = 16  # on the server, every token issued so far has expired
            cart = await call(s, "read_file", path="app/cart.py")
        assert "i.price" in cart["content"]
        assert len(fake.app.exchanges) > before
        assert set(fake.app.tokens) - issued_before  # a new token was issued after expiry
        assert not any("expired" in why for why in fake.app.refused)


def test_jwt_signed_with_another_key_is_refused(repo: Path, tmp_path: Path) -> None:
    wrong_key_file = write_key(new_key(), tmp_path / "not-the-app.pem")
    with app_github(repo, tmp_path, new_key()) as fake:
        out = run_cli(serve_args(fake, wrong_key_file))
        assert fake.app is not None
        assert out.returncode == 1, out.stderr
        assert f"GitHub refused the JWT of App {APP_ID}" in out.stderr
        assert "--private-key-file" in out.stderr
        assert fake.app.refused and "could not be decoded" in fake.app.refused[0]
        assert fake.app.exchanges == []


def test_installation_without_access_to_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    key = new_key()
    key_file = write_key(key, tmp_path / "app.pem")
    with app_github(repo, tmp_path, key) as fake:
        args = serve_args(fake, key_file, "--installation-id", str(OTHER_INSTALLATION))
        out = run_cli(args)
        assert fake.app is not None
        assert out.returncode == 1, out.stderr
        assert "refused by rule installation_mismatch" in out.stderr
        assert f"acme/shop is covered by installation {SHOP_INSTALLATION}" in out.stderr
        assert f"--installation-id {SHOP_INSTALLATION}" in out.stderr
        assert fake.app.exchanges == []  # no token for the wrong installation was asked for


def test_app_not_installed_on_repository_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    key = new_key()
    key_file = write_key(key, tmp_path / "app.pem")
    with app_github(repo, tmp_path, key) as fake:
        args = serve_args(fake, key_file)
        args[args.index("acme/shop")] = "acme/nowhere"
        out = run_cli(args)
        assert out.returncode == 1
        assert f"GitHub App {APP_ID} is not installed on acme/nowhere" in out.stderr
        assert "Install App" in out.stderr


async def test_private_key_never_leaks_into_logs_results_or_errors(
    repo: Path, tmp_path: Path
) -> None:
    key = new_key()
    key_file = write_key(key, tmp_path / "app.pem")
    seen: list[str] = []
    with app_github(repo, tmp_path, key) as fake:
        errlog = tmp_path / "err.log"
        async with stdio_session(serve_args(fake, key_file), errlog) as s:
            seen.append(str(await call(s, "repo_info")))
            refused = await s.call_tool("create_branch", {"name": "main", "from_ref": "main"})
            missing = await s.call_tool("read_file", {"path": "no/such.py"})
            seen += [str(refused.content), str(missing.content)]
        seen.append(errlog.read_text())
        wrong = run_cli(serve_args(fake, key_file, "--installation-id", "8"))
        seen += [wrong.stderr, wrong.stdout]
        assert fake.app is not None
        tokens = list(fake.app.tokens)
    assert refused.is_error and missing.is_error
    assert '"level": "debug"' in seen[3]  # the most talkative log level was on
    text = "\n".join(seen)
    assert "PRIVATE KEY" not in text
    for fragment in key_fragments(key_file):
        assert fragment not in text
    for token in tokens:  # nor the installation tokens the key bought
        assert token not in text
