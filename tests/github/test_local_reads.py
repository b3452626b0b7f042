"""Every read tool against a real git repository, through the in-memory MCP client."""

from pathlib import Path

import pytest
from fastmcp.exceptions import ToolError


async def call(client, name: str, **args):  # type: ignore[no-untyped-def]
    return (await client.call_tool(name, args)).structured_content


async def test_repo_info(client, run_git, repo: Path) -> None:
    info = await call(client, "repo_info")
    assert info == {
        "repo": "shop",
        "default_branch": "main",
        "head_commit": run_git(repo, "rev-parse", "main"),
        "backend": "local",
        "can_push": True,
    }


async def test_read_file_whole_and_at_ref(client, run_git, repo: Path) -> None:
    now = await call(client, "read_file", path="app/cart.py")
    assert "i.price" in now["content"] and now["total_lines"] == 3
    assert now["next_cursor"] is None and now["commit"] == run_git(repo, "rev-parse", "main")
    old = await call(client, "read_file", path="app/cart.py", ref="main~1")
    assert old["content"] == "def total(items):\n    return sum(items)\n"


async def test_read_file_line_range(client) -> None:
    out = await call(client, "read_file", path="long.txt", start_line=10, end_line=12)
    assert out["content"] == "line 10\nline 11\nline 12\n"
    assert (out["start_line"], out["end_line"], out["next_cursor"]) == (10, 12, None)


async def test_large_file_is_paged_never_cut(client) -> None:
    pages, cursor = [], None
    while True:
        args = {"path": "long.txt"} if cursor is None else {"path": "long.txt", "cursor": cursor}
        out = await call(client, "read_file", **args)
        pages.append(out)
        cursor = out["next_cursor"]
        if cursor is None:
            break
    assert len(pages) > 1
    text = "".join(p["content"] for p in pages)
    assert text == "".join(f"line {n}\n" for n in range(1, 1001))
    assert all(p["total_lines"] == 1000 for p in pages)


async def test_cursor_stays_on_the_commit_it_started_from(client, run_git, repo: Path) -> None:
    first = await call(client, "read_file", path="long.txt")
    (repo / "long.txt").write_text("changed\n")
    run_git(repo, "commit", "-qam", "rewrite long")
    second = await call(client, "read_file", path="long.txt", cursor=first["next_cursor"])
    assert second["commit"] == first["commit"]
    assert second["content"].startswith(f"line {first['end_line'] + 1}\n")


async def test_refuses_forged_cursor(client) -> None:
    with pytest.raises(ToolError, match="cursor"):
        await client.call_tool("read_file", {"path": "long.txt", "cursor": "not-a-cursor"})


async def test_bidi_and_invisible_characters_are_shown_as_markers(client) -> None:
    out = await call(client, "read_file", path="hidden.md")
    assert out["content"] == "safe\ufffdtxt.exe\ufffd and \ufffdisolate\ufffd\n"  # U+FFFD marks


async def test_list_directory(client) -> None:
    root = await call(client, "list_directory")
    kinds = {e["path"]: e["type"] for e in root["entries"]}
    assert kinds["app"] == "dir" and kinds["README.md"] == "file" and kinds[".github"] == "dir"
    app = await call(client, "list_directory", path="app")
    assert app["entries"] == [{"path": "app/cart.py", "type": "file", "size": 78}]


async def test_search_code_text_regex_and_glob(client) -> None:
    out = await call(client, "search_code", query="i.price")
    assert [(m["path"], m["line"]) for m in out["matches"]] == [("app/cart.py", 3)]
    assert "# sum the prices" in out["matches"][0]["context"][1]
    rx = await call(client, "search_code", query=r"^line 99[0-9]$", regex=True, limit=3)
    assert len(rx["matches"]) == 3 and rx["truncated"] is True
    glob = await call(client, "search_code", query="def", path_glob="app/**")
    assert {m["path"] for m in glob["matches"]} == {"app/cart.py"}
    none = await call(client, "search_code", query="def", path_glob="*.md")
    assert none == {"matches": [], "truncated": False}


async def test_search_query_beginning_with_dash_is_text_not_an_option(client) -> None:
    out = await call(client, "search_code", query="--no-index")
    assert out["matches"] == []


async def test_list_commits_for_a_path(client) -> None:
    out = await call(client, "list_commits")
    assert [c["message"].splitlines()[0] for c in out["commits"]] == [
        "prices: total uses item price",
        "initial shop",
    ]
    assert out["commits"][0]["author"] == "Ada <ada@example.com>"
    only = await call(client, "list_commits", path="README.md")
    assert [c["message"] for c in only["commits"]] == ["initial shop"]


async def test_blame(client, run_git, repo: Path) -> None:
    out = await call(client, "blame", path="app/cart.py", start_line=1, end_line=3)
    first, second = run_git(repo, "rev-parse", "main~1"), run_git(repo, "rev-parse", "main")
    assert [(b["line"], b["sha"]) for b in out["lines"]] == [
        (1, first),
        (2, second),
        (3, second),
    ]
    assert out["lines"][0]["author"] == "Ada"


async def test_missing_file_and_ref_are_clear_errors(client) -> None:
    with pytest.raises(ToolError, match=r"no file 'nope\.py'"):
        await client.call_tool("read_file", {"path": "nope.py"})
    with pytest.raises(ToolError, match="no branch, tag or commit named 'nope'"):
        await client.call_tool("read_file", {"path": "README.md", "ref": "nope"})
    with pytest.raises(ToolError, match="is a directory"):
        await client.call_tool("read_file", {"path": "app"})


async def test_giant_single_line_is_cut_visibly_not_silently(client, repo: Path, run_git) -> None:
    (repo / "app.min.js").write_text("x" * 200_000 + "\nsecond\n")
    run_git(repo, "add", "app.min.js")
    run_git(repo, "commit", "-qm", "minified")
    first = await call(client, "read_file", path="app.min.js")
    assert first["content"].endswith("… [line 1 cut: 200001 characters]\n")
    assert (first["end_line"], first["total_lines"]) == (1, 2)
    second = await call(client, "read_file", path="app.min.js", cursor=first["next_cursor"])
    assert second["content"] == "second\n" and second["next_cursor"] is None


async def test_subdirectory_bare_clone_and_worktree_serve_the_whole_repository(
    repo: Path, tmp_path: Path, run_git
) -> None:
    from nightfix_github.backends.local import LocalBackend
    from nightfix_github.config import Boundary

    bare = tmp_path / "shop-mirror.git"
    run_git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    run_git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "side")
    for path, name in [(repo / "app", "shop"), (bare, "shop-mirror"), (tmp_path / "wt", "wt")]:
        backend = LocalBackend(path, Boundary())
        try:
            assert backend.name == name
            assert {e.path for e in backend.list_tree(backend.resolve("main"), "")} >= {
                "README.md",
                "app",
            }
            assert backend.git_dir.name in (".git", "shop-mirror.git")
        finally:
            backend.close()
