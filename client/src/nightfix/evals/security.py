"""The eval's one security rule: the oracle stays hidden from the model.

A scenario's oracle is the measure of a fix; a model that could read it could fit its fix to
the test instead of the bug. The model's sandboxes are made from ``repo/`` only (git archive
of the attempt's repository), so the oracle must live outside ``repo/`` and no copy of it may
be inside. Checked when a scenario is loaded, failing closed.
"""

from __future__ import annotations

from pathlib import Path

from nightfix.errors import NightfixError


class OracleExposed(NightfixError):
    """A scenario would show its oracle to the model."""


def check_oracle_hidden(repo: Path, oracle: Path, oracle_files: dict[str, str]) -> None:
    """Refuse a scenario whose oracle is inside ``repo/``, reachable through a link in it,
    or copied into it (the same path or the same file name, or the same text)."""
    root = repo.resolve()
    if oracle.resolve() == root or oracle.resolve().is_relative_to(root):
        raise OracleExposed(f"{oracle} is inside {repo}: the model's sandbox would hold it")
    names = {Path(p).name for p in oracle_files}
    texts = {t.strip() for t in oracle_files.values()} - {""}
    for path in repo.rglob("*"):
        rel = path.relative_to(repo).as_posix()
        if path.is_symlink():
            raise OracleExposed(f"{repo}/{rel} is a link: a scenario's repo/ holds plain files")
        if not path.is_file():
            continue
        if rel in oracle_files or path.name in names:
            raise OracleExposed(f"{repo}/{rel} has an oracle file's name: keep it in oracle/ only")
        if path.read_text(encoding="utf-8", errors="replace").strip() in texts:
            raise OracleExposed(f"{repo}/{rel} is a copy of an oracle file")
