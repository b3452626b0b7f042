"""``nightfix doctor``: check a deployment end to end and say what to fix.

One :class:`Check` per thing that must work before the first incident: the policy validates;
the kill switch is off; each configured server starts (real MCP, as a run starts it) and
offers the tools the policy allows; the repository can be read and its credentials may push
an agent branch (asked of the server, which judges without writing); the errors backend
answers, and so does its collector (``trigger.collector_url``); Docker answers with the
sandbox's runtime registered and its image present; the push listener (``trigger.listen``)
answers. Nothing is written anywhere: no branch, no sandbox, no run.
"""

from __future__ import annotations

import asyncio
import fnmatch
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from nightfix.doctor_collector import check_collector
from nightfix.doctor_docker import sandbox_checks
from nightfix.doctor_webhook import check_webhook
from nightfix.errors import NightfixError
from nightfix.policy import Policy, ServerSpec, load_policy
from nightfix.servers import ServerPool

Status = Literal["ok", "FAIL", "skip"]


class Check(BaseModel):
    """One line of the report."""

    name: str
    status: Status
    detail: str
    fix: str | None = None
    """What to do about a FAIL (None when there is nothing to do)."""


async def diagnose(policy_path: Path) -> list[Check]:
    """Every check, in the order a person would fix them."""
    try:
        policy = load_policy(policy_path)
    except NightfixError as exc:
        fix = f"correct what is named above; `nightfix policy check {policy_path}` re-checks it"
        return [Check(name="policy", status="FAIL", detail=str(exc), fix=fix)]
    checks = [Check(name="policy", status="ok", detail=f"{policy_path} is valid")]
    checks.append(check_kill_switch(policy))
    checks += check_unconfigured_servers(policy)
    per_server = await asyncio.gather(
        *(check_server(name, spec, policy) for name, spec in policy.servers.items())
    )
    for found in per_server:
        checks += found
    checks.append(Check(**await asyncio.to_thread(check_collector, policy)))
    if "sandbox" in policy.servers:
        checks += sandbox_checks(policy.servers["sandbox"])
    checks.append(Check(**await asyncio.to_thread(check_webhook, policy)))
    return checks


def check_kill_switch(policy: Policy) -> Check:
    switch = policy.kill_switch
    file = Path(switch.file).expanduser()
    if not policy.kill_switch.engaged():
        return Check(name="kill_switch", status="ok", detail=f"off (no {file}, {switch.env} unset)")
    if file.exists():
        detail, fix = f"on: {file} exists", f"remove it (`rm {file}`) to let runs start"
    else:
        detail, fix = f"on: {switch.env} is set", f"unset {switch.env} to let runs start"
    return Check(name="kill_switch", status="FAIL", detail=detail, fix=fix)


def check_unconfigured_servers(policy: Policy) -> list[Check]:
    """A server the policy allows tools of, but does not configure."""
    checks = []
    for server in ("errors", "github", "sandbox"):
        named = [p for p in policy.tools.allow if p.split(".", 1)[0] == server]
        if named and server not in policy.servers:
            checks.append(
                Check(
                    name=f"server {server}",
                    status="FAIL",
                    detail=f"tools.allow names {named[0]} but servers.{server} is not configured",
                    fix=f"add servers.{server} (command or url) to the policy",
                )
            )
    return checks


async def check_server(name: str, spec: ServerSpec, policy: Policy) -> list[Check]:
    """Start the server as a run would, compare its tools with the policy, then probe it."""
    with tempfile.TemporaryFile("w+") as errlog:
        try:
            async with ServerPool({name: spec}, errlog=errlog) as pool:
                offered = {tool.name for tool in pool.tools.get(name, [])}
                checks = [tools_check(name, offered, policy)]
                probe = PROBES.get(name)
                if probe is not None:
                    checks.append(await probe(pool, policy))
                return checks
        except NightfixError as exc:
            return [
                Check(
                    name=f"server {name}",
                    status="FAIL",
                    detail=_where(spec) + _plain(str(exc), name) + _last_line(errlog),
                    fix=_server_fix(name, spec),
                )
            ]


