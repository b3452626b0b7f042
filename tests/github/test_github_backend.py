"""The `--repo` backend: PyGithub, unchanged, against a local server speaking GitHub's REST API.

Same tools and same refusals as the local backend; a refused call sends no write request.
"""

from pathlib import Path

import pytest
from fake_github import TOKEN, FakeGitHub
from fastmcp.exceptions import ToolError

from nightfix_github.backends.github import GitHubBackend
from nightfix_github.config import Boundary


async def call(client, tool: str, **args):  # type: ignore[no-untyped-def]
    return (await client.call_tool(tool, args)).structured_content


def sent(fake: FakeGitHub, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests[since:]]


async def test_reads_through_pygithub(gh_client, fake_github: FakeGitHub) -> None:
    main = fake_github.rev("refs/heads/main")
    info = await call(gh_client, "repo_info")
    assert info == {
        "repo": "acme/shop",
        "default_branch": "main",
        "head_commit": main,
        "backend": "github",
        "can_push": True,
    }
    cart = await call(gh_client, "read_file", path="app/cart.py", ref="main~1")
    assert cart["content"] == "def total(items):\n    return sum(items)\n"
    hidden = await call(gh_client, "read_file", path="hidden.md")
    assert hidden["content"] == "safe\ufffdtxt.exe\ufffd and \ufffdisolate\ufffd\n"  # U+FFFD marks
    listing = await call(gh_client, "list_directory", path="app")
    assert listing["entries"] == [{"path": "app/cart.py", "type": "file", "size": 78}]
    found = await call(gh_client, "search_code", query="i.price", path_glob="app/**")
    assert [(m["path"], m["line"]) for m in found["matches"]] == [("app/cart.py", 3)]
    commits = await call(gh_client, "list_commits", path="README.md")
    assert [c["message"] for c in commits["commits"]] == ["initial shop"]
    assert ("GET", "/repos/acme/shop/contents/app/cart.py") in sent(fake_github)


async def test_large_file_paged_over_github(gh_client) -> None:
    first = await call(gh_client, "read_file", path="long.txt")
    rest = await call(gh_client, "read_file", path="long.txt", cursor=first["next_cursor"])
    assert first["next_cursor"] and rest["start_line"] == first["end_line"] + 1


async def test_blame_says_it_is_not_available(gh_client) -> None:
    with pytest.raises(ToolError, match="blame is not available on the GitHub backend"):
        await gh_client.call_tool("blame", {"path": "README.md", "start_line": 1, "end_line": 1})


