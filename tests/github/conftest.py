"""Fixtures for nightfix-github: real git repositories made in tmp dirs, servers in memory."""

import sys
from pathlib import Path

import pytest
from fastmcp import Client

sys.path.insert(0, str(Path(__file__).parent))  # fake_github*, helpers of this test area

from fake_github import TOKEN, FakeGitHub
from gh_repos import git, make_repo

from nightfix_github.backends.github import GitHubBackend
from nightfix_github.backends.local import LocalBackend
from nightfix_github.config import Boundary
from nightfix_github.server import build_server
from nightfix_github.service import RepoService


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
