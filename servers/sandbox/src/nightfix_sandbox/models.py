"""Tool results: the stable contract the agent client codes against."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ToolchainInfo(BaseModel):
    """What a sandbox's toolchain says about tests; globs are gitignore-style."""

    name: str = Field(description="Toolchain (language) of the repository, e.g. python.")
    test_globs: list[str] = Field(description="Files that are tests.")
    protected_paths: list[str] = Field(
        description="Test infrastructure: a fix that changes these changes how tests run."
    )
    protected_tables: dict[str, list[str]] = Field(
        default_factory=dict,
        description="File -> dotted TOML tables in it that are test infrastructure.",
    )
    runner_internals: list[str] = Field(
        default_factory=list,
        description="Regexes; an added line of non-test code matching one reaches into the "
        "test runner.",
    )
    tamper_patterns: list[str] = Field(
        default_factory=list,
        description="Regexes; an added line of any file matching one tampers with test runs.",
    )
    disable_markers: list[str] = Field(
        default_factory=list,
        description="Regexes; an added line in an existing test file matching one skips, "
        "xfails or narrows tests.",
    )


class SandboxInfo(BaseModel):
    sandbox_id: str
    source: str
    ref: str
    commit: str = Field(description="The commit the ref resolved to on the host.")
    image: str
    workdir: str
    toolchain: ToolchainInfo
    created_at: str
    last_used_at: str | None = None
    setup_note: str | None = Field(
        None,
        description="Why the project itself is not installed in the sandbox (None: it is, "
        "or it has nothing to install).",
    )


class ExecResult(BaseModel):
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    killed: bool
    reason: str | None = Field(None, description="timeout, oom, pids_limit, signal:NAME, ...")
    truncated: bool
    duration_s: float


class FileContent(BaseModel):
    path: str
    content: str
    total_lines: int
    start_line: int
    end_line: int
    truncated: bool


class FileBytes(BaseModel):
    path: str
    content_base64: str = Field(description="The file's exact bytes from `offset`, base64.")
    offset: int
    size: int = Field(description="The whole file's size in bytes.")
    truncated: bool = Field(description="More bytes follow; ask again from offset + length.")


class WriteResult(BaseModel):
    path: str
    bytes_written: int


class PatchResult(BaseModel):
    files_changed: list[str]


class FileList(BaseModel):
    files: list[str]
    truncated: bool = False
    note: str | None = Field(None, description="What was cut, and how to narrow the listing.")


class Match(BaseModel):
    path: str
    line: int
    text: str


class SearchResult(BaseModel):
    matches: list[Match]
    truncated: bool = False


class DiffResult(BaseModel):
    base_commit: str
    diff: str
    files_changed: list[str]
    added_lines: int
    removed_lines: int
    truncated: bool = False
    note: str | None = Field(None, description="What was cut, and how to narrow the diff.")


Outcome = Literal["passed", "failed", "error", "skipped"]


class TestResult(BaseModel):
    """One test id as its runner reported it."""

    test_id: str = Field(description="The runner's own id (pytest: path::Class::name).")
    outcome: Outcome = Field(
        description="failed: the test body failed; error: collection, import, fixture or setup."
    )
    exception: str | None = Field(None, description="Exception type of a failure or error.")
    message: str = ""
    detail: str = Field("", description="Traceback and captured output (capped).")


class TestFailure(BaseModel):
    test_id: str
    outcome: Outcome = "failed"
    exception: str | None = None
    message: str
    output_tail: str


class TestReport(BaseModel):
    command: str
    exit_code: int
    passed: int
    failed: int
    errors: int
    skipped: int
    total: int
    failures: list[TestFailure]
    duration_s: float
    workspace_digest: str = Field(description="sha256 over the workspace files (not mtimes).")
    output_tail: str
    timed_out: bool
    tests: list[str] = Field(
        default_factory=list, description="The test files or ids asked for (empty: the suite)."
    )
    report_status: Literal["ok", "missing", "unparsable", "inconsistent", "runner_error"] = Field(
        "ok",
        description="ok: the structured report agrees with the runner's exit status and "
        "summary; anything else: it cannot be believed (see report_problem).",
    )
    report_problem: str | None = None
    results: list[TestResult] | None = Field(
        None, description="Every test id and its outcome (only with report='all')."
    )


class DestroyResult(BaseModel):
    sandbox_id: str
    destroyed: bool


class SandboxList(BaseModel):
    sandboxes: list[SandboxInfo]
