"""Eval scenarios: ``evals/<name>/scenario.yaml`` and the files beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightfix.errors import NightfixError
from nightfix.evals.security import check_oracle_hidden

BugKind = Literal[
    "off-by-one",
    "pagination",
    "none-handling",
    "time-zones",
    "exception-handling",
    "text-encoding",
    "config-parsing",
    "sql-misuse",
    "money-in-floats",
    "resource-leak",
    "api-contract",
    "connection-pool",
]
TRAJECTORIES = ("reference", "wrong")


class Scenario(BaseModel):
    """One scenario's ``scenario.yaml``; a TypeScript or Go scenario is the same files."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")
    """Directory name under ``evals/``."""
    language: Literal["python", "typescript", "javascript", "go"]
    """Language of the service in ``repo/``."""
    toolchain: str
    """The sandbox toolchain that runs its tests (``python``, ``node``, ``go``)."""
    bug_kind: BugKind
    """The production bug's kind."""
    summary: str
    """One or two sentences: what goes wrong in production."""
    error_type: str
    """Exception type the traffic reports (the error issue's title contains it)."""
    traffic: list[str] = Field(min_length=1)
    """Command, run in the scenario directory with ``SENTRY_DSN`` set and the repository on
    ``SERVICE_DIR`` (and ``PYTHONPATH``); ``python``/``node``/``go`` are this host's."""
    min_events: int = Field(5, ge=1)
    """Events the issue must have before the watch runs (the policy's trigger needs 5)."""

    directory: Path = Field(Path(), exclude=True)

    @property
    def repo(self) -> Path:
        return self.directory / "repo"

    @property
    def oracle(self) -> Path:
        return self.directory / "oracle"

    def trajectory(self, kind: str) -> Path:
        return self.directory / f"{kind}.yaml"

    def oracle_files(self) -> dict[str, str]:
        """The oracle's files: path relative to the repository root -> text."""
        return {
            path.relative_to(self.oracle).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(self.oracle.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        }


def load(directory: Path) -> Scenario:
    """One scenario; raises :class:`NightfixError` naming the file and what is wrong."""
    meta = directory / "scenario.yaml"
    try:
        data = yaml.safe_load(meta.read_text(encoding="utf-8"))
        scenario = Scenario.model_validate({**(data or {}), "directory": directory})
    except OSError as exc:
        raise NightfixError(f"{meta}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise NightfixError(f"{meta}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'top level'}: {e['msg']}" for e in exc.errors()
        )
        raise NightfixError(f"{meta}: invalid scenario: {problems}") from exc
    if scenario.name != directory.name:
        raise NightfixError(f"{meta}: name {scenario.name!r} must be the directory's name")
    missing = [
        str(p)
        for p in (scenario.repo, scenario.oracle, *map(scenario.trajectory, TRAJECTORIES))
        if not p.exists()
    ]
    if missing:
        raise NightfixError(f"scenario {scenario.name}: missing {', '.join(missing)}")
    files = scenario.oracle_files()
    if not files:
        raise NightfixError(f"scenario {scenario.name}: oracle/ holds no files")
    check_oracle_hidden(scenario.repo, scenario.oracle, files)
    return scenario


def load_all(root: Path, only: list[str] | None = None) -> list[Scenario]:
    """Every scenario under ``root`` (sorted by name), or those named in ``only``."""
    if not root.is_dir():
        raise NightfixError(f"no scenarios directory {root}: pass --scenarios DIR")
    found = {p.parent.name: p.parent for p in root.glob("*/scenario.yaml")}
    if only:
        unknown = sorted(set(only) - set(found))
        if unknown:
            raise NightfixError(
                f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(sorted(found))}"
            )
        found = {name: found[name] for name in only}
    if not found:
        raise NightfixError(f"no scenarios in {root} (each is a directory with scenario.yaml)")
    return [load(found[name]) for name in sorted(found)]
