"""Every boundary rule of nightfix-github, as named fail-closed checks.

Each check either returns normally or raises `RefusedError` naming its rule. They are called at
the tool entry (service layer) and again in each backend right where a ref or path is touched.
"""

import re
import stat
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import pathspec

from .config import Boundary, glob_problem
from .errors import InvalidInputError, RefusedError
from .models import Permission, PullRequest
from .untrusted import clean_text

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_REF_CHARS = re.compile(r"[\s~^:?*\[\\]")
MAX_REF_LENGTH = 255
_OBJECT_ID = re.compile(r"[0-9a-f]{40}")


def check_no_control(value: str, what: str) -> None:
    """Refuse control and invisible characters in a name the server passes on."""
    if _CONTROL.search(value) or clean_text(value) != value:  # one definition: untrusted.py
        raise RefusedError("control_characters", f"{what} {value!r} holds control characters")


def check_ref_safe(ref: str) -> None:
    """A ref to read from: no option injection (`-x`), no control characters, no ranges."""
    if not ref:
        raise RefusedError("unsafe_ref", "the ref is empty; give a branch, tag or commit sha")
    if ref.startswith("-"):
        raise RefusedError("option_injection", f"ref {ref!r} begins with '-'")
    check_no_control(ref, "ref")
    if len(ref) > MAX_REF_LENGTH or ".." in ref or ":" in ref or "\\" in ref or " " in ref:
        raise RefusedError("unsafe_ref", f"ref {ref!r} is not a plain branch, tag or sha")


def check_not_symbolic(name: str, target: str | None) -> None:
    """A branch that is a symbolic ref writes through to its target: refuse it, whatever it is.

    `target` is what the backend found the ref pointing at (None for an ordinary branch).
    """
    if target is not None:
        raise RefusedError(
            "protected_branch", f"{name!r} is a symbolic ref to {target!r}, not a plain branch"
        )


def check_branch_name(name: str) -> None:
    """A branch name git itself would accept (`git check-ref-format --branch`), conservatively."""
    check_ref_safe(name)
    parts = name.split("/")
    if (
        _BAD_REF_CHARS.search(name)
        or "@{" in name
        or name == "@"
        or name.endswith((".", ".lock", "/"))
        or any(not p or p.startswith(".") or p.endswith(".lock") for p in parts)
    ):
        raise RefusedError("invalid_branch_name", f"{name!r} is not a valid git branch name")


def short_branch(name: str) -> str:
    """`refs/heads/x` and `heads/x` name the same branch as `x`: resolve the alias."""
    for alias in ("refs/heads/", "heads/"):
        if name.startswith(alias):
            return name[len(alias) :]
    return name


def check_branch_writable(name: str, boundary: Boundary, default_branch: str) -> str:
    """The agent may write `name`: not the default branch, not protected, under the prefix.

    Returns the short branch name to write (aliases such as `refs/heads/x` resolved).
    """
    check_ref_safe(name)
    short = short_branch(name)
    folded = short.casefold()
    if folded in {default_branch.casefold(), "head"} or name.casefold() == "head":
        raise RefusedError("protected_branch", f"{name!r} is the default branch {default_branch!r}")
    for pattern in boundary.protected:
        if glob_match(pattern, short, fold=True):
            raise RefusedError("protected_branch", f"{name!r} matches protected {pattern!r}")
    if short.startswith("refs/") or (name.startswith("refs/") and short == name):
        raise RefusedError("branch_prefix", f"{name!r} is not a branch under refs/heads/")
    if not short.startswith(boundary.branch_prefix) or short == boundary.branch_prefix:
        raise RefusedError(
            "branch_prefix",
            f"{name!r} is outside the agent's prefix; use a name like "
            f"'{boundary.branch_prefix}fix-something'",
        )
    check_branch_name(short)
    return short


def check_pull_base(base: str, boundary: Boundary, default_branch: str) -> str:
    """A pull request may target the default branch, or a branch an `--allow-base` glob names
    that no protected pattern names. Checked when it is opened and again before a merge, since
    a merge moves the base. Returns the short base name.
    """
    check_ref_safe(base)
    short = short_branch(base)
    if short == default_branch:
        return short
    if short.startswith("refs/") or (base.startswith("refs/") and short == base):
        raise RefusedError("pull_request_base", f"base {base!r} is not a branch under refs/heads/")
    if short.casefold() in {default_branch.casefold(), "head"}:
        raise RefusedError(
            "pull_request_base", f"base {base!r} is an alias; name the default branch exactly"
        )
    for pattern in boundary.protected:
        if glob_match(pattern, short, fold=True):
            raise RefusedError(
                "pull_request_base", f"base {base!r} matches protected {pattern!r}; never a base"
            )
    if not any(glob_match(pattern, short) for pattern in boundary.allow_base):
        raise RefusedError(
            "pull_request_base",
            f"base {base!r} is not the default branch {default_branch!r} and no --allow-base "
            "glob names it; target the default branch",
        )
    return short


