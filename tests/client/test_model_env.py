"""``$NIGHTFIX_MODEL`` chooses the model of ``nightfix run`` and ``nightfix watch`` when no
``--model`` is given (docs/quickstart.md uses it for a replayed run); the flag beats it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nightfix.cli import main


@pytest.mark.parametrize("command", [["watch", "--once"], ["run", "--issue", "1"]])
def test_nightfix_model_variable_chooses_the_model_and_the_flag_beats_it(
    tmp_path: Path, command: list[str]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\n")
    runner = CliRunner()
    # an unknown model is refused before any server starts, naming the choice that was read
    by_env = runner.invoke(
        main, [*command, "--policy", str(policy)], env={"NIGHTFIX_MODEL": "bogus"}
    )
    assert by_env.exit_code == 2 and "unknown model 'bogus'" in by_env.output
    by_flag = runner.invoke(
        main,
        [*command, "--policy", str(policy), "--model", "bogus2"],
        env={"NIGHTFIX_MODEL": "bogus"},
    )
    assert by_flag.exit_code == 2 and "unknown model 'bogus2'" in by_flag.output
