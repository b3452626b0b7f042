"""The shared untrusted-text vectors through the sandbox server's real tools, in real Docker.

A repository holds a file whose lines carry hidden text and a test that prints it and fails.
What a model reads (`read_file`, `exec` stdout/stderr, `search`, `run_tests` output and
failures) shows each line as `tests/untrusted_text_vectors.py` says; what is applied or
shipped (`write_file` bytes, `export_file`, `diff`) stays exact.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: the shared vectors
from untrusted_text_vectors import CLEAN_TEXT, HIDDEN_CHARS, HIDDEN_PAYLOAD, RAW_TEXT, VECTORS

from nightfix_sandbox.config import Limits, SandboxConfig
from nightfix_sandbox.server import build_server

pytestmark = pytest.mark.docker

TEST_PRINTS_VECTORS = (
    "import sys\n\n\n"
    "def test_prints_hidden_text():\n"
    "    sys.stdout.write(open('vectors.txt', encoding='utf-8', newline='').read())\n"
    "    assert False, 'see the output'\n"
)


async def _call(client: Client, name: str, **args: Any) -> dict[str, Any]:
    return dict((await client.call_tool(name, args)).structured_content)


def _assert_nothing_hidden(result: dict[str, Any]) -> None:
    text = json.dumps(result, ensure_ascii=False)
    leaked = set(text) & HIDDEN_CHARS
    assert not leaked, sorted(f"U+{ord(c):04X}" for c in leaked)


async def test_sandbox_outputs_show_a_model_hidden_text_as_the_vectors_say(
    make_repo: Any, tmp_path: Path, sandbox_image: str
) -> None:
    files = {"tests/test_vectors.py": TEST_PRINTS_VECTORS, "vectors.txt": RAW_TEXT}
    repo = make_repo(tmp_path / "vec", files)
    config = SandboxConfig(
        sources={"vec": str(repo)}, image=sandbox_image, pool_size=0, limits=Limits(memory_mb=512)
    )
    async with Client(build_server(config)) as client:
        box = (await _call(client, "create_sandbox", source="vec"))["sandbox_id"]
        try:
            read = await _call(client, "read_file", sandbox_id=box, path="vectors.txt")
            assert read["content"] == CLEAN_TEXT
            run = await _call(
                client, "exec", sandbox_id=box, command="cat vectors.txt; cat vectors.txt >&2"
            )
            assert (run["stdout"], run["stderr"]) == (CLEAN_TEXT, CLEAN_TEXT)
            found = await _call(client, "search", sandbox_id=box, pattern="VECTOR")
            texts = [m["text"] for m in found["matches"]]
            for name, _, clean in VECTORS:
                if name != "carriage_return":  # a CR ends a line for the line reader
                    assert clean.rstrip() in texts, name
            report = await _call(client, "run_tests", sandbox_id=box)
            assert report["failed"] == 1
            assert CLEAN_TEXT.strip() in report["output_tail"]
            for result in (read, run, found, report):
                _assert_nothing_hidden(result)
                assert HIDDEN_PAYLOAD not in json.dumps(result, ensure_ascii=False)

            # What ships stays exact: the written bytes and the diff carry the raw text.
            await _call(client, "write_file", sandbox_id=box, path="new.txt", content=RAW_TEXT)
            digest = await _call(client, "exec", sandbox_id=box, command="sha256sum new.txt")
            assert digest["stdout"].split()[0] == hashlib.sha256(RAW_TEXT.encode()).hexdigest()
            exported = await _call(client, "export_file", sandbox_id=box, path="new.txt")
            assert base64.b64decode(exported["content_base64"]) == RAW_TEXT.encode()
            assert not exported["truncated"] and exported["size"] == len(RAW_TEXT.encode())
            diff = (await _call(client, "diff", sandbox_id=box))["diff"]
            for _, raw, _ in VECTORS:
                assert f"+{raw}\n" in diff, raw

            # export_file is jailed like read_file: a planted symlink cannot carry it outside.
            await _call(client, "exec", sandbox_id=box, command="ln -s /etc/passwd leak.txt")
            for path in ("leak.txt", "/etc/passwd", "../../etc/passwd"):
                with pytest.raises(ToolError, match=r"outside the workspace|absolute|refused"):
                    await _call(client, "export_file", sandbox_id=box, path=path)
        finally:
            await _call(client, "destroy_sandbox", sandbox_id=box)
