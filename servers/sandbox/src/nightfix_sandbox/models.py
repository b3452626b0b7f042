"""Tool results: the stable contract the agent client codes against."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SandboxInfo(BaseModel):
    sandbox_id: str
    source: str
    ref: str
    commit: str = Field(description="The commit the ref resolved to on the host.")
    image: str
    workdir: str
    created_at: str
    last_used_at: str | None = None


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


class TestFailure(BaseModel):
    test_id: str
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


class DestroyResult(BaseModel):
    sandbox_id: str
    destroyed: bool


class SandboxList(BaseModel):
    sandboxes: list[SandboxInfo]
