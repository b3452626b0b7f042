"""docs/quickstart.md, run as written, from "I have a repository on GitHub and a Sentry project"
to the first verified draft pull request.

The doc's ```bash quickstart-step-N blocks run in order, each in ``bash -euo pipefail`` from
one working directory, with a fresh ``HOME``. The site is made of stand-ins the doc itself
documents through its environment variables: GitHub is the GitHub stand-in served as GitHub
Enterprise (``GITHUB_API_URL``, PyGithub unchanged), Sentry the Sentry API stand-in as a
self-hosted Sentry (``SENTRY_URL``), fed by the service's real ``sentry-sdk``; the sandbox
fetches the repository from the stand-in's own git repository (``NIGHTFIX_REPO_URL``), and the
model is the example's scripted trajectory (``NIGHTFIX_MODEL`` instead of
``ANTHROPIC_API_KEY``). Everything else is real: the CLI, the three servers over stdio, Docker.

Beyond the steps: the listener block runs on a free port and takes a signed webhook, the
GitHub App variant passes doctor against an App stand-in, and phase 3's approval commands run
in a world of their own. Only the install (it needs the network; the test runs inside an
installed checkout) and `deny` are checked by their flags alone. Each step's time is printed;
nothing asserts on it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autonomy"))

from autonomy_support import left_behind, sandbox_containers
from quickstart_world import (
    GITHUB_TOKEN,
    SENTRY_TOKEN,
    FakeGitHub,
    FakeSentry,
    SentryIngest,
    demo_env,
)

from nightfix.autonomy.push_security import sign
from nightfix.policy import parse_policy

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "quickstart.md"
VENV_BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(?P<lang>\w+) (?P<tag>quickstart-[\w-]+)\n(?P<code>.*?)^```$", re.M | re.S)
EXPORT = re.compile(r"^export (?P<name>[A-Z_][A-Z0-9_]*)=\S+", re.M)
# The names the doc's credentials blocks must export; the test supplies each one's stand-in.
SITE_NAMES = {
    "GITHUB_TOKEN",
    "NIGHTFIX_REPO_URL",
    "SENTRY_AUTH_TOKEN",
    "ANTHROPIC_API_KEY",
    "GITHUB_API_URL",
    "SENTRY_URL",
}
# What the machine's own environment may not bring into the steps.
FOREIGN = ("NIGHTFIX_", "GITHUB_", "SENTRY_", "ANTHROPIC_", "OPENAI_", "AWS_", "CLOUD_ML_")


SECTION = re.compile(r"^## (\d+)\. ", re.M)


@dataclass
class Block:
    lang: str
    tag: str
    code: str
    section: str
    """The number of the doc's ``## N.`` section the block is in."""


def doc_blocks(text: str) -> list[Block]:
    def section(at: int) -> str:
        numbers = SECTION.findall(text, 0, at)
        return numbers[-1] if numbers else "-"

    return [Block(m["lang"], m["tag"], m["code"], section(m.start())) for m in FENCE.finditer(text)]


def steps_of(blocks: list[Block]) -> list[Block]:
    """The ``quickstart-step-N`` blocks, checked to be numbered 1..N in the doc's order."""
    steps = [b for b in blocks if b.tag.startswith("quickstart-step-")]
    numbers = [int(b.tag.rsplit("-", 1)[1]) for b in steps]
    assert numbers == list(range(1, len(steps) + 1)), "steps out of order"
    return steps


def one_block(blocks: list[Block], tag: str) -> Block:
    [block] = [b for b in blocks if b.tag == tag]
    return block


def one(blocks: list[Block], tag: str) -> str:
    return one_block(blocks, tag).code


@dataclass
class Site:
    """The stand-ins of the quickstart's GitHub and Sentry, with the service's errors in."""

    github: FakeGitHub
    sentry: FakeSentry
    repo_url: str


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    # the team's repository (the checkout-service example) on "GitHub Enterprise"
    repo = demo_env.make_repo(tmp_path / "shop")
    sentry = FakeSentry(token=SENTRY_TOKEN, org="acme")
    sentry.start()
    relay = SentryIngest(sentry, "shop-backend")
    try:
        # production traffic: the service's real sentry-sdk reports to the Sentry project
        demo_env.drive_traffic(repo, relay.dsn, min_errors=8)
        assert relay.received >= 5
        with FakeGitHub(repo, tmp_path, full_name="acme/shop", prefix="/api/v3") as github:
            yield Site(github, sentry, f"file://{github.bare}")
    finally:
        relay.close()
        sentry.stop()


