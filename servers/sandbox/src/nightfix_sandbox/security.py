"""Named, fail-closed security checks. Each raises SecurityError; none returns a bool.

Called where a request enters (the tool) and again where the file, ref or container
is touched, so a path that slipped past one layer is still refused at the next.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from nightfix_sandbox.config import Limits
from nightfix_sandbox.errors import SandboxError, SecurityError, UnknownSourceError

_REF_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/~^@{}+-]{0,199}$")
_ID_OK = re.compile(r"^sbx-[0-9a-f]{12}$")
_URL_OK = re.compile(r"^(https://|http://|ssh://|git@[A-Za-z0-9.-]+:|file:///)[^\s]+$")


def resolve_in_workspace(root: str, rel: str) -> str:
    """Map a caller's relative path to an absolute path inside `root`, or refuse.

    Refuses absolute paths, any `..` component, NUL bytes and control characters.
    Symlinks are checked separately, inside the sandbox, by `check_realpath_in_workspace`.
    """
    if not isinstance(rel, str) or "\x00" in rel:
        raise SecurityError("path contains a NUL byte; give a plain relative path")
    if any(ord(ch) < 32 for ch in rel):
        raise SecurityError("path contains control characters; give a plain relative path")
    rel = rel.strip() or "."
    if rel.startswith("/"):
        raise SecurityError(f"absolute path {rel!r} refused: paths are relative to the workspace")
    if ".." in rel.split("/"):
        raise SecurityError(f"path {rel!r} refused: '..' components are not allowed")
    full = posixpath.normpath(posixpath.join(root, rel))
    check_realpath_in_workspace(root, full)
    return full


def check_realpath_in_workspace(root: str, real: str) -> str:
    """Refuse a resolved (symlink-free) path that is not `root` or below it."""
    root = posixpath.normpath(root)
    real = posixpath.normpath(real)
    if real != root and not real.startswith(root + "/"):
        raise SecurityError(f"path resolves outside the workspace ({real}); refused")
    return real


def check_repo_include(path: str, including: str | None) -> str:
    """A file one repository file names (``-r other.txt``), as a path inside the repository.

    Relative to the including file's folder; absolute paths and ``..`` above the root are
    refused, so a requirement file cannot make the host read ``/etc/passwd`` or a sibling
    repository.
    """
    folder = posixpath.dirname(including) if including else ""
    joined = posixpath.normpath(posixpath.join(folder, path))
    if "\\" in path or joined == ".." or joined.startswith(("../", "/")):
        where = f" (included from {including})" if including else ""
        raise SecurityError(
            f"requirement file {path!r}{where} is outside the repository; "
            "only files of the repository can be included"
        )
    return joined


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# What decides how the interpreter, the test runner, git or pip start: a repository file must
# not set these for the run of record (a fix could then change how tests run).
_ENV_REFUSED = re.compile(
    r"^(PYTHON|PYTEST|LD_|GIT_|PIP_|COV_CORE|COVERAGE_|NPM_CONFIG_|VITEST|JEST_)"
    r"|^(PATH|HOME|NODE_OPTIONS|NODE_PATH)$",
    re.I,
)


def check_repo_env(env: Mapping[str, str]) -> Mapping[str, str]:
    """Environment variables a repository's sandbox file sets for every sandbox command."""
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise SecurityError(f"env: {name!r} is not a valid variable name")
        if _ENV_REFUSED.match(name):
            raise SecurityError(
                f"env: {name} may not be set by the repository (it changes how Python, Node, "
                "the test runner, git or the package manager start); the operator sets the "
                "sandbox's environment"
            )
        if "\0" in value:
            raise SecurityError(f"env: the value of {name} holds a NUL byte")
    return env


def check_source_known(sources: Mapping[str, str], name: str) -> str:
    """Return where a configured source lives; unknown names (or no sources) are refused."""
    if not sources:
        raise UnknownSourceError("this server has no sources configured; start it with --source")
    if name not in sources:
        known = ", ".join(sorted(sources))
        raise UnknownSourceError(f"unknown source {name!r}; known sources: {known}")
    return sources[name]


def check_ref_safe(ref: str) -> str:
    """Refuse refs that could be read as options, ranges, tree paths or odd syntax."""
    if not isinstance(ref, str) or not _REF_OK.fullmatch(ref):
        raise SecurityError(
            f"ref {ref!r} refused: use a branch, tag, commit sha or HEAD (letters, digits, ._/~^-)"
        )
    if ".." in ref or ref.endswith((".lock", "/", ".")) or ("@{" in ref and "}" not in ref):
        raise SecurityError(f"ref {ref!r} refused: ranges and malformed refs are not allowed")
    return ref


