"""The policy file: what a run may see, do and spend, validated strictly.

A policy is data (YAML). Every section is a pydantic model with ``extra="forbid"``, so an
unknown key or a wrong type is an error, reported with the file, line and key by
:func:`load_policy`. Nothing a tool or a model returns can change a loaded policy: the models
are frozen.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nightfix.errors import PolicyError
from nightfix.redaction import SECRET_NAME


class Section(BaseModel):
    """Base for every policy section: strict, frozen, documented fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ServerSpec(Section):
    command: list[str] | None = None
    """Argv that starts the server as an MCP stdio subprocess (``${VAR}`` expanded)."""
    url: str | None = None
    """Streamable-HTTP URL of an already running server, instead of ``command``."""
    headers: dict[str, str] = Field(default_factory=dict)
    """HTTP headers sent to a ``url`` server (``${VAR}`` expanded; their variables are
    secrets, redacted everywhere), e.g. ``Authorization: Bearer ${NIGHTFIX_SANDBOX_TOKEN}``."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment for the subprocess (``${VAR}`` expanded)."""
    inherit_env: list[str] = Field(default_factory=list)
    """Names of host environment variables passed through (e.g. ``GITHUB_TOKEN``); no others are."""
    startup_timeout_s: Annotated[float, Field(gt=0, le=300)] = 30.0
    """How long the server may take to answer ``initialize``."""
    call_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 660.0
    """Upper bound on a single tool call; a call past it is a ``server_error``."""

    @model_validator(mode="after")
    def _one_way_to_reach(self) -> ServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' or 'url'")
        if self.headers and self.url is None:
            raise ValueError("'headers' are sent to a 'url' server only; use 'env' for 'command'")
        for name, value in self.headers.items():
            if ENV_REF.sub("", value) != value:
                continue
            if name.lower() in ("authorization", "cookie") or SECRET_NAME.search(name):
                raise ValueError(
                    f"header {name!r} holds a literal secret: write its value as ${{VAR}} and "
                    "set VAR in the environment, so the policy file holds no credential"
                )
        return self

    def secret_env_names(self) -> set[str]:
        """Variables whose values its headers send: credentials, never to reach a log."""
        return {n for value in self.headers.values() for n in ENV_REF.findall(value)}


class RepositoryPolicy(Section):
    sandbox_source: str = "app"
    """Source name (``nightfix-sandbox serve --source NAME=...``) a run's sandbox is made from."""
    github_repo: str | None = None
    """Repository name passed to the github server's tools (``None``: the server's only repo)."""
    ref: str | None = None
    """Ref the run starts from; ``None`` means the repository's default branch head."""


class ToolsPolicy(Section):
    allow: list[str] = Field(default_factory=list)
    """Namespaced tool names or globs (``errors.*``, ``github.read_file``). Default-deny."""
    deny: list[str] = Field(default_factory=list)
    """Names or globs removed again after ``allow`` (deny wins)."""

    def allows(self, name: str) -> bool:
        """True when ``name`` (``server.tool``) matches an allow entry and no deny entry."""
        hit = any(fnmatch.fnmatchcase(name, pat) for pat in self.allow)
        return hit and not any(fnmatch.fnmatchcase(name, pat) for pat in self.deny)


class BudgetsPolicy(Section):
    max_steps: Annotated[int, Field(ge=1)] = 40
    """Model turns in one run."""
    max_seconds: Annotated[float, Field(gt=0)] = 1200
    """Wall-clock seconds for one run."""
    max_tool_calls: Annotated[int, Field(ge=1)] = 120
    """Tool calls in one run."""
    max_usd: Annotated[float, Field(ge=0)] = 3.0
    """Model spend in one run, from the prices in ``model``."""
    max_input_tokens: Annotated[int, Field(ge=1)] = 2_000_000
    """Input tokens (incl. cache reads/writes) summed over the run."""


