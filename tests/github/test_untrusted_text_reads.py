"""The shared untrusted-text vectors through the github server's real read tools.

A file whose lines carry hidden text is committed to a real git repository; `read_file` and
`search_code` show a model each line as `tests/untrusted_text_vectors.py` says, and the text
hidden by a terminal escape (a window title) never reaches it.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: the shared vectors
from untrusted_text_vectors import CLEAN_TEXT, HIDDEN_PAYLOAD, RAW_TEXT, VECTORS


def _commit_vectors(repo: Path, run_git) -> None:  # type: ignore[no-untyped-def]
    (repo / "vectors.txt").write_bytes(RAW_TEXT.encode())
    run_git(repo, "add", "vectors.txt")
    run_git(repo, "commit", "-qm", "vectors")


async def test_read_file_shows_a_model_hidden_text_as_the_vectors_say(
    client, repo: Path, run_git
) -> None:  # type: ignore[no-untyped-def]
    _commit_vectors(repo, run_git)
    out = (await client.call_tool("read_file", {"path": "vectors.txt"})).structured_content
    assert out["content"] == CLEAN_TEXT
    assert HIDDEN_PAYLOAD not in out["content"] and "\x1b" not in out["content"]


async def test_search_code_shows_a_model_hidden_text_as_the_vectors_say(
    client, repo: Path, run_git
) -> None:  # type: ignore[no-untyped-def]
    _commit_vectors(repo, run_git)
    out = (
        await client.call_tool("search_code", {"query": "VECTOR", "path_glob": "vectors.txt"})
    ).structured_content
    lines = [m["text"] for m in out["matches"]]
    assert lines == [clean for _, _, clean in VECTORS]
    seen = str(out)
    assert HIDDEN_PAYLOAD not in seen and "\\x1b" not in seen
