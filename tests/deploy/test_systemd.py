"""deploy/systemd/*.service parse as systemd parses them (`systemd-analyze verify`, systemd 252).

The units name /opt/nightfix/bin/…, where deploy/README.md installs nightfix; verify insists
that each ExecStart is executable, so the test points that prefix at this checkout's venv and
changes nothing else. Any warning (an unknown or misspelled key is only a warning to systemd,
which then ignores the key: a hardening option lost without a word) fails the test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy/systemd").glob("*.service"))
PREFIX = "/opt/nightfix/bin/"
HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=on-failure"]
RUNS_AS = {  # unit: (user, environment file)
    "nightfix-collector.service": ("nightfix", "/etc/nightfix/nightfix.env"),
    "nightfix-sandbox.service": ("root", "/etc/nightfix/sandbox.env"),
    "nightfix-watch.service": ("nightfix", "/etc/nightfix/nightfix.env"),
}


def localized(unit: Path, into: Path) -> Path:
    text = unit.read_text().replace(PREFIX, f"{Path(sys.executable).parent}/")
    target = into / unit.name
    target.write_text(text)
    return target


def test_there_is_a_unit_for_the_collector_the_sandbox_server_and_watch() -> None:
    assert [u.name for u in UNITS] == sorted(RUNS_AS)


def test_only_the_sandbox_unit_runs_as_root_and_no_unit_joins_the_docker_group() -> None:
    """The Docker socket is root on the host: it belongs to the sandbox unit alone."""
    for unit in UNITS:
        text = unit.read_text()
        assert "SupplementaryGroups=docker" not in text, unit.name
        assert (unit.name == "nightfix-sandbox.service") == ("User=root" in text), unit.name


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_verifies_without_a_warning(unit: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd (make test does)"
    local = localized(unit, tmp_path)
    proc = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, timeout=120, check=False
    )
    # Lines about the host itself (no systemd as PID 1 in a container) are not about the unit.
    about_unit = [line for line in proc.stderr.splitlines() if local.name in line]
    assert proc.returncode == 0 and not about_unit, proc.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_is_hardened(unit: Path) -> None:
    lines = {line.strip() for line in unit.read_text().splitlines()}
    user, env_file = RUNS_AS[unit.name]
    wanted = [*HARDENING, f"User={user}", f"EnvironmentFile={env_file}"]
    missing = [option for option in wanted if option not in lines]
    assert not missing, f"{unit.name} lacks {missing}"
    rw = [line for line in lines if line.startswith("ReadWritePaths=")]
    assert rw and all(p.startswith("/var/lib/nightfix") for p in rw[0].split("=", 1)[1].split())


def test_a_misspelled_hardening_key_is_caught(tmp_path: Path) -> None:
    """The check above is not blind: systemd's warning for an unknown key fails it."""
    local = localized(UNITS[0], tmp_path)
    local.write_text(local.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(local)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Unknown key 'NoNewPrivilege'" in proc.stderr
