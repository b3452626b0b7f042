"""deploy/'s policy and example environment file agree with each other and hold no secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from nightfix.policy import load_policy
from nightfix.redaction import SECRET_NAME

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ASSIGNMENT = re.compile(r"^#?([A-Z][A-Z0-9_]*)=(.*)$")


def example_variables(name: str = "nightfix.env.example") -> dict[str, str]:
    found = {}
    for line in (DEPLOY / name).read_text().splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_the_deploy_policy_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in example_variables():
        monkeypatch.setenv(name, "example-org/example-service")
    policy = load_policy(DEPLOY / "policy.yaml")
    assert policy.trigger.collector_url == "http://collector:9000"
    assert policy.trigger.listen == "0.0.0.0:8787"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose["services"]["watch"]["command"][-1] == policy.trigger.listen
    assert policy.servers["sandbox"].url == "http://sandbox:8765/mcp"
    assert "--port 8765" in compose["services"]["sandbox"]["command"][-1]


def test_the_collector_env_file_holds_only_the_webhook_secret() -> None:
    assert list(example_variables("collector.env.example")) == ["NIGHTFIX_WEBHOOK_SECRET"]


def test_the_sandbox_env_file_holds_no_secret_but_its_token() -> None:
    """The service holding the Docker socket gets no model, GitHub or webhook secret."""
    variables = example_variables("sandbox.env.example")
    assert set(variables) == {"NIGHTFIX_SANDBOX_TOKEN", "NIGHTFIX_SANDBOX_SOURCE"}
    assert [name for name in variables if SECRET_NAME.search(name)] == ["NIGHTFIX_SANDBOX_TOKEN"]


def test_deploy_policy_sends_the_sandbox_token_and_the_service_requires_it() -> None:
    policy = load_policy(DEPLOY / "policy.yaml")
    sandbox = policy.servers["sandbox"]
    assert sandbox.headers == {"Authorization": "Bearer ${NIGHTFIX_SANDBOX_TOKEN}"}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert "--token-env NIGHTFIX_SANDBOX_TOKEN" in compose["services"]["sandbox"]["command"][-1]
    unit = (DEPLOY / "systemd/nightfix-sandbox.service").read_text()
    assert "--token-env NIGHTFIX_SANDBOX_TOKEN" in unit


def test_every_variable_the_policy_uses_is_in_the_example_env_file() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)\}", (DEPLOY / "policy.yaml").read_text()))
    assert used, "the deploy policy names the repository through the environment"
    assert used <= set(example_variables()), used - set(example_variables())


@pytest.mark.parametrize(
    "name", ["nightfix.env.example", "collector.env.example", "sandbox.env.example"]
)
def test_every_example_variable_is_commented_and_no_secret_has_a_value(name: str) -> None:
    lines = (DEPLOY / name).read_text().splitlines()
    for i, line in enumerate(lines):
        match = ASSIGNMENT.match(line)
        if not match:
            continue
        above = lines[i - 1] if i else ""
        assert above.startswith("# "), f"{match.group(1)} has no comment above it"
        if SECRET_NAME.search(match.group(1)):
            assert match.group(2) == "", f"{match.group(1)} has a value in the example"