def check_pull_head_repo(head_repo: str | None, repo: str) -> None:
    """The head branch must live in this repository: a fork's `nightfix/x` is not the agent's."""
    if not head_repo or head_repo.casefold() != repo.casefold():
        raise RefusedError(
            "fork_pull_request",
            f"the head branch lives in {head_repo or 'a deleted repository'!r}, not {repo!r}; "
            "only the agent's own pull requests from this repository",
        )


def check_pull_ours(pull: PullRequest, repo: str, boundary: Boundary, default_branch: str) -> None:
    """A pull request the agent may comment on or merge: its head is an agent branch of this
    repository (not a fork's branch of the same name) and its base is an allowed base."""
    check_pull_head_repo(pull.head_repo, repo)
    check_branch_writable(pull.head, boundary, default_branch)
    check_pull_base(pull.base, boundary, default_branch)


PERMISSIONS: tuple[Permission, ...] = ("admin", "maintain", "write", "triage", "read", "none")


def permission_level(raw: str | None) -> Permission:
    """A person's permission as one of `PERMISSIONS`; anything unknown is `none` (fail closed).

    GitHub's legacy answer names `maintain` as `write` and `triage` as `read`, and a custom role
    may come back under another name: only the names listed here count as what they say.
    """
    value = (raw or "").strip().casefold()
    for level in PERMISSIONS:
        if value == level:
            return level
    return "none"


def scopes_allow_push(scopes: list[str] | None, private: bool) -> bool:
    """Whether a token's OAuth scopes let it push (GitHub's ``X-OAuth-Scopes``).

    The repository's ``permissions.push`` is the *user's* role, not the token's: a classic
    token without ``repo`` (or ``public_repo`` on a public repository) still shows it. Classic
    and OAuth tokens list their scopes; fine-grained and App tokens send no such header
    (``None``): their write permission cannot be read without writing, so the role decides.
    """
    if scopes is None:
        return True
    granted = {scope.strip() for scope in scopes}
    return "repo" in granted or (not private and "public_repo" in granted)


def check_path_safe(path: str, *, allow_root: bool = False) -> str:
    """A repository-relative path: no absolute path, no `..`, no `.git/`, no option injection.

    Returns the path normalised (leading `./` and a trailing `/` dropped).
    """
    check_no_control(path, "path")
    clean = path.strip()
    while clean.startswith("./"):
        clean = clean[2:]
    clean = clean.rstrip("/") if clean not in ("", "/") else clean
    if clean in ("", "."):
        if allow_root:
            return ""
        raise RefusedError("unsafe_path", "the path is empty; give a file path in the repository")
    if clean.startswith("/") or "\\" in clean or re.match(r"^[A-Za-z]:", clean):
        raise RefusedError("unsafe_path", f"{path!r} is absolute; give a repository-relative path")
    if clean.startswith("-"):
        raise RefusedError("option_injection", f"path {path!r} begins with '-'")
    parts = clean.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise RefusedError("unsafe_path", f"{path!r} holds '..', '.' or an empty component")
    if any(p.casefold() == ".git" for p in parts):
        raise RefusedError("git_dir", f"{path!r} is inside .git/")
    return clean


def check_path_writable(path: str, boundary: Boundary) -> str:
    """A path the agent may add, change or delete: safe and outside every `--forbid` glob."""
    clean = check_path_safe(path)
    for pattern in boundary.forbid:
        if glob_match(pattern, clean, fold=True):
            raise RefusedError("forbidden_path", f"{clean!r} matches forbidden {pattern!r}")
    return clean


def check_patch_files(paths: Sequence[str], boundary: Boundary) -> list[str]:
    """Every path a patch touches (old and new names) passes the checks of `commit_files`."""
    check_commit_caps([None] * len(paths), boundary)
    return [check_path_writable(p, boundary) for p in paths]


REGULAR_FILE_MODES = ("100644", "100755")


def check_file_mode(path: str, mode: str) -> None:
    """A patch writes regular files only, as `commit_files` does. A symlink could point tests
    or CI at files of the machine they run on (`~/.ssh/id_rsa`, `/proc/self/environ`), and a
    submodule pulls in code from another repository; neither is a fix to review line by line.
    """
    if mode not in REGULAR_FILE_MODES:
        kind = {"120000": "a symbolic link", "160000": "a submodule"}.get(mode, f"mode {mode}")
        raise RefusedError("file_mode", f"the patch makes {path!r} {kind}; only regular files")


