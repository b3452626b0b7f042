"""A local GitHub REST server for the `--repo` backend's tests, so PyGithub runs unchanged.

It serves one repository, kept as a real bare git repository on disk (so blobs, trees, commits
and refs behave as on GitHub: real SHAs, `base_tree`, fast-forward checks). Response bodies
are the payloads recorded from the real API in PyGithub's test suite
(`../shared/reference/github-replay/`, trimmed into `fake_github_payloads.json`), with the
fields that matter filled from the repository and every `url` rewritten to this server.
Every request is logged in `requests` so tests can assert what left the client, in order.
"""

import copy
import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fake_github_app import FakeApp
from fake_github_routes import HttpError, _handler

PAYLOADS = json.loads((Path(__file__).parent / "fake_github_payloads.json").read_text())
TOKEN = "test-token"
VIEWER = "nightfix-bot"
"""The login the token signs in as (`GET /user`)."""
BOT = {
    "GIT_AUTHOR_NAME": "nightfix-bot",
    "GIT_AUTHOR_EMAIL": "bot@example.com",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
    "HOME": "/nonexistent",
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any

    @property
    def is_write(self) -> bool:
        return self.method != "GET"


@dataclass
class FakeGitHub:
    source: Path
    workdir: Path
    full_name: str = "acme/shop"
    requests: list[Request] = field(default_factory=list)
    tamper_trees: bool = False
    """Build every tree with one extra file, as a misbehaving server would (tests the client)."""
    app: "FakeApp | None" = None
    """Sign-in as a GitHub App (JWT, installation tokens) instead of the one fixed token."""
    prefix: str = ""
    """Where the API lives: "" as on api.github.com, "/api/v3" as on GitHub Enterprise."""
    push: bool = True
    """The repository's `permissions.push`: the user's role (False: a read-only user)."""
    private: bool = False
    """Whether the repository is private."""
    oauth_scopes: str | None = None
    """`X-OAuth-Scopes` sent with every answer, as GitHub does for a classic token (e.g.
    "repo, read:org"); None: a fine-grained or App token, which get no such header."""

    def __post_init__(self) -> None:
        self.bare = self.workdir / "github-shop.git"
        subprocess.run(
            ["git", "clone", "-q", "--bare", str(self.source), str(self.bare)], check=True
        )
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments = 0
        self.feedback: dict[int, list[dict[str, Any]]] = {}
        """Per pull request: reviews, issue comments and review comments, in order."""
        self.collaborators: dict[str, str] = {}
        """login -> permission (admin/maintain/write/triage/read); anyone else has none."""
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> "FakeGitHub":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.is_write]

    # -- git --------------------------------------------------------------------------------
    def git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(
            ["git", "-C", str(self.bare), *args],
            input=input,
            capture_output=True,
            env={**BOT, **(env or {})},
        )
        if proc.returncode:
            raise HttpError(422, proc.stderr.decode().strip() or "git failed")
        return proc.stdout.decode()

    def rev(self, spec: str) -> str | None:
        try:
            return self.git("rev-parse", "--verify", "--quiet", "--end-of-options", spec).strip()
        except HttpError:
            return None

    def add_feedback(
        self, number: int, kind: str, login: str, body: str, **extra: Any
    ) -> dict[str, Any]:
        """A person's review (`state=`), issue comment or review comment (`path=`, `line=`)."""
        self.comments += 1
        item = {"kind": kind, "id": 1000 + self.comments, "login": login, "body": body}
        item |= {"created_at": f"2030-01-01T00:00:{self.comments:02d}Z", **extra}
        self.feedback.setdefault(number, []).append(item)
        return item

    def user_json(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": sum(map(ord, login)),
            "type": "Bot" if login.endswith("[bot]") else "User",
            "url": f"{self.base_url}/users/{login}",
            "html_url": f"{self.base_url}/{login}",
        }

    # -- payloads ---------------------------------------------------------------------------
    def shape(self, kind: str, **fields: Any) -> Any:
        """A recorded payload of `kind`, `fields` merged in, urls pointing back here."""
        data = copy.deepcopy(PAYLOADS[kind])
        data.update(fields)
        text = json.dumps(data)
        text = re.sub(
            r"https://api\.github\.com/repos/[^/\"]+/[^/\"?]+",
            f"{self.base_url}/repos/{self.full_name}",
            text,
        )
        text = re.sub(
            r"https://github\.com/[^/\"]+/[^/\"?]+", f"{self.base_url}/{self.full_name}", text
        )
        return json.loads(text.replace("https://api.github.com", self.base_url))

    @property
    def api(self) -> str:
        return f"{self.base_url}/repos/{self.full_name}"

    def repo_json(self, full_name: str | None = None) -> Any:
        """This repository, or (given `full_name`) a fork of it, as GitHub shows `head.repo`."""
        full_name = full_name or self.full_name
        owner, name = full_name.split("/")
        data = self.shape(
            "repo",
            name=name,
            full_name=full_name,
            default_branch="main",
            url=f"{self.base_url}/repos/{full_name}",
            html_url=f"{self.base_url}/{full_name}",
            fork=full_name != self.full_name,
        )
        data["owner"]["login"] = owner
        data["permissions"] = {**data["permissions"], "push": self.push}
        data["private"] = self.private
        return data

    def head_ref(self, pr: dict[str, Any]) -> str:
        """Where a pull request's head commit is: its branch, or for a fork `refs/pull/N/head`
        (GitHub keeps a fork's head there in the base repository)."""
        if pr.get("head_repo", self.full_name) == self.full_name:
            return f"refs/heads/{pr['head']}"
        return f"refs/pull/{pr['number']}/head"

    def add_fork_pull(self, number: int, head: str, head_repo: str, commit: str) -> None:
        """A pull request opened from branch `head` of the fork `head_repo` at `commit`."""
        self.git("update-ref", f"refs/pull/{number}/head", commit)
        self.pulls[number] = {
            "number": number,
            "title": "from a fork",
            "body": "",
            "head": head,
            "head_repo": head_repo,
            "base": "main",
            "state": "open",
            "merged": False,
            "draft": False,
            "created_at": "2026-01-01T00:00:00Z",
        }

    def commit_fields(self, sha: str) -> dict[str, Any]:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        h, tree, parents, an, ae, ad, cn, ce, cd, msg = self.git(
            "log", "-1", f"--format={fmt}", sha
        ).split("\0")
        return {
            "sha": h,
            "tree": tree,
            "parents": parents.split(),
            "message": msg.rstrip("\n"),
            "author": {"name": an, "email": ae, "date": ad},
            "committer": {"name": cn, "email": ce, "date": cd},
        }

    def commit_json(self, sha: str) -> Any:
        f = self.commit_fields(sha)
        inner = {
            "message": f["message"],
            "author": f["author"],
            "committer": f["committer"],
            "tree": {"sha": f["tree"], "url": f"{self.api}/git/trees/{f['tree']}"},
            "url": f"{self.api}/git/commits/{f['sha']}",
        }
        parents = [{"sha": p, "url": f"{self.api}/commits/{p}"} for p in f["parents"]]
        return self.shape(
            "commit",
            sha=f["sha"],
            commit=inner,
            parents=parents,
            url=f"{self.api}/commits/{f['sha']}",
            author=None,
            committer=None,
        )

    def git_commit_json(self, sha: str) -> Any:
        f = self.commit_fields(sha)
        return self.shape(
            "git_commit",
            sha=f["sha"],
            message=f["message"],
            author=f["author"],
            committer=f["committer"],
            url=f"{self.api}/git/commits/{f['sha']}",
            tree={"sha": f["tree"], "url": f"{self.api}/git/trees/{f['tree']}"},
            parents=[{"sha": p, "url": f"{self.api}/git/commits/{p}"} for p in f["parents"]],
        )

    def ref_json(self, branch: str, sha: str) -> Any:
        return self.shape(
            "ref",
            ref=f"refs/heads/{branch}",
            url=f"{self.api}/git/refs/heads/{branch}",
            object={"type": "commit", "sha": sha, "url": f"{self.api}/git/commits/{sha}"},
        )

    def tree_json(self, sha: str, recursive: bool) -> Any:
        out = self.git("ls-tree", "-l", *(["-r"] if recursive else []), sha)
        entries = []
        for line in out.splitlines():
            meta, path = line.split("\t", 1)
            mode, kind, obj, size = meta.split()
            entry = {
                "path": path,
                "mode": mode,
                "type": kind,
                "sha": obj,
                "url": f"{self.api}/git/{kind}s/{obj}",
            }
            if size != "-":
                entry["size"] = int(size)
            entries.append(entry)
        return self.shape(
            "tree", sha=sha, tree=entries, url=f"{self.api}/git/trees/{sha}", truncated=False
        )

    def pull_json(self, pr: dict[str, Any]) -> Any:
        data = self.shape(
            "pull",
            number=pr["number"],
            title=pr["title"],
            body=pr["body"],
            state=pr["state"],
            merged=pr["merged"],
            draft=pr["draft"],
            created_at=pr["created_at"],
            url=f"{self.api}/pulls/{pr['number']}",
            html_url=f"{self.base_url}/{self.full_name}/pull/{pr['number']}",
            issue_url=f"{self.api}/issues/{pr['number']}",
        )
        for side in ("head", "base"):
            ref = pr[side]
            full_name = pr.get("head_repo", self.full_name) if side == "head" else self.full_name
            where = self.head_ref(pr) if side == "head" else f"refs/heads/{ref}"
            data[side].update(
                ref=ref, sha=self.rev(where) or "", label=f"{full_name.split('/')[0]}:{ref}"
            )
            data[side]["repo"] = self.repo_json(full_name)
        return data