async def test_two_file_commit_and_pull_request_exact_requests(
    gh_client, fake_github: FakeGitHub
) -> None:
    main = fake_github.rev("refs/heads/main")
    start = len(fake_github.requests)
    await call(gh_client, "create_branch", name="nightfix/fix-1", from_ref="main")
    commit = await call(
        gh_client,
        "commit_files",
        branch="nightfix/fix-1",
        message="fix: cart total",
        changes=[
            {"path": "app/cart.py", "content": "def total(items):\n    return 0\n"},
            {"path": "README.md", "content": None},
        ],
    )
    pr = await call(
        gh_client, "open_pull_request", branch="nightfix/fix-1", title="Fix cart", body="Why."
    )
    api = "/repos/acme/shop"
    ref = f"{api}/git/ref/heads/nightfix/fix-1"
    tree = fake_github.rev(f"{main}^{{tree}}")
    assert sent(fake_github, start) == [
        ("GET", f"{api}/commits/main"),  # resolve from_ref
        ("GET", ref),  # does the branch exist? (404)
        ("POST", f"{api}/git/refs"),
        ("GET", ref),  # commit_files: the branch head (parent)
        ("GET", f"{api}/git/commits/{main}"),  # its tree, for base_tree
        ("GET", f"{api}/git/trees/{tree}"),  # modes, and no delete of a missing file
        ("POST", f"{api}/git/blobs"),  # one blob: the deletion needs none
        ("POST", f"{api}/git/trees"),
        ("POST", f"{api}/git/commits"),
        ("GET", ref),  # fast-forward check
        ("PATCH", f"{api}/git/refs/heads/nightfix/fix-1"),
        ("GET", ref),  # open_pull_request: the branch exists
        ("GET", f"{api}/pulls"),  # an open pull request for it already?
        ("POST", f"{api}/pulls"),
    ]
    writes = [r.body for r in fake_github.writes]
    blob_sha = fake_github.git("hash-object", "--stdin", input=b"def total(items):\n    return 0\n")
    assert writes == [
        {"ref": "refs/heads/nightfix/fix-1", "sha": main},
        {"content": "def total(items):\n    return 0\n", "encoding": "utf-8"},
        {
            "base_tree": tree,
            "tree": [
                {"path": "app/cart.py", "mode": "100644", "type": "blob", "sha": blob_sha.strip()},
                {"path": "README.md", "mode": "100644", "type": "blob", "sha": None},
            ],
        },
        {"message": "fix: cart total", "tree": writes[3]["tree"], "parents": [main]},
        {"sha": commit["commit"], "force": False},
        {
            "base": "main",
            "head": "nightfix/fix-1",
            "title": "Fix cart",
            "body": "Why.",
            "draft": False,
        },
    ]
    head = fake_github.rev("refs/heads/nightfix/fix-1")
    assert commit == {
        "branch": "nightfix/fix-1",
        "commit": head,
        "parent": main,
        "tree": fake_github.rev(f"{head}^{{tree}}"),
        "files": ["app/cart.py", "README.md"],
        "created": True,
    }
    assert fake_github.git("show", f"{head}:app/cart.py") == "def total(items):\n    return 0\n"
    assert "README.md" not in fake_github.git("ls-tree", "--name-only", head)
    assert pr["number"] == 1 and pr["created"] is True and pr["head"] == "nightfix/fix-1"
    assert pr["url"].startswith(fake_github.base_url)
    assert fake_github.rev("refs/heads/main") == main


async def test_idempotent_retries_send_no_second_write(gh_client, fake_github: FakeGitHub) -> None:
    again = []
    for _ in range(2):
        again.append(await call(gh_client, "create_branch", name="nightfix/x", from_ref="main"))
    assert [b["created"] for b in again] == [True, False]
    prs = [
        await call(gh_client, "open_pull_request", branch="nightfix/x", title="t", body="b")
        for _ in range(2)
    ]
    assert [p["created"] for p in prs] == [True, False] and prs[0]["number"] == prs[1]["number"]
    assert [(r.method, r.path) for r in fake_github.writes] == [
        ("POST", "/repos/acme/shop/git/refs"),
        ("POST", "/repos/acme/shop/pulls"),
    ]
    listed = await call(gh_client, "list_pull_requests", head="nightfix/x")
    assert [p["number"] for p in listed["pull_requests"]] == [1]
    got = await call(gh_client, "get_pull_request", number=1)
    assert got["title"] == "t" and got["state"] == "open"
    comment = await call(gh_client, "comment_on_pull_request", number=1, body="tests pass")
    assert comment["body"] == "tests pass"


async def test_merge_own_pull_request(gh_client, fake_github: FakeGitHub) -> None:
    await call(gh_client, "create_branch", name="nightfix/x", from_ref="main")
    await call(
        gh_client,
        "commit_files",
        branch="nightfix/x",
        message="m",
        changes=[{"path": "new.txt", "content": "new\n"}],
    )
    await call(gh_client, "open_pull_request", branch="nightfix/x", title="t", body="b")
    merged = await call(gh_client, "merge_pull_request", number=1)
    assert merged["merged"] is True and merged["commit"] == fake_github.rev("refs/heads/main")
    assert (await call(gh_client, "get_pull_request", number=1))["state"] == "merged"


