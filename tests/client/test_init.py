"""``nightfix init``: the starter policy it writes validates, says what the flags said, and
no flag value can smuggle YAML (an extra server argument, another key) into it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nightfix.cli import main
from nightfix.policy import load_policy

BASE = ["--repo", "acme/shop", "--sentry-org", "acme", "--sentry-project", "shop-backend"]


def init(tmp_path: Path, *args: str) -> tuple[int, str, Path]:
    out = tmp_path / "nightfix.yaml"
    result = CliRunner().invoke(main, ["init", *BASE, "--output", str(out), *args])
    return result.exit_code, result.output, out


@pytest.mark.parametrize(("phase", "approvals"), [(1, []), (2, []), (3, ["open_pull_request"])])
def test_init_writes_a_valid_policy_for_each_trust_phase(
    tmp_path: Path, phase: int, approvals: list[str]
) -> None:
    code, output, path = init(tmp_path, "--phase", str(phase))
    assert code == 0, output
    assert f"wrote {path} (trust phase {phase})" in output
    policy = load_policy(path)
    assert policy.trust_phase == phase and policy.approvals.require == approvals
    errors, github = policy.servers["errors"], policy.servers["github"]
    assert errors.command == [
        *("nightfix-errors", "serve", "--backend", "sentry"),
        *("--org", "acme", "--project", "shop-backend"),
    ]
    assert errors.inherit_env == ["SENTRY_AUTH_TOKEN", "SENTRY_URL"]
    assert github.command[:4] == ["nightfix-github", "serve", "--repo", "acme/shop"]
    assert github.inherit_env == ["GITHUB_TOKEN", "GITHUB_API_URL"]
    assert policy.servers["sandbox"].command[-1] == "app=${NIGHTFIX_REPO_URL}"
    assert policy.trigger.environments == ["production"] and policy.trigger.min_events == 5
    # the model gets no repository write tool: delivery is the client's, after the gate
    assert not [t for t in policy.tools.allow if t.split(".")[1].startswith(("create", "commit"))]


def test_init_sets_environment_threshold_and_notify_url(tmp_path: Path) -> None:
    url = "https://hooks.slack.com/services/T0/B0/x?a=1&b=#c"
    code, output, path = init(
        tmp_path, "--environment", "prod-eu", "--min-events", "3", "--notify", url
    )
    assert code == 0, output
    policy = load_policy(path)
    assert policy.trigger.environments == ["prod-eu"] and policy.trigger.min_events == 3
    assert policy.notify.webhook_url == url  # quoted: '#' and '&' survive YAML


def test_init_keeps_an_existing_file_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "nightfix.yaml"
    path.write_text("# mine\n")
    code, output, _ = init(tmp_path)
    assert code == 2 and "exists; pass --force" in output
    assert path.read_text() == "# mine\n"
    code, output, _ = init(tmp_path, "--force")
    assert code == 0 and load_policy(path).trust_phase == 2


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--sentry-project", "shop, --db, /etc/passwd", "--sentry-project 'shop, --db"),
        ("--repo", "acme/shop]\ntools: {allow: ['*']}\n#", "expected OWNER/NAME"),
        ("--environment", "production, staging", "expected an environment name"),
        ("--sentry-org", "acme\nkill_switch: {file: /nonexistent}", "organization's slug"),
        ("--notify", "https://x.example/ a", "expected an http(s) URL"),
    ],
)
def test_yaml_injection_through_a_flag_is_refused(
    tmp_path: Path, flag: str, value: str, says: str
) -> None:
    out = tmp_path / "nightfix.yaml"
    args = [a for a in BASE]
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    result = CliRunner().invoke(main, ["init", *args, "--output", str(out)])
    assert result.exit_code == 2
    assert says in result.output
    assert not out.exists()  # nothing written
