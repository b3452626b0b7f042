"""Racing writes: pull-request numbers and fast-forward commits stay consistent."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastmcp import Client

from nightfix_github.errors import ConflictError
from nightfix_github.models import FileChange
from nightfix_github.server import build_server
from nightfix_github.service import RepoService


def test_racing_open_pull_request_creates_one(service: RepoService) -> None:
    service.create_branch(None, "nightfix/race", "main")
    with ThreadPoolExecutor(8) as pool:
        pulls = list(
            pool.map(
                lambda i: service.open_pull_request(None, "nightfix/race", f"t{i}", "b"), range(8)
            )
        )
    assert {p.number for p in pulls} == {1}
    assert sum(p.created for p in pulls) == 1
    assert len(service.list_pull_requests(None, "all").pull_requests) == 1


def test_racing_commits_are_linear_fast_forwards(service: RepoService, repo: Path, run_git) -> None:
    service.create_branch(None, "nightfix/race", "main")

    def commit(i: int) -> bool:
        try:
            service.commit_files(
                None, "nightfix/race", [FileChange(path=f"f{i}", content=f"{i}")], "m"
            )
            return True
        except ConflictError:
            return False

    with ThreadPoolExecutor(6) as pool:
        won = sum(pool.map(commit, range(6)))
    assert won >= 1
    count = int(run_git(repo, "rev-list", "--count", "main..refs/heads/nightfix/race"))
    assert count == won
    assert run_git(repo, "rev-list", "--merges", "refs/heads/nightfix/race") == ""


async def test_lifespan_stops_the_git_reader(service: RepoService) -> None:
    async with Client(build_server(service)) as c:
        await c.call_tool("read_file", {"path": "README.md"})
        backend = next(iter(service.backends.values()))
        assert backend.cat._proc is not None  # type: ignore[attr-defined]
    assert backend.cat._proc is None  # type: ignore[attr-defined]
