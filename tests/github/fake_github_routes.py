"""The REST routes of the fake GitHub (see `fake_github.py`): one small function per endpoint."""

import base64
import json
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_repo(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    return 200, gh.repo_json()


def get_commit(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    sha = gh.rev(f"{unquote(m['ref'])}^{{commit}}")
    if sha is None:
        raise HttpError(422, f"No commit found for SHA: {unquote(m['ref'])}")
    return 200, gh.commit_json(sha)


def list_commits(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    n = q.get("per_page", "30")
    args = ["log", "--format=%H", f"-n{n}", q.get("sha", "main"), "--"]
    if q.get("path"):
        args.append(q["path"])
    return 200, [gh.commit_json(sha) for sha in gh.git(*args).split()]


def get_contents(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    path, ref = unquote(m["path"]).strip("/"), q.get("ref", "main")
    spec = f"{ref}:{path}"
    kind = gh.rev(spec) and gh.git("cat-file", "-t", spec).strip()
    if not kind:
        raise HttpError(404, "Not Found")
    if kind == "blob":
        data = gh.git("cat-file", "blob", spec).encode()
        return 200, _content(gh, path, ref, "file", gh.rev(spec), len(data), data)
    entries = []
    for line in gh.git("ls-tree", "-l", ref, "--", f"{path}/" if path else ".").splitlines():
        meta, name = line.split("\t", 1)
        mode, otype, obj, size = meta.split()
        kind = {"tree": "dir", "commit": "submodule"}.get(otype, "file")
        kind = "symlink" if mode == "120000" else kind
        entries.append(_content(gh, name, ref, kind, obj, int(size) if size != "-" else 0, None))
    return 200, entries


def _content(
    gh: Any, path: str, ref: str, kind: str, sha: str, size: int, data: bytes | None
) -> Any:
    url = f"{gh.api}/contents/{path}?ref={ref}"
    fields = {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": size,
        "type": kind,
        "url": url,
        "git_url": f"{gh.api}/git/blobs/{sha}",
        "html_url": f"{gh.base_url}/{gh.full_name}/blob/{ref}/{path}",
        "download_url": None,
        "_links": {"self": url},
    }
    if data is None:
        return gh.shape("content_entry", **fields)
    return gh.shape(
        "content_file", encoding="base64", content=base64.encodebytes(data).decode(), **fields
    )


def get_tree(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    return 200, gh.tree_json(m["sha"], q.get("recursive") in ("1", "true"))


def get_blob(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    data = gh.git("cat-file", "blob", m["sha"]).encode()
    return 200, gh.shape(
        "blob",
        sha=m["sha"],
        size=len(data),
        encoding="base64",
        content=base64.b64encode(data).decode(),
        url=f"{gh.api}/git/blobs/{m['sha']}",
    )


def get_ref(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    branch = unquote(m["branch"])
    sha = gh.rev(f"refs/heads/{branch}")
    if sha is None:
        raise HttpError(404, "Not Found")
    return 200, gh.ref_json(branch, sha)


def create_ref(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    ref, sha = body["ref"], body["sha"]
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise HttpError(422, "Reference name must start with 'refs/' and have two slashes")
    if gh.rev(ref) is not None:
        raise HttpError(422, "Reference already exists")
    gh.git("update-ref", ref, sha, "0" * 40)
    return 201, gh.ref_json(ref.removeprefix("refs/heads/"), sha)


def update_ref(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    branch = unquote(m["branch"])
    old = gh.rev(f"refs/heads/{branch}")
    if old is None:
        raise HttpError(422, "Reference does not exist")
    if not body.get("force"):
        try:
            gh.git("merge-base", "--is-ancestor", old, body["sha"])
        except HttpError:
            raise HttpError(422, "Update is not a fast forward") from None
    gh.git("update-ref", f"refs/heads/{branch}", body["sha"], old)
    return 200, gh.ref_json(branch, body["sha"])


def create_blob(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    raw = body["content"]
    data = base64.b64decode(raw) if body.get("encoding") == "base64" else raw.encode()
    sha = gh.git("hash-object", "-w", "--stdin", input=data).strip()
    return 201, gh.shape("blob", sha=sha, url=f"{gh.api}/git/blobs/{sha}")


def create_tree(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": tmp}
        if body.get("base_tree"):
            gh.git("read-tree", body["base_tree"], env=env)
        base = body.get("base_tree")
        present = set(gh.git("ls-tree", "-r", "--name-only", base).splitlines()) if base else set()
        for entry in body["tree"]:
            path = entry["path"]
            if "content" in entry:
                sha = gh.git(
                    "hash-object", "-w", "--stdin", input=entry["content"].encode()
                ).strip()
            elif entry.get("sha") is None:
                if path not in present:
                    raise HttpError(422, f"GitRPC::BadObjectState: {path} does not exist")
                gh.git("update-index", "--force-remove", "--", path, env=env)
                continue
            else:
                sha = entry["sha"]
            gh.git("update-index", "--add", "--cacheinfo", f"{entry['mode']},{sha},{path}", env=env)
        if gh.tamper_trees:
            extra = gh.git("hash-object", "-w", "--stdin", input=b"tampered\n").strip()
            gh.git("update-index", "--add", "--cacheinfo", f"100644,{extra},tampered.txt", env=env)
        tree = gh.git("write-tree", env=env).strip()
    return 201, gh.tree_json(tree, recursive=False)


def get_git_commit(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    if gh.rev(f"{m['sha']}^{{commit}}") is None:
        raise HttpError(404, "Not Found")
    return 200, gh.git_commit_json(m["sha"])


def create_commit(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    args = ["commit-tree", body["tree"]]
    for parent in body.get("parents", []):
        args += ["-p", parent]
    sha = gh.git(*args, input=body["message"].encode()).strip()
    return 201, gh.git_commit_json(sha)


def list_pulls(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    state, head = q.get("state", "open"), q.get("head")
    out = []
    for pr in gh.pulls.values():
        if state != "all" and pr["state"] != state:
            continue
        owner = pr.get("head_repo", gh.full_name).split("/")[0]
        if head and f"{owner}:{pr['head']}" != head:
            continue
        out.append(gh.pull_json(pr))
    return 200, out


def create_pull(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    head, base = body["head"], body["base"]
    if gh.rev(f"refs/heads/{head}") is None or gh.rev(f"refs/heads/{base}") is None:
        raise HttpError(422, "Validation Failed: head or base does not exist")
    if any(p["head"] == head and p["state"] == "open" for p in gh.pulls.values()):
        raise HttpError(422, f"A pull request already exists for {gh.full_name}:{head}.")
    number = len(gh.pulls) + 1
    gh.pulls[number] = {
        "number": number,
        "title": body.get("title", ""),
        "body": body.get("body", ""),
        "head": head,
        "base": base,
        "state": "open",
        "merged": False,
        "draft": bool(body.get("draft")),
        "created_at": _now(),
    }
    return 201, gh.pull_json(gh.pulls[number])


def get_pull(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    pr = gh.pulls.get(int(m["n"]))
    if pr is None:
        raise HttpError(404, "Not Found")
    return 200, gh.pull_json(pr)


def merge_pull(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    pr = gh.pulls[int(m["n"])]
    head, base = gh.rev(gh.head_ref(pr)), gh.rev(f"refs/heads/{pr['base']}")
    tree = gh.git("merge-tree", "--write-tree", base, head).split()[0]
    msg = f"Merge pull request #{pr['number']}".encode()
    sha = gh.git("commit-tree", tree, "-p", base, "-p", head, input=msg).strip()
    gh.git("update-ref", f"refs/heads/{pr['base']}", sha, base)
    pr.update(state="closed", merged=True)
    return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}


def create_comment(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    from fake_github import VIEWER

    if int(m["n"]) not in gh.pulls:
        raise HttpError(404, "Not Found")
    item = gh.add_feedback(int(m["n"]), "comment", VIEWER, body["body"])
    return 201, _issue_comment(gh, item)


def _issue_comment(gh: Any, item: dict[str, Any]) -> Any:
    cid = item["id"]
    return gh.shape(
        "comment",
        id=cid,
        body=item["body"],
        created_at=item["created_at"],
        updated_at=item["created_at"],
        url=f"{gh.api}/issues/comments/{cid}",
        user=gh.user_json(item["login"]),
    )


def _feedback(gh: Any, m: re.Match[str], kind: str) -> list[dict[str, Any]]:
    if int(m["n"]) not in gh.pulls:
        raise HttpError(404, "Not Found")
    return [f for f in gh.feedback.get(int(m["n"]), []) if f["kind"] == kind]


def list_issue_comments(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    """GET /repos/{owner}/{repo}/issues/{issue_number}/comments."""
    return 200, [_issue_comment(gh, f) for f in _feedback(gh, m, "comment")]


def list_reviews(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    """GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews (fields as GitHub documents)."""
    return 200, [
        {
            "id": f["id"],
            "node_id": f"PRR_{f['id']}",
            "user": gh.user_json(f["login"]),
            "body": f["body"],
            "state": f["state"],
            "html_url": f"{gh.base_url}/{gh.full_name}/pull/{m['n']}#pullrequestreview-{f['id']}",
            "pull_request_url": f"{gh.api}/pulls/{m['n']}",
            "submitted_at": f["created_at"],
            "commit_id": gh.rev(gh.head_ref(gh.pulls[int(m["n"])])) or "",
            "author_association": "COLLABORATOR",
        }
        for f in _feedback(gh, m, "review")
    ]


def list_review_comments(
    gh: Any, m: re.Match[str], q: dict[str, str], body: Any
) -> tuple[int, Any]:
    """GET /repos/{owner}/{repo}/pulls/{pull_number}/comments: comments on lines of the diff."""
    return 200, [
        {
            "id": f["id"],
            "node_id": f"PRRC_{f['id']}",
            "url": f"{gh.api}/pulls/comments/{f['id']}",
            "user": gh.user_json(f["login"]),
            "body": f["body"],
            "path": f["path"],
            "line": f["line"],
            "side": "RIGHT",
            "diff_hunk": "@@ -1 +1 @@",
            "commit_id": gh.rev(gh.head_ref(gh.pulls[int(m["n"])])) or "",
            "created_at": f["created_at"],
            "updated_at": f["created_at"],
            "pull_request_url": f"{gh.api}/pulls/{m['n']}",
            "author_association": "COLLABORATOR",
        }
        for f in _feedback(gh, m, "line")
    ]


def get_permission(gh: Any, m: re.Match[str], q: dict[str, str], body: Any) -> tuple[int, Any]:
    """GET /repos/{owner}/{repo}/collaborators/{username}/permission. The legacy `permission`
    field names maintain as write and triage as read; `role_name` keeps the role."""
    login = unquote(m["login"])
    role = gh.collaborators.get(login, "none")
    legacy = {"maintain": "write", "triage": "read"}.get(role, role)
    return 200, {"permission": legacy, "role_name": role, "user": gh.user_json(login)}


R = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
Handler = Callable[[Any, re.Match[str], dict[str, str], Any], tuple[int, Any]]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(R + pattern + r"\Z"), fn)
    for method, pattern, fn in [
        ("GET", "", get_repo),
        ("GET", r"/commits", list_commits),
        ("GET", r"/commits/(?P<ref>.+)", get_commit),
        ("GET", r"/contents/?(?P<path>.*)", get_contents),
        ("GET", r"/git/trees/(?P<sha>\w+)", get_tree),
        ("GET", r"/git/blobs/(?P<sha>\w+)", get_blob),
        ("GET", r"/git/ref/heads/(?P<branch>.+)", get_ref),
        ("GET", r"/git/commits/(?P<sha>\w+)", get_git_commit),
        ("POST", r"/git/refs", create_ref),
        ("PATCH", r"/git/refs/heads/(?P<branch>.+)", update_ref),
        ("POST", r"/git/blobs", create_blob),
        ("POST", r"/git/trees", create_tree),
        ("POST", r"/git/commits", create_commit),
        ("GET", r"/pulls", list_pulls),
        ("POST", r"/pulls", create_pull),
        ("GET", r"/pulls/(?P<n>\d+)", get_pull),
        ("PUT", r"/pulls/(?P<n>\d+)/merge", merge_pull),
        ("POST", r"/issues/(?P<n>\d+)/comments", create_comment),
        ("GET", r"/issues/(?P<n>\d+)/comments", list_issue_comments),
        ("GET", r"/pulls/(?P<n>\d+)/reviews", list_reviews),
        ("GET", r"/pulls/(?P<n>\d+)/comments", list_review_comments),
        ("GET", r"/collaborators/(?P<login>[^/]+)/permission", get_permission),
    ]
]


def _handler(gh: Any) -> type[BaseHTTPRequestHandler]:
    from fake_github import Request

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with gh.lock:
                gh.requests.append(
                    Request(self.command, url.path.removeprefix(gh.prefix), query, body)
                )
                status, payload = self._route(url.path, query, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if gh.oauth_scopes is not None:
                self.send_header("X-OAuth-Scopes", gh.oauth_scopes)
            self.end_headers()
            self.wfile.write(data)

        def _route(self, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
            auth = self.headers.get("Authorization", "")
            if not path.startswith(gh.prefix):
                return 404, {"message": f"Not Found (the API is under {gh.prefix or '/'})"}
            path = path[len(gh.prefix) :]
            if gh.app is not None:
                try:
                    answered = gh.app.route(self.command, path, auth, gh.base_url)
                except HttpError as exc:
                    return exc.status, {"message": exc.message}
                if answered is not None:
                    return answered
            elif auth not in (f"token {gh_token()}", f"Bearer {gh_token()}"):
                return 401, {"message": "Bad credentials"}
            if self.command == "GET" and path == "/user" and gh.app is None:
                from fake_github import VIEWER

                return 200, gh.user_json(VIEWER)  # GET /user: the token's own account
            for method, pattern, fn in ROUTES:
                m = pattern.match(path)
                if method == self.command and m:
                    if f"{m['owner']}/{m['name']}" != gh.full_name:
                        return 404, {"message": "Not Found"}
                    try:
                        return fn(gh, m, query, body)
                    except HttpError as exc:
                        return exc.status, {"message": exc.message}
            return 404, {"message": f"Not Found (fake has no {self.command} {path})"}

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


def gh_token() -> str:
    from fake_github import TOKEN

    return str(TOKEN)