class PricesPolicy(Section):
    input: Annotated[float, Field(ge=0)] = 3.0
    """USD per million uncached input tokens."""
    output: Annotated[float, Field(ge=0)] = 15.0
    """USD per million output tokens."""
    cache_write: Annotated[float, Field(ge=0)] = 3.75
    """USD per million tokens written to the prompt cache."""
    cache_read: Annotated[float, Field(ge=0)] = 0.30
    """USD per million tokens read from the prompt cache."""


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ModelPolicy(Section):
    provider: Literal["anthropic", "openai", "bedrock", "vertex", "replay"] = "anthropic"
    """Model provider (``nightfix.models.PROVIDERS``): ``anthropic`` (Messages API),
    ``openai`` (any OpenAI-compatible Chat Completions endpoint), ``bedrock`` / ``vertex``
    (Claude on AWS / Google Cloud); ``replay`` feeds a recorded trace's turns back
    (``--model replay:PATH``)."""
    name: str = "claude-sonnet-4-5"
    """Model name sent to the provider (for Azure OpenAI: the deployment name)."""
    base_url: str | None = None
    """API endpoint (``None``: ``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL``, else the
    provider's own)."""
    api_key_env: str | None = None
    """NAME of the environment variable holding the API key, never the key itself (``None``:
    ``ANTHROPIC_API_KEY`` / ``OPENAI_API_KEY``). Its value is redacted everywhere."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers for gateways; ``${VAR}`` in a value is read from the environment
    when the run starts (and that value is redacted everywhere)."""
    max_tokens: Annotated[int, Field(ge=1, le=64_000)] = 4096
    """Output token cap per model call."""
    prices_per_mtok: PricesPolicy = Field(default_factory=PricesPolicy)
    """Prices used to turn usage into dollars."""
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    """Retries on overload / rate limit before the run stops with ``model_error``."""
    timeout_s: Annotated[float, Field(gt=0)] = 120
    """Timeout of one model call."""

    @model_validator(mode="after")
    def _key_is_a_name(self) -> ModelPolicy:
        check_key_env_is_a_name(self.api_key_env)
        check_base_url(self.base_url)
        return self

    def secret_env_names(self) -> set[str]:
        """Variables whose values are model credentials: the key's and those headers read."""
        names = {n for value in self.headers.values() for n in ENV_REF.findall(value)}
        return names | ({self.api_key_env} if self.api_key_env else set())


def check_key_env_is_a_name(name: str | None, field: str = "api_key_env") -> None:
    """Refuse an API key pasted where the NAME of its variable belongs (it would sit in a
    policy file, in version control, in ``nightfix policy check`` output)."""
    if name is not None and not ENV_NAME.fullmatch(name):
        raise ValueError(
            f"{field} must be the NAME of an environment variable (like OPENAI_API_KEY), "
            "not the key itself; put the key in that variable"
        )


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a host and a port number."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen must be HOST:PORT (like 127.0.0.1:8787), got {text!r}")
    return host, int(port)


def check_base_url(url: str | None) -> None:
    """Only http(s) endpoints; no credentials inside the URL (they would be logged)."""
    if url is None:
        return
    if not re.match(r"https?://[^/\s]+", url):
        raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
    if "@" in url.split("/", 3)[2]:
        raise ValueError("base_url must not carry credentials (user:key@); use api_key_env")


class KillSwitchPolicy(Section):
    file: str = "~/.nightfix/STOP"
    """When this file exists, no run starts and a running one stops at its next step."""
    env: str = "NIGHTFIX_KILL"
    """When this environment variable is set to a non-empty value, likewise."""

    def engaged(self) -> bool:
        """True when either switch is set right now."""
        return bool(os.environ.get(self.env)) or Path(self.file).expanduser().exists()


class AuditPolicy(Section):
    path: str = ".nightfix/audit.jsonl"
    """Append-only JSONL audit log, chained by HMAC-SHA256; its head is anchored in state.db."""
    key_file: str | None = None
    """File holding the chain's secret key (default: ``audit.key`` beside ``state.db``; created
    with mode 0600 for a new log). Keep it where whoever can edit the log cannot read it."""
    key_env: str = "NIGHTFIX_AUDIT_KEY"
    """Environment variable holding the key instead of a file (wins over ``key_file`` when set)."""


class TracesPolicy(Section):
    dir: str = ".nightfix/traces"
    """Directory of per-run trace files."""
    max_tool_result_chars: Annotated[int, Field(ge=1000)] = 20_000
    """Tool results longer than this are cut with a visible marker before the model sees them."""