def check_sandbox_id(sandbox_id: str) -> str:
    """Refuse ids that are not of the form the server hands out."""
    if not isinstance(sandbox_id, str) or not _ID_OK.fullmatch(sandbox_id):
        raise SecurityError(
            f"sandbox id {sandbox_id!r} is malformed; use an id from create_sandbox"
        )
    return sandbox_id


def check_git_url(url: str) -> str:
    """Allow plain https/ssh/file git URLs only (no `ext::` helpers, no option injection)."""
    if not _URL_OK.fullmatch(url) or "::" in url:
        raise SecurityError(f"git URL {url!r} refused: use https://, ssh://, git@host: or file:///")
    return url


def check_patch_paths(root: str, patch: str) -> list[str]:
    """Every path a unified diff touches must resolve inside the workspace."""
    paths: list[str] = []
    for line in patch.splitlines():
        if line.startswith(("--- ", "+++ ", "rename from ", "rename to ", "copy to ")):
            raw = line.split(" ", 1)[1] if line.startswith(("---", "+++")) else line.split(" ")[2]
            raw = raw.split("\t")[0].strip()
            if raw == "/dev/null":
                continue
            if raw.startswith(("a/", "b/")) and line.startswith(("---", "+++")):
                raw = raw[2:]
            resolve_in_workspace(root, raw)
            paths.append(raw)
    if not paths:
        raise SecurityError("patch has no file headers (---/+++); send a unified diff")
    return paths


def check_container_hardened(attrs: Mapping[str, Any], volume: str, runtime: str = "runc") -> None:
    """Inspect a created container and refuse to hand it out unless fully hardened."""
    hc = attrs.get("HostConfig", {})
    cfg = attrs.get("Config", {})
    problems = []
    if hc.get("Runtime") != runtime:
        problems.append(f"runtime is {hc.get('Runtime')!r}, not {runtime!r}")
    if hc.get("NetworkMode") != "none":
        problems.append("network is not 'none'")
    if not hc.get("ReadonlyRootfs"):
        problems.append("root filesystem is writable")
    if "ALL" not in (hc.get("CapDrop") or []) or hc.get("CapAdd"):
        problems.append("capabilities not all dropped")
    if "no-new-privileges" not in " ".join(hc.get("SecurityOpt") or []):
        problems.append("no-new-privileges not set")
    if hc.get("Privileged"):
        problems.append("container is privileged")
    if hc.get("Binds") or hc.get("Devices"):
        problems.append("host paths or devices are mounted")
    mounts = attrs.get("Mounts") or []
    if any(m.get("Type") not in ("volume", "tmpfs") for m in mounts) or [
        m.get("Name") for m in mounts if m.get("Type") == "volume"
    ] != [volume]:
        problems.append("mounts other than the sandbox's own volume")
    if any("docker.sock" in str(m.get("Source", "")) for m in mounts):
        problems.append("docker socket mounted")
    if str(cfg.get("User", "")).split(":")[0] in ("", "0", "root"):
        problems.append("runs as root")
    if not hc.get("PidsLimit") or not hc.get("Memory"):
        problems.append("pids or memory limit missing")
    if runtime == "runsc" and not any(
        u.get("Name") == "nproc" and 0 < u.get("Hard", 0) <= hc.get("PidsLimit", 0)
        for u in hc.get("Ulimits") or []
    ):  # gVisor's guest processes are not in the pids cgroup: RLIMIT_NPROC holds them
        problems.append("no process limit (nproc) for the gVisor guest")
    if hc.get("MemorySwap") != hc.get("Memory"):
        problems.append("swap is not disabled")
    if (hc.get("LogConfig") or {}).get("Type") != "none":
        problems.append("command output would be logged on the host")
    if problems:
        raise SecurityError("container is not hardened: " + "; ".join(problems))


def check_init_hardened(hello: Mapping[str, Any], name: str) -> None:
    """Refuse a sandbox whose PID 1 runs as root or can be ptraced by the sandbox user.

    PID 1 carries the command channel; were it dumpable, code under test (same uid) could
    open /proc/1/fd or ptrace it and forge what a command returned.
    """
    problems = []
    if hello.get("uid") in (None, 0):
        problems.append(f"PID 1 runs as uid {hello.get('uid')}")
    if hello.get("dumpable") != 0:
        problems.append("PID 1 is dumpable (its channel could be reached from inside)")
    if problems:
        raise SecurityError(f"sandbox {name} is not hardened: " + "; ".join(problems))


