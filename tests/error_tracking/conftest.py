"""Fixtures for nightfix-errors: a temp store and a real collector subprocess."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import Collector, start_collector, stop_collector


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "errors.db"


@pytest.fixture
def collector(db_path: Path) -> Iterator[Collector]:
    c = start_collector(db_path)
    try:
        yield c
    finally:
        stop_collector(c)