def _where(spec: ServerSpec) -> str:
    return f"cannot reach {spec.url}: " if spec.url is not None else ""


def _server_fix(name: str, spec: ServerSpec) -> str:
    if spec.url is not None:  # a running service, not a subprocess doctor starts
        return (
            f"start the server at {spec.url} (in deploy/compose.yaml: `docker-compose -f "
            f"deploy/compose.yaml up -d {name}`), or correct servers.{name}.url"
        )
    return f"fix servers.{name} in the policy (its command, flags and environment)"


def _plain(message: str, name: str) -> str:
    """`server NAME: ServerError: server NAME: could not start …` said once."""
    return message.replace(f"server {name}: ", "").replace("ServerError: ", "")


def _last_line(errlog: Any) -> str:
    """The server's own last word on stderr (its one-line error), shortened."""
    errlog.seek(0)
    lines = [line.strip() for line in errlog.read().splitlines() if line.strip()]
    return f" (server said: {lines[-1][:300]})" if lines else ""


def tools_check(server: str, offered: set[str], policy: Policy) -> Check:
    """Every tool `tools.allow` names for this server is offered (a glob: at least one)."""
    missing = []
    for pattern in policy.tools.allow:
        prefix, _, tool = pattern.partition(".")
        if prefix != server:
            continue
        if not any(fnmatch.fnmatchcase(name, tool) for name in offered):
            missing.append(pattern)
    if missing:
        return Check(
            name=f"server {server}",
            status="FAIL",
            detail=f"started, but does not offer {', '.join(missing)}, which tools.allow names",
            fix=f"check the flags in servers.{server} (--read-only hides write tools), "
            "or remove them from tools.allow",
        )
    allowed = sum(policy.tools.allows(f"{server}.{n}") for n in offered)
    detail = f"started; offers {len(offered)} tools, {allowed} allowed by the policy"
    return Check(name=f"server {server}", status="ok", detail=detail)


async def probe_repository(pool: ServerPool, policy: Policy) -> Check:
    """Read the repository, and ask the server whether its credentials may push (no write)."""
    args = {"repo": policy.repository.github_repo} if policy.repository.github_repo else {}
    try:
        info = await pool.call("github", "repo_info", args)
    except NightfixError as exc:
        return Check(
            name="repository",
            status="FAIL",
            detail=f"cannot read the repository: {exc}",
            fix="check repository.github_repo and the server's --repo/--local and credentials",
        )
    head = f"{info['repo']} readable ({info['default_branch']} at {info['head_commit'][:12]})"
    if info.get("can_push") is not True:
        return Check(
            name="repository",
            status="FAIL",
            detail=f"{head}, but its credentials may not push an agent branch",
            fix="give the token write access to contents (a fine-grained token: Contents and "
            "Pull requests read and write), or the GitHub App contents: write and "
            "pull_requests: write; and do not serve it --read-only",
        )
    return Check(name="repository", status="ok", detail=f"{head}; may push agent branches")


async def probe_errors(pool: ServerPool, policy: Policy) -> Check:
    try:
        page = await pool.call("errors", "list_issues", {"limit": 1})
    except NightfixError as exc:
        return Check(
            name="errors backend",
            status="FAIL",
            detail=f"list_issues failed: {exc}",
            fix="check the errors server's store (--db) or its Sentry credentials",
        )
    seen = "issues" if page.get("issues") else "no issues yet"
    return Check(name="errors backend", status="ok", detail=f"answers (list_issues: {seen})")


PROBES = {"github": probe_repository, "errors": probe_errors}


def render(checks: list[Check]) -> str:
    """One line per check: status, name, what was found, and for a FAIL what to do."""
    lines = []
    for check in checks:
        fix = f" — to fix: {check.fix}" if check.fix and check.status == "FAIL" else ""
        detail = check.detail.replace("\n", " ")
        lines.append(f"{check.status:<4}  {check.name:<16} {detail}{fix}")
    failed = sum(c.status == "FAIL" for c in checks)
    lines.append(f"{failed} check(s) failed" if failed else "all checks passed")
    return "\n".join(lines)