def site_env(site: Site, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        HOME=str(home),
        GITHUB_TOKEN=GITHUB_TOKEN,
        GITHUB_API_URL=site.github.base_url,
        NIGHTFIX_REPO_URL=site.repo_url,
        SENTRY_AUTH_TOKEN=SENTRY_TOKEN,
        SENTRY_URL=site.sentry.url,
        # the scripted model instead of ANTHROPIC_API_KEY (never a live model in tests)
        NIGHTFIX_MODEL=f"replay:{demo_env.TRAJECTORY}",
    )
    return env


def run_step(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


# What differs between the doc's sample output and a run: ids, commits, counts, the model, HOME.
VARIES = re.compile(r"(\d{8}T\d{6}-[0-9a-f]{6}|\b[0-9a-f]{12}\b|\banthropic\b|/home/you|\d+)")


def assert_shown(sample: str, out: str) -> None:
    """Each line of the doc's sample output is a line of ``out``, in order, up to what
    :data:`VARIES` (a digit run matches digits; an id, commit, model or home, any word)."""
    lines = out.splitlines()
    at = 0
    for line in sample.splitlines():
        pieces = VARIES.split(line)
        pattern = "".join(
            (r"\d+" if p.isdigit() else r"\S+") if i % 2 else re.escape(p)
            for i, p in enumerate(pieces)
        )
        found = [i for i in range(at, len(lines)) if re.fullmatch(pattern, lines[i])]
        assert found, f"the doc shows a line the run does not print:\n{line}\n--- run:\n{out}"
        at = found[0] + 1


def test_the_credentials_blocks_export_exactly_what_the_site_needs() -> None:
    blocks = doc_blocks(DOC.read_text(encoding="utf-8"))
    exported = [
        m["name"] for b in blocks if b.tag == "quickstart-env" for m in EXPORT.finditer(b.code)
    ]
    assert sorted(exported) == sorted(SITE_NAMES)
    # every variable the policy reads comes from those blocks (or the kill switch's own)
    policy = parse_policy(one(blocks, "quickstart-policy"))
    read = {v for s in policy.servers.values() for v in s.inherit_env} - {"SSH_AUTH_SOCK"}
    read |= {m for s in policy.servers.values() for m in re.findall(r"\$\{(\w+)\}", str(s.command))}
    assert read <= SITE_NAMES, read - SITE_NAMES


def test_quickstart_from_a_github_repository_and_a_sentry_project_to_a_draft_pull_request(
    tmp_path: Path, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = doc_blocks(DOC.read_text(encoding="utf-8"))
    work, home = tmp_path / "nightfix-shop", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = site_env(site, home)
    before = sandbox_containers()
    checked: set[str] = set()

    def check(code: str, done: subprocess.CompletedProcess[str]) -> None:
        """What success looks like at each step, as the doc says it."""
        out = done.stdout
        if "nightfix init" in code:
            checked.add("init")
            written = (work / "nightfix.yaml").read_text(encoding="utf-8")
            assert written == one(blocks, "quickstart-policy"), "the doc's policy is not init's"
        if "nightfix policy check" in code:
            checked.add("policy check")
            assert out.startswith("# nightfix.yaml: valid"), out
        if "nightfix doctor" in code:
            checked.add("doctor")
            assert "FAIL" not in out and out.rstrip().endswith("all checks passed"), out
            assert_shown(one(blocks, "quickstart-doctor-output"), out)
        if "nightfix watch --once" in code:
            checked.add("watch")
            assert re.search(r"issue \d+: CRITICAL", out), out
            assert "completed — pull request #1" in out, out
            assert_shown(one(blocks, "quickstart-watch-output"), out)
        if "nightfix runs" in code:
            checked.add("runs")
            assert re.search(r"\d+\s+completed\s", out), out
        if "touch ~/.nightfix/STOP" in code:
            checked.add("kill switch")
            doctor = run_step("nightfix doctor --json --policy nightfix.yaml", work, env)
            report = json.loads(doctor.stdout)
            assert doctor.returncode == 1 and not report["ok"]
            assert [c["name"] for c in report["checks"] if c["status"] == "FAIL"] == ["kill_switch"]
        if "rm ~/.nightfix/STOP" in code:
            checked.add("resume")
            assert not (home / ".nightfix" / "STOP").exists()
        if "nightfix audit verify" in code:
            checked.add("audit")

    timings = []
    for step in steps_of(blocks):
        started = time.monotonic()
        done = run_step(step.code, work, env)
        took = time.monotonic() - started
        timings.append(f"section {step.section:>2}  {took:5.1f} s  {step.code.splitlines()[0]}")
        assert done.returncode == 0, (
            f"{step.tag} (section {step.section}) failed:\n{step.code}\n"
            f"{done.stdout}\n{done.stderr[-4000:]}"
        )
        check(step.code, done)
    with capsys.disabled():
        print("\nquickstart, block by block (time each took):\n  " + "\n  ".join(timings))
    expected = {"init", "policy check", "doctor", "watch", "runs", "kill switch", "resume", "audit"}
    assert checked == expected, f"the doc lost a step: {expected - checked}"

    # the first pull request, as section 7 describes it
    [pull] = site.github.pulls.values()
    assert pull["draft"] is True and pull["state"] == "open" and pull["base"] == "main"
    assert re.fullmatch(r"nightfix/issue-\d+", pull["head"]) and pull["title"].startswith(
        "nightfix: fix "
    )
    for heading in one(blocks, "quickstart-pr").splitlines():
        assert heading in pull["body"], heading
    assert "failing in the test body" in pull["body"] and "with the fix: 1 passed" in pull["body"]
    branch = pull["head"]
    changed = site.github.git("diff", "--name-only", "main", branch).split()
    assert changed == ["checkout/db.py", "tests/test_pool.py"]  # the fix and its regression test
    assert site.github.git("rev-list", "--count", f"main..{branch}").strip() == "1"

    # section 8: the listener, as written (on a free port), takes a signed Sentry webhook
    issue_id = branch.removeprefix("nightfix/issue-")
    started = time.monotonic()
    listen = one_block(blocks, "quickstart-listen")
    pushed = push_to_listener(listen.code, work, env, issue_id)
    took = time.monotonic() - started
    with capsys.disabled():
        print(
            f"  section {listen.section:>2}  {took:5.1f} s  the listener, until a push was handled"
        )
    assert pushed["counters"]["bad_signature"] == 1 and pushed["counters"]["accepted"] == 1
    assert len(site.github.pulls) == 1  # the open pull request holds the issue: no second run
    assert left_behind(before) == []


WEBHOOK_SECRET = "quickstart-client-secret"


def push_to_listener(code: str, work: Path, env: dict[str, str], issue_id: str) -> dict:
    """Run the doc's listener block with the integration's secret (its one export) and a free
    port in place of 8787; send a forged and a signed ``issue.created`` delivery; stop it."""
    assert [m["name"] for m in EXPORT.finditer(code)] == ["NIGHTFIX_WEBHOOK_SECRET"]
    port = demo_env.free_port()
    body = "\n".join(line for line in code.splitlines() if not line.startswith("export "))
    script = body.replace("127.0.0.1:8787", f"127.0.0.1:{port}")
    assert script != body, "the doc's listener no longer listens on 127.0.0.1:8787"
    log = work / "listen.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=work,
            env={**env, "NIGHTFIX_WEBHOOK_SECRET": WEBHOOK_SECRET},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "watch: poll done" in log.read_text(), log, proc)
        delivery = json.dumps(
            {"action": "created", "data": {"issue": {"id": issue_id}}, "actor": {"id": "sentry"}}
        ).encode()
        url = f"http://127.0.0.1:{port}/webhook"
        assert post(url, delivery, sign(b"not-the-secret", delivery)) == 401
        assert post(url, delivery, sign(WEBHOOK_SECRET.encode(), delivery)) == 202
        pushed = f"issue {issue_id}: pushed (issue created)"
        # decided by the trigger rules, after the push: the open pull request holds it
        wait_for(lambda: "no new run" in log.read_text().partition(pushed)[2], log, proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            counters = json.loads(answer.read())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    return {"counters": counters, "log": log.read_text()}


def wait_for(ready: Callable[[], bool], log: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the listener exited {proc.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within 180 s; the listener's log:\n{log.read_text()}")
        time.sleep(0.2)


def post(url: str, body: bytes, signature: str) -> int:
    """One delivery with the headers Sentry's integration webhooks carry."""
    headers = {
        "Content-Type": "application/json",
        "Request-ID": str(uuid.uuid4()),
        "Sentry-Hook-Resource": "issue",
        "Sentry-Hook-Timestamp": str(int(time.time())),
        "Sentry-Hook-Signature": signature,
    }
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


ANY_BASH = re.compile(r"^```bash(?: quickstart-[\w-]+)?\n(?P<code>.*?)^```$", re.M | re.S)
PROGRAMS = {"nightfix", "nightfix-errors", "nightfix-github", "nightfix-sandbox"}


def help_of(argv: list[str]) -> str:
    done = subprocess.run(
        [str(VENV_BIN / argv[0]), *argv[1:], "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{' '.join(argv)} does not exist: {done.stderr}"
    return done.stdout


def check_flags(tokens: list[str]) -> None:
    """``tokens`` (program, subcommands, arguments) name a real command and real flags."""
    path = [tokens[0]]
    for token in tokens[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*", token):
            break
        path.append(token)
    text = help_of(path)
    for flag in (t.split("=")[0] for t in tokens if t.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), f"{path}: no {flag}"


def test_every_documented_command_names_a_real_command_and_real_flags() -> None:
    text = DOC.read_text(encoding="utf-8")
    lines = [
        shlex.split(line, comments=True)
        for m in ANY_BASH.finditer(text)
        for line in m["code"].splitlines()
    ]
    commands = [tokens for tokens in lines if tokens and tokens[0] in PROGRAMS]
    assert len(commands) >= 12  # every step, the listener and the approval commands
    for tokens in commands:
        check_flags(tokens)
    # the GitHub App variant: a valid policy once put in place of the token's server ...
    blocks = doc_blocks(text)
    app = yaml.safe_load(one(blocks, "quickstart-github-app"))["github"]
    policy = yaml.safe_load(one(blocks, "quickstart-policy"))
    policy["servers"]["github"] = app
    parse_policy(yaml.safe_dump(policy))
    # ... whose flags the repository server has
    check_flags([str(part) for part in app["command"]])


def test_the_github_app_variant_passes_doctor(tmp_path: Path) -> None:
    """Section 3's GitHub App server, in place of the token's, against an App stand-in (App id
    from the doc, installed on acme/shop with the three permissions the doc names): doctor
    passes, and the repository check says the App may push agent branches."""
    from app_support import SHOP_INSTALLATION, new_key, write_key
    from fake_github_app import FakeApp, Installation

    blocks = doc_blocks(DOC.read_text(encoding="utf-8"))
    app = yaml.safe_load(one(blocks, "quickstart-github-app"))["github"]
    command = [str(part) for part in app["command"]]
    app_id = int(command[command.index("--app-id") + 1])
    documented_key = command[command.index("--private-key-file") + 1]
    key = new_key()
    key_file = write_key(key, tmp_path / Path(documented_key).name)  # the doc's file, here
    command[command.index(documented_key)] = str(key_file)
    policy = yaml.safe_load(one(blocks, "quickstart-policy"))
    policy["servers"]["github"] = {**app, "command": command}
    (tmp_path / "nightfix.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))

    repo = demo_env.make_repo(tmp_path / "shop")
    installed = {SHOP_INSTALLATION: Installation(SHOP_INSTALLATION, {"acme/shop"})}
    sentry = FakeSentry(token=SENTRY_TOKEN, org="acme")
    sentry.start()
    try:
        with FakeGitHub(
            repo,
            tmp_path,
            full_name="acme/shop",
            prefix="/api/v3",
            app=FakeApp(app_id, key.public_key(), installed),
        ) as github:
            env = site_env(Site(github, sentry, f"file://{github.bare}"), tmp_path)
            del env["GITHUB_TOKEN"]  # the App signs in without one
            done = run_step("nightfix doctor --policy nightfix.yaml", tmp_path, env)
            exchanges = list(github.app.exchanges) if github.app else []
    finally:
        sentry.stop()
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert re.search(r"ok +repository +acme/shop readable .*may push agent branches", done.stdout)
    assert exchanges == [SHOP_INSTALLATION]  # signed in as the App's installation


def test_phase_3_as_the_doc_says_waits_for_approve_then_opens_a_ready_pull_request(
    tmp_path: Path, site: Site
) -> None:
    """Section 9: `init --phase 3`, a poll that waits, `approvals`, `approve RUN` (the run's
    id for RUN), the next poll opens a ready pull request. `deny` is checked by its flags."""
    blocks = doc_blocks(DOC.read_text(encoding="utf-8"))
    work, home = tmp_path / "nightfix-shop", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = site_env(site, home)
    [watch] = [b.code for b in steps_of(blocks) if "nightfix watch --once" in b.code]
    approvals, approve, deny = one(blocks, "quickstart-approve").splitlines()

    def step(code: str) -> str:
        done = run_step(code, work, env)
        assert done.returncode == 0, f"{code}\n{done.stdout}\n{done.stderr[-4000:]}"
        return done.stdout

    step(one(blocks, "quickstart-phase-3"))
    waiting = step(watch)
    [run_id] = re.findall(r"^run (\S+): awaiting_approval", waiting, re.M) or [waiting]
    assert site.github.pulls == {} and site.github.writes == []  # nothing written yet
    listed = step(approvals)
    assert run_id in listed and "+++ b/checkout/db.py" in listed
    assert " RUN " in approve
    step(approve.replace(" RUN ", f" {run_id[:12]} "))
    check_flags(shlex.split(deny, comments=True))
    step(watch)
    [pull] = site.github.pulls.values()
    assert pull["draft"] is False and pull["state"] == "open"
