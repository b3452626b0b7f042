"""Real git repositories for the nightfix-github tests, made in temporary directories."""

import subprocess
from pathlib import Path

ENV = {
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
}


def git(repo: Path, *args: str, input_text: str | None = None) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
        input=input_text,
    )
    return out.stdout.strip()


def make_repo(root: Path, name: str = "shop") -> Path:
    """A repository with history: app code, a workflow, a long file, hidden characters."""
    repo = root / name
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app").mkdir()
    (repo / "app" / "cart.py").write_text("def total(items):\n    return sum(items)\n")
    (repo / "README.md").write_text("# shop\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial shop")
    (repo / "app" / "cart.py").write_text(
        "def total(items):\n    # sum the prices\n    return sum(i.price for i in items)\n"
    )
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (repo / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 1001)))
    (repo / "hidden.md").write_text("safe\u202etxt.exe\u200b and \u2066isolate\u2069\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "prices: total uses item price\n\nfixes #3")
    return repo