class StatePolicy(Section):
    db: str = ".nightfix/state.db"
    """SQLite database of runs, watch state, approvals and pinned tool definitions."""


IssueKind = Literal["new", "regressed", "ongoing"]
_DEFAULT_KINDS: tuple[IssueKind, ...] = ("new", "regressed")


class TriggerPolicy(Section):
    poll_interval_s: Annotated[float, Field(gt=0)] = 60
    """Seconds between polls of the error server in ``nightfix watch``."""
    levels: list[str] = Field(default_factory=lambda: ["error", "fatal"])
    """Issue levels that can be critical."""
    environments: list[str] = Field(default_factory=lambda: ["production"])
    """Environments that count; empty means any."""
    min_events: Annotated[int, Field(ge=1)] = 5
    """Minimum events within ``window_minutes``."""
    window_minutes: Annotated[int, Field(ge=1)] = 10
    """Window for ``min_events``."""
    min_events_deduplicated: Annotated[int, Field(ge=1)] = 1
    """Minimum events within ``window_minutes`` for an issue whose SDK drops repeated
    identical errors (the error server's ``sdk_deduplicates``: ``@sentry/node``'s default
    ``Dedupe`` integration). Such an SDK sends one event for a run of identical failures, so
    ``min_events`` could never be reached; each event counts as at least one run. The lower
    of this and ``min_events`` applies."""
    min_users: Annotated[int, Field(ge=0)] = 0
    """Minimum distinct users affected."""
    kinds: list[IssueKind] = Field(default_factory=lambda: list(_DEFAULT_KINDS))
    """Which issues qualify: newly seen, regressed after being resolved, or ongoing."""
    culprit_patterns: list[str] = Field(default_factory=list)
    """Regexes; when given, the issue's culprit must match one."""
    transaction_patterns: list[str] = Field(default_factory=list)
    """Regexes; when given, the issue's transaction must match one."""
    max_issues_per_poll: Annotated[int, Field(ge=1, le=100)] = 100
    """Most recently seen issues a poll looks at (the error server's page size, 1-100)."""
    listen: str | None = None
    """``HOST:PORT`` where ``nightfix watch`` accepts push deliveries (Sentry integration
    webhooks, the collector's ``--notify``); ``None`` polls only. ``--listen`` overrides it."""
    collector_url: str | None = None
    """Base URL of the ``nightfix-errors collect`` that feeds the errors server (e.g.
    ``http://collector:9000`` in deploy/compose.yaml); ``nightfix doctor`` checks that it answers
    ``GET /healthz``. ``None`` skips that check (a Sentry backend, or no collector to check)."""
    webhook_secret_env: str = "NIGHTFIX_WEBHOOK_SECRET"  # noqa: S105 - a variable's name
    """The NAME of the environment variable holding the secret deliveries are signed with
    (Sentry's integration client secret; the collector's ``--notify-secret-env``). Never the
    secret itself. Without the variable set, the listener does not start."""
    webhook_max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 1024 * 1024
    """Largest delivery body accepted (413 beyond)."""
    webhook_max_age_s: Annotated[float, Field(gt=0)] = 300
    """A delivery whose ``Sentry-Hook-Timestamp`` is further than this from now is refused."""

    @model_validator(mode="after")
    def _patterns_compile(self) -> TriggerPolicy:
        check_key_env_is_a_name(self.webhook_secret_env, "webhook_secret_env")
        if self.listen is not None:
            parse_listen(self.listen)
        if self.collector_url is not None and not re.fullmatch(
            r"https?://[^/\s@]+/?", self.collector_url
        ):
            raise ValueError(
                f"collector_url must be http(s)://HOST[:PORT] without a path or credentials, "
                f"got {self.collector_url!r}"
            )
        for pattern in [*self.culprit_patterns, *self.transaction_patterns]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from exc
        return self


