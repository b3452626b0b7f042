"""The README's reference tables are generated from the code; these tests catch drift."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_reference", ROOT / "scripts/gen_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_reference_blocks_match_the_code():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _generator().render(readme) == readme, (
        "README.md reference tables are stale: run "
        "`.venv/bin/python scripts/gen_reference.py --write`"
    )


def test_policy_reference_lists_every_policy_key():
    from nightfix.policy import Policy

    table = _generator().policy_reference()
    for name in Policy.model_fields:
        assert f"| `{name}` |" in table


def test_readme_names_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
