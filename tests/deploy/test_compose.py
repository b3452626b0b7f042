"""deploy/compose.yaml built and started with docker-compose 1.29, checked by `nightfix doctor`.

The image is built by scripts/build-image.sh (offline, as `make image` does); the stand-in
world is a local git repository (the `local` forge backend) mounted by tests/deploy/override.yaml,
the collector service as the errors backend, and a sandbox image built for this test. Doctor
runs inside the watch container, as an operator would run it (`docker-compose exec`). Then one
part at a time is broken and doctor must fail naming that part and what to do. A real sandbox
is created, used and destroyed through the sandbox service, as watch would.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "nfdep"
IMAGE = "nf-dep-nightfix:test"
SANDBOX_IMAGE = "nf-dep-sandbox:test"
IMAGE_UID = 10001  # the image's nightfix user (deploy/Dockerfile)

POLICY = """\
version: 1
trust_phase: 1
servers:
  errors:
    command: [nightfix-errors, serve, --db, /var/lib/nightfix-errors/errors.db]
  github:
    command: [nightfix-github, serve, --local, /srv/repo, --branch-prefix, nightfix/]
  sandbox:
    url: http://sandbox:8765/mcp
    headers: {Authorization: "Bearer ${NIGHTFIX_SANDBOX_TOKEN}"}
repository:
  sandbox_source: app
tools:
  allow: [errors.list_issues, github.repo_info, github.read_file, sandbox.exec]
trigger:
  collector_url: http://collector:9000
  listen: 0.0.0.0:8787
kill_switch:
  file: /var/lib/nightfix/STOP
"""

SECRET = "compose-test-webhook-secret"
SANDBOX_TOKEN = secrets.token_hex(32)
WATCH_ENV = f"""\
# stand-in values for the compose test: no real secret
ANTHROPIC_API_KEY=not-used-by-this-test
NIGHTFIX_WEBHOOK_SECRET={SECRET}
NIGHTFIX_SANDBOX_TOKEN={SANDBOX_TOKEN}
"""

# Run inside the watch container: what a run does with a sandbox, through the sandbox service.
SANDBOX_PROBE = """
import asyncio
import os
from fastmcp import Client

async def main():
    token = os.environ["NIGHTFIX_SANDBOX_TOKEN"]
    async with Client("http://sandbox:8765/mcp", auth=token) as client:
        made = (await client.call_tool("create_sandbox", {"source": "app"})).structured_content
        sid = made["sandbox_id"]
        ran = await client.call_tool(
            "exec", {"sandbox_id": sid, "command": "python3 app.py; id -u"}
        )
        await client.call_tool("destroy_sandbox", {"sandbox_id": sid})
        print(ran.structured_content["exit_code"], *ran.structured_content["stdout"].split())

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, check=False)


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"{proc.args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def make_repo(path: Path) -> None:
    path.mkdir()
    (path / "app.py").write_text("print(6 * 7)\n")
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    ok(run([*git, "init", "-q", "-b", "main"]))
    ok(run([*git, "add", "."]))
    ok(run([*git, "commit", "-q", "-m", "initial"]))
    ok(run(["chown", "-R", f"{IMAGE_UID}:{IMAGE_UID}", str(path)]))