def check_object_id(value: str, what: str) -> str:
    """A full git object id (40 hex digits): approvals bind exact ids, never a ref or prefix."""
    if not _OBJECT_ID.fullmatch(value):
        raise InvalidInputError(f"{what} {value!r} is not a full 40-character git object id")
    return value


def check_tree_approved(tree: str, expected_tree: str, base: str) -> None:
    """The tree about to be committed is the tree that was approved, id for id.

    Anything else means the content changed after approval (or the patch, base or server
    state differs): nothing may be written and the change must be approved again.
    """
    if tree != expected_tree:
        raise RefusedError(
            "tree_mismatch",
            f"the patch on {base[:12]} yields tree {tree}, but the approved tree is "
            f"{expected_tree}; nothing was written: preview the patch again and have the "
            "change approved again",
        )


def check_commit_caps(sizes: Sequence[int | None], boundary: Boundary) -> None:
    """At most `max_files_per_commit` files, each at most `max_file_bytes` (None = deletion)."""
    if not sizes:
        raise RefusedError("empty_commit", "a commit needs at least one change")
    if len(sizes) > boundary.max_files_per_commit:
        raise RefusedError(
            "max_files_per_commit",
            f"{len(sizes)} files exceed the cap of {boundary.max_files_per_commit}; split it",
        )
    for size in sizes:
        if size is not None and size > boundary.max_file_bytes:
            raise RefusedError(
                "max_file_bytes", f"a file of {size} bytes exceeds {boundary.max_file_bytes}"
            )


def check_repo_allowed(repo: str | None, served: Iterable[str]) -> str:
    """Only the repositories the server was started with; `None` only if it serves exactly one."""
    names = list(served)
    if repo is None:
        if len(names) == 1:
            return names[0]
        raise RefusedError("repo_required", f"this server serves {names}; pass `repo`")
    check_no_control(repo, "repo")
    for name in names:
        if name.casefold() == repo.casefold():
            return name
    raise RefusedError("repo_not_served", f"{repo!r} is not one of the served {names}")


@lru_cache(maxsize=256)
def _glob_spec(pattern: str, fold: bool) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines([pattern.casefold() if fold else pattern])


def check_glob(pattern: str, what: str) -> str:
    """A glob from a caller: one gitignore-style pattern, never empty, a comment or a negation."""
    check_no_control(pattern, what)
    problem = glob_problem(pattern)
    if problem:
        raise InvalidInputError(
            f"{what} {pattern!r} {problem}; give a pattern such as 'src/**/*.py' or '*.pem'"
        )
    return pattern


def glob_match(pattern: str, value: str, *, fold: bool = False) -> bool:
    """Match a path or branch name against one gitignore-style glob (the `pathspec` library).

    The one glob semantics of this server: a pattern without a slash matches at any depth
    (`*.pem` matches `deploy.pem` and `keys/a.pem`), `**/` matches zero or more directories,
    `*` stays within one component, and a pattern matching a directory matches everything
    under it (`release/*` also protects `release/1.0/hotfix`). Negations never match.
    """
    if glob_problem(pattern):
        return False
    return _glob_spec(pattern, fold).match_file(value.casefold() if fold else value)


# -- credentials ------------------------------------------------------------------------------
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def check_private_key_file(path: Path) -> str | None:
    """A GitHub App key others can read is refused; one its group can read is a warning (returned).

    The key signs for every repository the App is installed on, so a key every local user can
    read (or anyone can replace) is refused outright, as OpenSSH refuses an open private key. A
    group-readable key is a deliberate set-up (a container secret shared with the service's
    group), so it is allowed with a warning.
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise RefusedError(
            "private_key_file", f"cannot read the App's key file {str(path)!r}: {exc.strerror}"
        ) from None
    if not stat.S_ISREG(mode):
        raise RefusedError("private_key_file", f"{str(path)!r} is not a regular file")
    if mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP):
        raise RefusedError(
            "private_key_file",
            f"the App's key file {str(path)!r} is readable or writable by others "
            f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`",
        )
    if mode & stat.S_IRGRP:
        return f"the App's key file {str(path)!r} is readable by its group; `chmod 600` if unmeant"
    return None


def check_api_url(url: str) -> str:
    """Credentials go only over https (plain http only to this machine, for local stand-ins)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url.rstrip("/")
    raise RefusedError(
        "plaintext_credentials",
        f"API URL {url!r} is not https: the token would cross the network in clear text; "
        "give https://api.github.com or https://HOST/api/v3 (GitHub Enterprise)",
    )


def check_installation_covers(repo: str, given: int | None, found: int) -> int:
    """`--installation-id`, when given, must be the App installation GitHub names for `repo`."""
    if given is not None and given != found:
        raise RefusedError(
            "installation_mismatch",
            f"{repo} is covered by installation {found} of this App, not {given}: pass "
            f"--installation-id {found}, or leave it out to look it up",
        )
    return found
