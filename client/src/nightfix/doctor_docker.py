"""The Docker side of ``nightfix doctor``: the daemon the sandbox server will use, its runtime,
and its image — read from the sandbox server's command line and environment as the policy
starts it (``--image``, ``--runtime``, ``NIGHTFIX_SANDBOX_IMAGE``, ``DOCKER_HOST``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nightfix.policy import ServerSpec, expand_vars
from nightfix.servers import server_environment

if TYPE_CHECKING:
    from nightfix.doctor import Check

DEFAULT_IMAGE = "nightfix-sandbox:base"


def flag_value(argv: list[str], flag: str) -> str | None:
    """The value of ``--flag V`` or ``--flag=V`` in ``argv`` (the last one wins, as click's)."""
    value = None
    for i, part in enumerate(argv):
        if part == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif part.startswith(flag + "="):
            value = part[len(flag) + 1 :]
    return value


def sandbox_checks(spec: ServerSpec) -> list[Check]:
    from nightfix.doctor import Check

    if spec.command is None:
        detail = "the sandbox server is remote (url): check Docker on its host"
        return [Check(name="docker", status="skip", detail=detail)]
    argv = [expand_vars(part) for part in spec.command]
    env = server_environment(spec)
    image = flag_value(argv, "--image") or env.get("NIGHTFIX_SANDBOX_IMAGE") or DEFAULT_IMAGE
    runtime = flag_value(argv, "--runtime") or "runc"
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:  # pragma: no cover - docker is a dependency of the client
        return [Check(name="docker", status="FAIL", detail="the docker package is missing")]
    where = env.get("DOCKER_HOST", "the default socket")
    try:
        client = docker.DockerClient.from_env(environment=env, timeout=15)
        client.ping()
        runtimes = set((client.info().get("Runtimes") or {}).keys())
    except DockerException as exc:
        return [
            Check(
                name="docker",
                status="FAIL",
                detail=f"Docker does not answer at {where}: {str(exc)[:200]}",
                fix="start dockerd, or set DOCKER_HOST in servers.sandbox.env",
            )
        ]
    checks = [runtime_check(runtime, runtimes, where)]
    try:
        client.images.get(image)
        checks.append(Check(name="sandbox image", status="ok", detail=f"{image} exists"))
    except ImageNotFound:
        checks.append(
            Check(
                name="sandbox image",
                status="FAIL",
                detail=f"the sandbox image {image} does not exist on {where}",
                fix=f"build it: `nightfix-sandbox image build --offline --name {image}` "
                "(or correct --image / NIGHTFIX_SANDBOX_IMAGE in servers.sandbox)",
            )
        )
    except DockerException as exc:
        detail = f"cannot inspect {image}: {str(exc)[:200]}"
        checks.append(Check(name="sandbox image", status="FAIL", detail=detail))
    finally:
        client.close()
    return checks


def runtime_check(runtime: str, registered: set[str], where: str) -> Check:
    from nightfix.doctor import Check

    known = ", ".join(sorted(registered)) or "none"
    if runtime == "auto":
        chosen = "runsc" if "runsc" in registered else "runc"
        return Check(name="docker", status="ok", detail=f"answers; --runtime auto uses {chosen}")
    if runtime not in registered:
        return Check(
            name="docker",
            status="FAIL",
            detail=f"answers, but runtime {runtime} is not registered (it has: {known})",
            fix="install it and register it with dockerd (gVisor: `runsc install`, then "
            "restart dockerd), or start the sandbox with --runtime runc",
        )
    return Check(name="docker", status="ok", detail=f"answers at {where}; runtime {runtime}")