class Deployment:
    """One `docker-compose -p nfdep` project: the compose file, the test override, its env."""

    def __init__(self, tmp: Path) -> None:
        self.collector_port, self.watch_port = free_port(), free_port()
        (tmp / "policy.yaml").write_text(POLICY)
        (tmp / "nightfix.env").write_text(WATCH_ENV)
        (tmp / "collector.env").write_text(f"NIGHTFIX_WEBHOOK_SECRET={SECRET}\n")
        (tmp / "sandbox.env").write_text(f"NIGHTFIX_SANDBOX_TOKEN={SANDBOX_TOKEN}\n")
        (tmp / "gitconfig").write_text(
            "[safe]\n\tdirectory = /srv/repo\n\tdirectory = /srv/repo/.git\n"
        )
        make_repo(tmp / "repo")
        self.env = {
            **os.environ,
            "NIGHTFIX_IMAGE": IMAGE,
            "NIGHTFIX_ENV_FILE": str(tmp / "nightfix.env"),
            "NIGHTFIX_COLLECTOR_ENV_FILE": str(tmp / "collector.env"),
            "NIGHTFIX_SANDBOX_ENV_FILE": str(tmp / "sandbox.env"),
            "NIGHTFIX_POLICY_FILE": str(tmp / "policy.yaml"),
            "NIGHTFIX_COLLECTOR_PORT": str(self.collector_port),
            "NIGHTFIX_WATCH_PORT": str(self.watch_port),
            "NIGHTFIX_SANDBOX_SOURCE": "/srv/repo",
            "NIGHTFIX_SANDBOX_IMAGE": SANDBOX_IMAGE,
            "NF_DEP_REPO": str(tmp / "repo"),
            "NF_DEP_GITCONFIG": str(tmp / "gitconfig"),
        }

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        files = [
            "-f",
            str(ROOT / "deploy/compose.yaml"),
            "-f",
            str(ROOT / "tests/deploy/override.yaml"),
        ]
        return run(["docker-compose", "-p", PROJECT, *files, *args], env=self.env)

    def exec_watch(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        files = [
            "-f",
            str(ROOT / "deploy/compose.yaml"),
            "-f",
            str(ROOT / "tests/deploy/override.yaml"),
        ]
        argv_all = ["docker-compose", "-p", PROJECT, *files, "exec", "-T", "watch", *argv]
        return subprocess.run(
            argv_all,
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=600,
            check=False,
        )

    def doctor(self) -> tuple[int, dict[str, Any]]:
        proc = self.compose("exec", "-T", "watch", "nightfix", "doctor", "--json")
        assert proc.stdout.strip(), f"doctor printed nothing:\n{proc.stderr}"
        return proc.returncode, json.loads(proc.stdout)

    def wait_healthy(self, port: int) -> None:
        """Until the service on a published port answers /healthz (bounded; not a timing test)."""
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                    return
            except OSError:
                time.sleep(0.5)
        logs = self.compose("logs", "--no-color", "--tail", "40")
        raise AssertionError(f"nothing answered on port {port}:\n{logs.stdout}")


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    ok(run(["bash", str(ROOT / "scripts/build-image.sh"), "--tag", IMAGE]))
    dockerfile = "FROM nightfix-sandbox:base\nLABEL org.nightfix.test=deploy\n"
    ok(
        subprocess.run(
            ["docker", "build", "--quiet", "-t", SANDBOX_IMAGE, "-"],
            input=dockerfile,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    )
    tmp = tmp_path_factory.mktemp("compose")
    tmp.chmod(0o755)
    deploy = Deployment(tmp)
    try:
        ok(deploy.compose("up", "-d"))
        deploy.wait_healthy(deploy.collector_port)
        deploy.wait_healthy(deploy.watch_port)
        yield deploy
    finally:
        deploy.compose("down", "-v", "--remove-orphans")
        run(["docker", "image", "rm", "-f", SANDBOX_IMAGE])


def test_compose_config_is_valid_for_docker_compose_1_29(deployment: Deployment) -> None:
    version = ok(run(["docker-compose", "version", "--short"])).stdout.strip()
    assert version.startswith("1.29"), (
        f"CI must test with Debian's docker-compose 1.29, got {version}"
    )
    config = ok(deployment.compose("config", "--services")).stdout.split()
    assert sorted(config) == ["collector", "sandbox", "watch"]


def test_doctor_passes_against_the_running_services(deployment: Deployment) -> None:
    code, report = deployment.doctor()
    checks = by_name(report)
    assert code == 0, json.dumps(report, indent=2)
    assert report["ok"] is True
    for name in (
        "server errors",
        "server github",
        "server sandbox",
        "repository",
        "errors backend",
        "collector",
        "webhook",
    ):
        assert checks[name]["status"] == "ok", (name, checks[name])
    assert "http://collector:9000" in checks["collector"]["detail"]
    # Docker is the sandbox service's business: doctor in watch says so instead of guessing.
    assert checks["docker"]["status"] == "skip" and "remote" in checks["docker"]["detail"]


def test_a_sandbox_runs_through_the_sandbox_service(deployment: Deployment) -> None:
    proc = deployment.exec_watch("python3", "-", stdin=SANDBOX_PROBE)
    assert proc.returncode == 0, proc.stderr
    exit_code, printed, uid = proc.stdout.split()
    assert (exit_code, printed, uid) == ("0", "42", "1000")  # the sandbox user, not root


# Run inside the watch container: a request to the sandbox service without its token.
UNAUTHENTICATED = """
import urllib.error, urllib.request
request = urllib.request.Request(
    "http://sandbox:8765/mcp", data=b"{}", headers={"content-type": "application/json"}
)
try:
    urllib.request.urlopen(request, timeout=10)
    print("served")
except urllib.error.HTTPError as exc:
    print(exc.code)
"""


def test_sandbox_service_request_without_its_token_is_refused(deployment: Deployment) -> None:
    """Whatever joins the sandbox network (a compromised watch dependency, a container added
    later) cannot create sandboxes or run commands without the token."""
    proc = deployment.exec_watch("python3", "-", stdin=UNAUTHENTICATED)
    assert proc.stdout.strip() == "401", proc.stdout + proc.stderr


def test_sandbox_service_taking_live_sandboxes_for_orphans_is_refused(
    deployment: Deployment,
) -> None:
    """The sandbox server removes sandboxes whose owner PID is gone; it must see host PIDs, or
    it would remove every other server's live sandboxes (and they its own)."""
    inside = ok(deployment.compose("exec", "-T", "sandbox", "readlink", "/proc/self/ns/pid"))
    assert inside.stdout.strip() == os.readlink("/proc/self/ns/pid")


def test_watch_and_collector_run_unprivileged(deployment: Deployment) -> None:
    for service in ("collector", "watch"):
        uid = ok(deployment.compose("exec", "-T", service, "id", "-u")).stdout.strip()
        assert uid == str(IMAGE_UID), f"{service} runs as uid {uid}"


def test_docker_socket_is_out_of_reach_of_watch_and_collector_is_refused(
    deployment: Deployment,
) -> None:
    for service in ("collector", "watch"):
        found = deployment.compose("exec", "-T", service, "test", "-e", "/var/run/docker.sock")
        assert found.returncode == 1, f"{service} has the Docker socket"


def test_collector_reaching_the_sandbox_server_is_refused(deployment: Deployment) -> None:
    """The collector parses what the internet sends; it must not be able to drive sandboxes."""
    probe = (
        "import urllib.request, sys\n"
        "try:\n"
        "    urllib.request.urlopen('http://sandbox:8765/mcp', timeout=5)\n"
        "except urllib.error.HTTPError:\n"
        "    sys.exit(3)  # it answered\n"
        "except OSError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
        "    sys.exit(0)\n"
        "sys.exit(3)\n"
    )
    from_collector = deployment.compose("exec", "-T", "collector", "python3", "-c", probe)
    assert from_collector.returncode == 0, from_collector.stdout + from_collector.stderr
    from_watch = deployment.exec_watch("python3", "-c", probe)
    assert from_watch.returncode == 3, "watch should reach the sandbox server (control case)"


def test_doctor_names_a_stopped_collector_and_how_to_start_it(deployment: Deployment) -> None:
    ok(deployment.compose("stop", "collector"))
    try:
        code, report = deployment.doctor()
    finally:
        ok(deployment.compose("start", "collector"))
        deployment.wait_healthy(deployment.collector_port)
    failed = {name: c for name, c in by_name(report).items() if c["status"] == "FAIL"}
    assert code == 1
    assert list(failed) == ["collector"], failed
    assert "nothing answers on http://collector:9000/healthz" in failed["collector"]["detail"]
    assert "start the collector" in failed["collector"]["fix"]


def test_doctor_names_a_stopped_sandbox_service_and_how_to_start_it(
    deployment: Deployment,
) -> None:
    ok(deployment.compose("stop", "sandbox"))
    try:
        code, report = deployment.doctor()
    finally:
        ok(deployment.compose("start", "sandbox"))
    failed = {name: c for name, c in by_name(report).items() if c["status"] == "FAIL"}
    assert code == 1
    assert list(failed) == ["server sandbox"], failed
    assert "http://sandbox:8765/mcp" in failed["server sandbox"]["detail"]
    assert "start the server at http://sandbox:8765/mcp" in failed["server sandbox"]["fix"]