class WatchPolicy(Section):
    max_concurrent_runs: Annotated[int, Field(ge=1, le=16)] = 1
    """Runs in flight at once."""
    max_runs_per_day: Annotated[int, Field(ge=0)] = 10
    """Runs started in a rolling 24 h."""
    max_prs_per_day: Annotated[int, Field(ge=0)] = 5
    """Pull requests opened in a rolling 24 h."""
    backoff_initial_s: Annotated[float, Field(gt=0)] = 5
    """First back-off after a failing server; doubles, with jitter."""
    backoff_max_s: Annotated[float, Field(gt=0)] = 600
    """Back-off ceiling."""
    retry_after_hours: Annotated[float, Field(ge=0)] = 24
    """Hours a run that ended with a verdict (no fix, verification failed, denied …) keeps
    its issue from a new run; runs cut short (interrupted, server error, kill switch) never do."""


class VerificationPolicy(Section):
    require_regression_test: bool = True
    """Each test id the diff adds or changes must fail on the original code (in its body, not
    at collection or setup) and pass with the fix."""
    max_changed_files: Annotated[int, Field(ge=1)] = 5
    """Most files a fix may touch."""
    max_changed_lines: Annotated[int, Field(ge=1)] = 200
    """Most added + removed lines."""
    forbidden_paths: list[str] = Field(
        default_factory=lambda: [
            ".github/workflows/**",
            ".github/actions/**",
            ".github/CODEOWNERS",
            ".gitlab-ci.yml",
            "**/.env*",
            "**/*.pem",
            "**/*.key",
            "**/secrets*",
        ]
    )
    """Globs (gitignore-style) no fix may touch."""
    allow_hidden_text: bool = False
    """Let a fix add invisible or bidirectional characters (refused by default: a reviewer
    cannot see them)."""
    protected_paths: list[str] = Field(default_factory=list)
    """Test infrastructure besides what the sandbox's toolchain names (gitignore-style)."""
    protected_changes: Literal["refuse", "approve"] = "refuse"
    """A fix touching test infrastructure is refused, or (``approve``) waits for a person with
    the change called out in the approval and the pull request."""
    test_command: str | None = None
    """Test command for the runs of record; ``None``: the sandbox's toolchain runner."""
    test_paths: list[str] | None = None
    """Globs that identify test files in a diff; ``None``: the sandbox toolchain's."""


class AutoMergePolicy(Section):
    max_changed_lines: Annotated[int, Field(ge=1)] = 30
    """A change larger than this is not low-risk."""
    max_changed_files: Annotated[int, Field(ge=1)] = 3
    """A change touching more files than this is not low-risk."""
    allowed_paths: list[str] = Field(default_factory=lambda: ["**"])
    """Every changed path must match one of these globs."""


class DeliveryPolicy(Section):
    branch_prefix: str = "nightfix/"
    """Prefix of the agent's branches (must match the github server's ``--branch-prefix``)."""
    auto_merge: AutoMergePolicy = Field(default_factory=AutoMergePolicy)
    """Rules that make a change low-risk enough to merge in trust phase 4."""
    max_followups_per_pr: Annotated[int, Field(ge=0)] = 3
    """Follow-up runs one pull request may get from review feedback; 0 disables follow-ups."""
    followup_mention: str = Field(default="@nightfix", min_length=2, pattern=r"^\S+$")
    """A comment mentioning this word (or a review requesting changes) asks for a follow-up."""


ApprovalStep = Literal["open_pull_request", "merge"]
_DEFAULT_APPROVALS: tuple[ApprovalStep, ...] = ("open_pull_request",)


class ApprovalsPolicy(Section):
    require: list[ApprovalStep] = Field(default_factory=lambda: list(_DEFAULT_APPROVALS))
    """Delivery steps that wait in ``awaiting_approval`` until ``nightfix approve``."""
    timeout_minutes: Annotated[int, Field(ge=1)] = 24 * 60
    """An approval request older than this is refused."""


class NotifyPolicy(Section):
    webhook_url: str | None = None
    """Slack-compatible incoming webhook; ``None`` prints notifications instead."""
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 10
    """Timeout of one webhook post."""


