"""Every boundary rule of nightfix-github, as named fail-closed checks.

Each check either returns normally or raises `RefusedError` naming its rule. They are called at
the tool entry (service layer) and again in each backend right where a ref or path is touched.
"""

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from .config import Boundary
from .errors import RefusedError
from .untrusted import clean_text

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_REF_CHARS = re.compile(r"[\s~^:?*\[\\]")
MAX_REF_LENGTH = 255


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
def _glob_regex(pattern: str, fold: bool) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("(/.*)?")
            i += 3
        elif pattern.startswith("**/", i):
            out.append("(.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE if fold else 0)


def glob_match(pattern: str, value: str, *, fold: bool = False) -> bool:
    """Match a path or branch glob: `*` stays within one component, `**` crosses them."""
    return _glob_regex(pattern, fold).match(value) is not None