REFUSALS = [
    ("protected_branch", "create_branch", {"name": "main", "from_ref": "main"}),
    ("protected_branch", "create_branch", {"name": "refs/heads/main", "from_ref": "main"}),
    (
        "protected_branch",
        "commit_files",
        {"branch": "refs/heads/main", "message": "m", "changes": [{"path": "a", "content": "a"}]},
    ),
    ("protected_branch", "open_pull_request", {"branch": "main", "title": "t", "body": "b"}),
    ("protected_branch", "create_branch", {"name": "release/1.0", "from_ref": "main"}),
    ("branch_prefix", "create_branch", {"name": "feature/x", "from_ref": "main"}),
    ("option_injection", "create_branch", {"name": "-f", "from_ref": "main"}),
    ("option_injection", "create_branch", {"name": "nightfix/x", "from_ref": "--all"}),
    (
        "unsafe_path",
        "commit_files",
        {"branch": "nightfix/x", "message": "m", "changes": [{"path": "../x", "content": "a"}]},
    ),
    (
        "forbidden_path",
        "commit_files",
        {
            "branch": "nightfix/x",
            "message": "m",
            "changes": [{"path": ".github/workflows/ci.yml", "content": "steal: secrets"}],
        },
    ),
    (
        "git_dir",
        "commit_files",
        {
            "branch": "nightfix/x",
            "message": "m",
            "changes": [{"path": ".git/config", "content": "a"}],
        },
    ),
    (
        "repo_not_served",
        "create_branch",
        {"name": "nightfix/x", "from_ref": "main", "repo": "acme/other"},
    ),
]


@pytest.mark.parametrize(("rule", "tool", "args"), REFUSALS)
async def test_refuses_before_any_write_request(
    gh_client, fake_github: FakeGitHub, rule: str, tool: str, args: dict
) -> None:
    main = fake_github.rev("refs/heads/main")
    with pytest.raises(ToolError, match=f"refused by rule {rule}:"):
        await gh_client.call_tool(tool, args)
    assert fake_github.writes == []
    assert fake_github.rev("refs/heads/main") == main


async def test_refuses_workflow_write_on_existing_branch_sends_nothing(
    gh_client, fake_github: FakeGitHub
) -> None:
    await call(gh_client, "create_branch", name="nightfix/x", from_ref="main")
    before = len(fake_github.writes)
    with pytest.raises(ToolError, match="refused by rule forbidden_path"):
        await gh_client.call_tool(
            "commit_files",
            {
                "branch": "nightfix/x",
                "message": "m",
                "changes": [
                    {"path": "ok.txt", "content": "ok"},
                    {"path": ".GitHub/workflows/x.yml", "content": "x"},
                ],
            },
        )
    assert len(fake_github.writes) == before


async def test_commit_keeps_executable_bit_and_refuses_missing_delete_before_writing(
    gh_client, fake_github: FakeGitHub
) -> None:
    await call(gh_client, "create_branch", name="nightfix/x", from_ref="main")
    before = len(fake_github.writes)
    with pytest.raises(ToolError, match="does not exist on the branch"):
        await gh_client.call_tool(
            "commit_files",
            {
                "branch": "nightfix/x",
                "message": "m",
                "changes": [
                    {"path": "ok.txt", "content": "ok"},
                    {"path": "nope.txt", "content": None},
                ],
            },
        )
    assert len(fake_github.writes) == before
    out = await call(
        gh_client,
        "commit_files",
        branch="nightfix/x",
        message="m",
        changes=[{"path": "run.sh", "content": "#!/bin/sh\necho fixed\n"}],
    )
    assert fake_github.git("ls-tree", out["commit"], "run.sh").startswith("100755")


@pytest.mark.parametrize(
    ("scopes", "private", "may_push"),
    [
        (None, True, True),  # fine-grained or App token: no scopes header, the role decides
        ("repo, read:org", True, True),
        ("read:org, gist", True, False),  # a classic token without `repo`
        ("", True, False),  # a classic token with no scope at all
        ("public_repo", True, False),  # public_repo does not reach a private repository
        ("public_repo", False, True),
    ],
)
def test_classic_token_without_the_repo_scope_is_not_reported_as_able_to_push(
    repo: Path,
    tmp_path: Path,
    boundary: Boundary,
    scopes: str | None,
    private: bool,
    may_push: bool,
) -> None:
    """`permissions.push` is the user's role; doctor must not say a token may push when its
    scopes do not let it (the push would fail at 3 AM instead)."""
    with FakeGitHub(repo, tmp_path, oauth_scopes=scopes, private=private) as fake:
        backend = GitHubBackend.connect(
            "acme/shop", boundary, TOKEN, fake.base_url, seconds_between_requests=0, retry=None
        )
        assert backend.can_push() is may_push