def check_workspace_capped(disk: Mapping[str, Any] | None, limits: Limits, name: str) -> None:
    """Refuse a sandbox whose workspace filesystem is larger than the operator's caps.

    `disk` is what PID 1 measured with statvfs on /sandbox from inside the container
    (`bytes`, `files`): the capacity the filesystem really enforces, not what was asked
    for. A workspace on the host's disk (no cap) shows the host disk's size and is refused.
    """
    if not disk or not isinstance(disk.get("bytes"), int) or not isinstance(disk.get("files"), int):
        raise SecurityError(f"sandbox {name}: the workspace's capacity could not be measured")
    problems = []
    if not 0 < disk["bytes"] <= limits.disk_mb << 20:
        problems.append(f"{disk['bytes'] >> 20} MiB (cap {limits.disk_mb} MiB)")
    if not 0 < disk["files"] <= limits.disk_files + _INODE_ROUNDING:
        problems.append(f"{disk['files']} files (cap {limits.disk_files})")
    if problems:
        raise SecurityError(
            f"sandbox {name}: the workspace is not capped by its filesystem: " + "; ".join(problems)
        )


# mkfs.ext4 rounds the inode count up to fill whole inode tables (one per block group).
_INODE_ROUNDING = 8192


def check_limits_fit_host(limits: Limits, host: Mapping[str, Any]) -> Limits:
    """The operator may raise limits up to what the host has, never beyond.

    `host`: `cpus` and `memory_mb` as the Docker daemon reports them, `disk_free_mb` of
    the filesystem holding the workspace disks. Unknown host figures refuse (fail closed).
    """
    problems = []
    for key, flag, unit in (
        ("cpus", "--cpus", "cores"),
        ("memory_mb", "--memory-mb", "MiB of memory"),
        ("disk_mb", "--disk-mb", "MiB free for workspaces"),
    ):
        have = host.get("disk_free_mb" if key == "disk_mb" else key)
        want = getattr(limits, key)
        if not isinstance(have, int | float) or have <= 0:
            problems.append(f"the host's {unit} are unknown")
        elif want > have:
            problems.append(f"{flag} {want} is more than the host's {have:g} {unit}")
    if problems:
        raise SecurityError("limits refused: " + "; ".join(problems) + "; lower them")
    return limits


MAX_COMMAND_BYTES = 131_071  # Linux's limit on one argument (MAX_ARG_STRLEN), less its NUL


def check_command(command: str) -> str:
    """A shell command must be non-empty, NUL-free and fit in one exec argument."""
    if not command.strip():
        raise SandboxError("command is empty; give a shell command to run")
    if "\x00" in command:
        raise SandboxError("command contains a NUL byte, which no shell command can hold")
    size = len(command.encode("utf-8", "surrogateescape"))
    if size > MAX_COMMAND_BYTES:
        raise SandboxError(
            f"command is {size} bytes, over the {MAX_COMMAND_BYTES} one command can hold; "
            "write a script with write_file and run that instead"
        )
    return command


MAX_TEST_SELECTORS = 500
MAX_SELECTOR = 1000


def check_test_selectors(tests: list[str]) -> list[str]:
    """Test files or ids for run_tests: workspace-relative, never an option to the runner.

    A selector starting with ``-`` would be read as a runner option (``-p plugin``,
    ``--co``), so it is refused, as are absolute paths, ``..`` and control characters.
    """
    if len(tests) > MAX_TEST_SELECTORS:
        raise SecurityError(
            f"{len(tests)} test selectors refused: give at most {MAX_TEST_SELECTORS} "
            "(or none, for the whole suite)"
        )
    for test in tests:
        path = test.split("::", 1)[0]
        if not test.strip() or test != test.strip():
            raise SecurityError(f"test selector {test!r} refused: give a file or test id")
        if test.startswith("-"):
            raise SecurityError(
                f"test selector {test!r} refused: it would be read as a runner option; "
                "give a test file or id relative to the workspace"
            )
        if len(test) > MAX_SELECTOR or any(ord(ch) < 32 or ord(ch) == 127 for ch in test):
            raise SecurityError(
                f"test selector {test[:80]!r} refused: control characters or over "
                f"{MAX_SELECTOR} characters; give a test file or id relative to the workspace"
            )
        if path.startswith("/") or ".." in path.split("/"):
            raise SecurityError(
                f"test selector {test!r} refused: paths are relative to the workspace, without '..'"
            )
    return tests


def check_timeout(timeout_s: int, max_timeout_s: int) -> int:
    """A command timeout must be between 1 s and the server's maximum."""
    if not 1 <= int(timeout_s) <= max_timeout_s:
        raise SecurityError(f"timeout_s={timeout_s} refused: use 1..{max_timeout_s} seconds")
    return int(timeout_s)