class Policy(Section):
    version: Literal[1] = 1
    """Policy format version."""
    extends: str | None = None
    """Another policy file (relative to this one) whose values this file overrides, key by key."""
    trust_phase: Literal[1, 2, 3, 4] = 3
    """1 report only, 2 draft PR, 3 ready PR, 4 ready PR + low-risk auto-merge."""
    servers: dict[Literal["errors", "github", "sandbox"], ServerSpec] = Field(default_factory=dict)
    """How to start or reach each MCP server; tools appear as ``<server>.<tool>``."""
    repository: RepositoryPolicy = Field(default_factory=RepositoryPolicy)
    """Which repository a run works on."""
    tools: ToolsPolicy = Field(default_factory=ToolsPolicy)
    """Tool allowlist (default-deny)."""
    budgets: BudgetsPolicy = Field(default_factory=BudgetsPolicy)
    """Run budgets; crossing one stops the run with its name as the stop reason."""
    model: ModelPolicy = Field(default_factory=ModelPolicy)
    """Model provider, name and prices."""
    kill_switch: KillSwitchPolicy = Field(default_factory=KillSwitchPolicy)
    """File and environment variable that stop everything."""
    audit: AuditPolicy = Field(default_factory=AuditPolicy)
    """Audit log location."""
    traces: TracesPolicy = Field(default_factory=TracesPolicy)
    """Trace location and tool-result caps."""
    state: StatePolicy = Field(default_factory=StatePolicy)
    """Client state database."""
    trigger: TriggerPolicy = Field(default_factory=TriggerPolicy)
    """When an error issue is critical enough for a run."""
    watch: WatchPolicy = Field(default_factory=WatchPolicy)
    """Bounds of ``nightfix watch``."""
    verification: VerificationPolicy = Field(default_factory=VerificationPolicy)
    """The gate a fix must pass before anything leaves the sandbox."""
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)
    """Branch naming and auto-merge rules."""
    approvals: ApprovalsPolicy = Field(default_factory=ApprovalsPolicy)
    """Steps that wait for a person."""
    notify: NotifyPolicy = Field(default_factory=NotifyPolicy)
    """Where notifications go."""

    def secret_env_names(self) -> set[str]:
        """Variables holding credentials the client sends itself (the model's key and
        headers, the servers' headers): redacted from everything whatever their names."""
        names = self.model.secret_env_names()
        for spec in self.servers.values():
            names |= spec.secret_env_names()
        return names


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_vars(text: str, environ: dict[str, str] | None = None) -> str:
    """Expand ``${VAR}`` from the environment; an unset variable is a :class:`PolicyError`."""
    env = os.environ if environ is None else environ

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise PolicyError(f"environment variable {name} is used in the policy but not set")
        return env[name]

    return _VAR.sub(sub, text)


def load_policy(path: str | Path) -> Policy:
    """Read, parse and validate a policy file; errors name the file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc.strerror}") from exc
    return parse_policy(text, source=str(path), base_dir=path.parent)


def parse_policy(
    text: str, source: str = "<policy>", base_dir: Path | None = None, _depth: int = 0
) -> Policy:
    """Validate policy YAML text; see :func:`load_policy`.

    ``extends: FILE`` merges this file over FILE (mappings key by key, lists and scalars
    replaced), so a trust-phase file states only what differs from the default.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise PolicyError(f"{source}: the policy must be a mapping of sections, got {kind}")
    if isinstance(data.get("extends"), str):
        if _depth >= 5:
            raise PolicyError(f"{source}: 'extends' nests more than 5 files deep")
        parent_path = (base_dir or Path.cwd()) / data["extends"]
        try:
            parent_text = parent_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"{source}: extends {parent_path}: {exc.strerror}") from exc
        parent = parse_policy(parent_text, str(parent_path), parent_path.parent, _depth + 1)
        data = _merge(parent.model_dump(mode="json", exclude={"extends"}), data)
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_describe(exc, node, source)) from exc


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, root: yaml.Node | None, source: str) -> str:
    lines = [f"{source}: invalid policy ({exc.error_count()} problem(s)):"]
    for err in exc.errors():
        loc = [part for part in err["loc"] if not (isinstance(part, str) and "[" in part)]
        key = ".".join(str(part) for part in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f"line {line}" if line else "line ?"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see `nightfix policy check --help`)"
        lines.append(f"  {where}: {key}: {message}")
    return "\n".join(lines)


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """Line (1-based) of the deepest YAML node along ``loc`` that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            key_node = next((k for k, _ in node.value if k.value == str(part)), None)
            if match is None:
                return line
            line = key_node.start_mark.line + 1 if key_node is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
