"""Two sandbox servers installing the same lockfile at once (``nightfix eval --parallel 2``
runs a scenario's reference and wrong attempts together, each with its own server): neither
may delete the other's install. Real ``npm ci`` runs, from a fresh cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from node_support import commit_of, repo_files

from nightfix_sandbox.toolchains import node_deps


def test_a_second_install_of_the_same_lockfile_during_the_first_does_not_break_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIGHTFIX_SANDBOX_CACHE", str(tmp_path / "cache"))
    commit = commit_of(repo_files("node-mocha-npm"))
    real_run = node_deps._run
    installs: list[Path | None] = []

    def run_with_another_server_installing(cmd: list[str], what: str, cwd: Path | None = None):  # type: ignore[no-untyped-def]
        installs.append(cwd)
        if (
            len(installs) == 1
        ):  # while the first install starts, a second server does all of its own
            other = node_deps.host_modules(commit)
            assert other is not None and (other / "mocha" / "package.json").exists()
        real_run(cmd, what, cwd=cwd)

    monkeypatch.setattr(node_deps, "_run", run_with_another_server_installing)
    modules = node_deps.host_modules(commit)
    assert len(installs) == 2 and installs[0] != installs[1]  # each in its own directory
    assert modules is not None and (modules / "mocha" / "package.json").exists()
    assert [p.name for p in (tmp_path / "cache" / "node").iterdir() if ".partial" in p.name] == []
