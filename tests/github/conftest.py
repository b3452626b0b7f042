"""Fixtures for nightfix-github: real git repositories made in tmp dirs, servers in memory."""

import subprocess
import sys
from pathlib import Path

import pytest
from fastmcp import Client

sys.path.insert(0, str(Path(__file__).parent))  # fake_github*, helpers of this test area

from fake_github import TOKEN, FakeGitHub

from nightfix_github.backends.github import GitHubBackend
from nightfix_github.backends.local import LocalBackend
from nightfix_github.config import Boundary
from nightfix_github.server import build_server
from nightfix_github.service import RepoService

ENV = {
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
}


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=ENV, check=True
    )
    return out.stdout.strip()


def make_repo(root: Path, name: str = "shop") -> Path:
    """A repository with history: app code, a workflow, a long file, hidden characters."""
    repo = root / name
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app").mkdir()
    (repo / "app" / "cart.py").write_text("def total(items):\n    return sum(items)\n")
    (repo / "README.md").write_text("# shop\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial shop")
    (repo / "app" / "cart.py").write_text(
        "def total(items):\n    # sum the prices\n    return sum(i.price for i in items)\n"
    )
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (repo / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 1001)))
    (repo / "hidden.md").write_text("safe\u202etxt.exe\u200b and \u2066isolate\u2069\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "prices: total uses item price\n\nfixes #3")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


@pytest.fixture
def boundary() -> Boundary:
    return Boundary(protected=("release/*",), allow_merge=True)


@pytest.fixture
def service(repo: Path, boundary: Boundary):  # type: ignore[no-untyped-def]
    backend = LocalBackend(repo, boundary)
    yield RepoService({backend.name: backend}, boundary)
    backend.close()


@pytest.fixture
async def client(service: RepoService):  # type: ignore[no-untyped-def]
    async with Client(build_server(service)) as c:
        yield c


@pytest.fixture
def run_git():  # type: ignore[no-untyped-def]
    """`run_git(repo, *args)` -> stdout, with a fixed author and no user configuration."""
    return git


@pytest.fixture
def fake_github(repo: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A local GitHub REST server holding a copy of `repo` as `acme/shop`."""
    with FakeGitHub(repo, tmp_path) as fake:
        yield fake


@pytest.fixture
def gh_backend(fake_github: FakeGitHub, boundary: Boundary) -> GitHubBackend:
    return GitHubBackend.connect(
        "acme/shop",
        boundary,
        TOKEN,
        fake_github.base_url,
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=None,
    )


@pytest.fixture
async def gh_client(gh_backend: GitHubBackend, boundary: Boundary):  # type: ignore[no-untyped-def]
    async with Client(build_server(RepoService({"acme/shop": gh_backend}, boundary))) as c:
        yield c
