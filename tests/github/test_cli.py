"""The command line: help, usage errors, and `pulls list|show` for people."""

import subprocess
import sys
from pathlib import Path

from nightfix_github.backends.local import LocalBackend
from nightfix_github.config import Boundary
from nightfix_github.models import FileChange
from nightfix_github.service import RepoService

SCRIPT = str(Path(sys.executable).parent / "nightfix-github")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)


def test_help_documents_commands_and_exit_codes() -> None:
    out = run("--help")
    assert out.returncode == 0 and "Exit codes" in out.stdout and "pulls" in out.stdout
    serve = run("serve", "--help")
    assert "--branch-prefix" in serve.stdout and "--read-only" in serve.stdout


def test_serve_without_repository_is_a_usage_error() -> None:
    out = run("serve")
    assert out.returncode == 2 and "--local PATH" in out.stderr


def test_not_a_repository_is_one_clear_line(tmp_path: Path) -> None:
    out = run("pulls", "list", "--local", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip() == f"error: {tmp_path} is not a git repository"


def test_pulls_list_and_show_with_diff(repo: Path) -> None:
    boundary = Boundary()
    backend = LocalBackend(repo, boundary)
    svc = RepoService({backend.name: backend}, boundary)
    svc.create_branch(None, "nightfix/fix-1", "main")
    svc.commit_files(None, "nightfix/fix-1", [FileChange(path="app/cart.py", content="ok\n")], "m")
    svc.open_pull_request(None, "nightfix/fix-1", "Fix cart total", "Because.")
    svc.comment_on_pull_request(None, 1, "sandbox tests pass")
    listed = run("pulls", "list", "--local", str(repo))
    assert listed.returncode == 0
    assert listed.stdout == "#1\topen\tnightfix/fix-1 -> main\tFix cart total\n"
    shown = run("pulls", "show", "1", "--diff", "--local", str(repo))
    assert shown.returncode == 0
    assert "Because." in shown.stdout and "sandbox tests pass" in shown.stdout
    assert "+ok" in shown.stdout and "-def total(items):" in shown.stdout
    missing = run("pulls", "show", "9", "--local", str(repo))
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no pull request #9"


def test_repo_without_token_is_a_usage_error() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "GITHUB_TOKEN"}
    out = subprocess.run(
        [SCRIPT, "serve", "--repo", "acme/shop"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 2 and "GITHUB_TOKEN" in out.stderr


def test_negated_forbid_glob_is_a_usage_error(repo: Path) -> None:
    """`--forbid '!.github/workflows/ci.yml'` would re-open a default; it is refused at start."""
    out = run("serve", "--local", str(repo), "--forbid", "!.github/workflows/ci.yml")
    assert out.returncode == 2 and "negation" in out.stderr
    out = run("serve", "--local", str(repo), "--allow-base", "#staging")
    assert out.returncode == 2 and "comment" in out.stderr
    assert "--allow-base" in run("serve", "--help").stdout
