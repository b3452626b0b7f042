"""``nightfix doctor`` against a demo-like deployment (real servers over stdio, real Docker, a
fake GitHub for the token case): it passes when everything is in place, and each broken part
is one FAIL line that names it and says what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests" / "github"))

import demo_env  # noqa: E402
from fake_github import TOKEN, FakeGitHub  # noqa: E402
from gh_repos import make_repo as make_small_repo  # noqa: E402

from nightfix.doctor import Check, diagnose  # noqa: E402

pytestmark = pytest.mark.e2e
NIGHTFIX = demo_env.tool("nightfix")


def demo_policy(tmp: Path, **overrides: Any) -> Path:
    """The demo's phase-3 policy over a fresh repository and an (empty) errors store."""
    repo = demo_env.make_repo(tmp / "checkout-service")
    db = tmp / "errors.db"
    subprocess.run(
        [demo_env.tool("nightfix-errors"), "project", "create", "--db", str(db), "checkout"],
        check=True,
        capture_output=True,
    )
    return demo_env.write_policy(tmp / "nf", repo, db, 3, overrides=overrides)


def doctor(policy: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NIGHTFIX, "doctor", "--policy", str(policy), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def failed(checks: list[Check]) -> list[str]:
    return [check.name for check in checks if check.status == "FAIL"]


def test_doctor_passes_on_a_demo_setup(tmp_path: Path) -> None:
    out = doctor(demo_policy(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    lines = out.stdout.splitlines()
    for name in ("policy", "kill_switch", "server errors", "server github", "repository"):
        assert any(line.startswith("ok") and f" {name} " in line for line in lines), name
    for name in ("server sandbox", "docker", "sandbox image", "errors backend"):
        assert any(line.startswith("ok") and f" {name}" in line for line in lines), name
    assert "may push agent branches" in out.stdout
    assert lines[-1] == "all checks passed"


def test_doctor_names_a_broken_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nbudgets:\n  max_stepz: 3\n")
    out = doctor(policy, "--json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["ok"] is False
    [check] = report["checks"]
    assert check["name"] == "policy" and check["status"] == "FAIL"
    assert "line 3: budgets.max_stepz: unknown key" in check["detail"]
    assert "nightfix policy check" in check["fix"]


async def test_doctor_names_a_server_command_that_does_not_exist(tmp_path: Path) -> None:
    policy = demo_policy(
        tmp_path, servers={"github": {"command": [str(tmp_path / "no-such-nightfix-github")]}}
    )
    checks = by_name(await diagnose(policy))
    github = checks["server github"]
    assert github.status == "FAIL" and "could not start" in github.detail
    assert github.fix is not None and "servers.github" in github.fix
    assert "repository" not in checks  # nothing to ask a server that is not there
    assert checks["server errors"].status == "ok" and checks["server sandbox"].status == "ok"


async def test_doctor_names_a_missing_sandbox_image(tmp_path: Path) -> None:
    missing = "nightfix-sandbox:doctor-test-no-such-image"
    policy = demo_policy(tmp_path)
    data = yaml.safe_load(policy.read_text())
    data["servers"]["sandbox"]["command"] += ["--image", missing]
    policy.write_text(yaml.safe_dump(data))
    checks = await diagnose(policy)
    # the sandbox server itself refuses to start without its image, and says so
    assert failed(checks) == ["server sandbox", "sandbox image"]
    assert f"image {missing} not found" in by_name(checks)["server sandbox"].detail
    image = by_name(checks)["sandbox image"]
    assert f"the sandbox image {missing} does not exist" in image.detail
    assert (
        image.fix is not None
        and f"nightfix-sandbox image build --offline --name {missing}" in image.fix
    )


async def test_doctor_fails_while_the_kill_switch_is_on(tmp_path: Path) -> None:
    policy = demo_policy(tmp_path)
    stop = tmp_path / "nf" / "STOP"
    stop.touch()
    checks = await diagnose(policy)
    assert failed(checks) == ["kill_switch"]
    switch = by_name(checks)["kill_switch"]
    assert switch.detail == f"on: {stop} exists" and f"rm {stop}" in (switch.fix or "")
    stop.unlink()
    os.environ["NIGHTFIX_DEMO_KILL"] = "1"
    try:
        switch = by_name(await diagnose(policy))["kill_switch"]
    finally:
        del os.environ["NIGHTFIX_DEMO_KILL"]
    assert switch.status == "FAIL" and "unset NIGHTFIX_DEMO_KILL" in (switch.fix or "")


@pytest.mark.parametrize("push", [True, False])
async def test_doctor_names_a_github_token_without_push_permission(
    tmp_path: Path, push: bool
) -> None:
    small = make_small_repo(tmp_path)
    with FakeGitHub(small, tmp_path, push=push) as fake:
        policy = tmp_path / "policy.yaml"
        github = [demo_env.tool("nightfix-github"), "serve", "--repo", "acme/shop"]
        spec = {"command": [*github, "--api-url", fake.base_url], "env": {"GITHUB_TOKEN": TOKEN}}
        policy.write_text(
            yaml.safe_dump(
                {
                    "servers": {"github": spec},
                    "tools": {"allow": ["github.read_file", "github.repo_info"]},
                    "kill_switch": {"file": str(tmp_path / "STOP")},
                }
            )
        )
        checks = await diagnose(policy)
        assert not [r for r in fake.requests if r.is_write]  # checked without writing
    repository = by_name(checks)["repository"]
    if push:
        assert failed(checks) == []
        assert repository.detail.endswith("may push agent branches")
        return
    assert failed(checks) == ["repository"]
    assert "acme/shop readable" in repository.detail
    assert "may not push an agent branch" in repository.detail
    assert repository.fix is not None and "Contents" in repository.fix


async def test_doctor_names_an_allowed_tool_the_server_does_not_offer(tmp_path: Path) -> None:
    repo = make_small_repo(tmp_path)
    policy = tmp_path / "policy.yaml"
    github = [demo_env.tool("nightfix-github"), "serve", "--local", str(repo), "--read-only"]
    policy.write_text(
        yaml.safe_dump(
            {
                "servers": {"github": {"command": github}},
                "tools": {"allow": ["github.read_file", "github.create_branch", "github.x*"]},
                "kill_switch": {"file": str(tmp_path / "STOP")},
            }
        )
    )
    checks = await diagnose(policy)
    server = by_name(checks)["server github"]
    assert server.status == "FAIL"
    assert "does not offer github.create_branch, github.x*" in server.detail
    assert "--read-only" in (server.fix or "")
    # read-only: the repository reads, but the server will not let the agent push
    assert by_name(checks)["repository"].status == "FAIL"


def test_runtime_not_registered_with_docker_is_named() -> None:
    from nightfix.doctor_docker import runtime_check

    check = runtime_check("runsc", {"runc"}, "unix:///var/run/docker.sock")
    assert check.status == "FAIL"
    assert "runtime runsc is not registered (it has: runc)" in check.detail
    assert "--runtime runc" in (check.fix or "")
    assert runtime_check("auto", {"runc"}, "x").detail.endswith("uses runc")
    assert runtime_check("runc", {"runc", "runsc"}, "x").status == "ok"


@pytest.mark.parametrize("contents", ["write", "read"])
async def test_doctor_checks_a_github_app_installation(tmp_path: Path, contents: str) -> None:
    from app_support import APP_ID, SHOP_INSTALLATION, app_github, new_key, write_key

    small = make_small_repo(tmp_path)
    key = new_key()
    key_file = write_key(key, tmp_path / "app.pem")
    with app_github(small, tmp_path, key) as fake:
        assert fake.app is not None
        fake.app.installations[SHOP_INSTALLATION].permissions["contents"] = contents
        github = [demo_env.tool("nightfix-github"), "serve", "--repo", "acme/shop"]
        github += ["--app-id", str(APP_ID), "--private-key-file", str(key_file)]
        policy = tmp_path / "policy.yaml"
        policy.write_text(
            yaml.safe_dump(
                {
                    "servers": {"github": {"command": [*github, "--api-url", fake.base_url]}},
                    "tools": {"allow": ["github.read_file"]},
                    "kill_switch": {"file": str(tmp_path / "STOP")},
                }
            )
        )
        checks = await diagnose(policy)
        assert not [r for r in fake.requests if r.is_write and "access_tokens" not in r.path]
    repository = by_name(checks)["repository"]
    assert by_name(checks)["server github"].status == "ok"
    assert repository.status == ("ok" if contents == "write" else "FAIL")
