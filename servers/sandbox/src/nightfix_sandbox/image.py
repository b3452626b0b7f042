"""`image build`: the base sandbox image, offline (debootstrap) or from a Python image."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import docker
import docker.errors

from nightfix_sandbox.config import SANDBOX_UID, cache_dir
from nightfix_sandbox.errors import ImageError

log = logging.getLogger(__name__)

SUITE = "bookworm"
MIRROR = os.environ.get("NIGHTFIX_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("python3", "python3-venv", "python3-pip", "git")
ROOTFS_REPO = "nightfix-sandbox-rootfs"
BASE_TOOLS = ("pytest",)

_SETUP = f"""\
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8 HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PIP_NO_INDEX=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd -g {SANDBOX_UID} sandbox \\
 && useradd -u {SANDBOX_UID} -g {SANDBOX_UID} -M -d /tmp -s /bin/sh sandbox \\
 && mkdir -p /sandbox/workspace /sandbox/.stage \\
 && chown {SANDBOX_UID}:{SANDBOX_UID} /sandbox/workspace /sandbox/.stage \\
 && chmod 755 /sandbox
WORKDIR /sandbox/workspace
USER {SANDBOX_UID}:{SANDBOX_UID}
LABEL nightfix.sandbox.image=base
"""

DEFAULT_BASE = "python:3.11-slim"
# One Dockerfile for every base: pytest comes from wheels fetched on the host, so the build
# needs the network only to pull the base and, when the base lacks git, to apt-get it.
DOCKERFILE = f"""\
FROM {{base}}
USER root
COPY wheels /tmp/wheels
RUN (command -v git >/dev/null || (apt-get update \\
      && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*)) \\
 && python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-index --find-links /tmp/wheels {" ".join(BASE_TOOLS)} \\
 && rm -rf /tmp/wheels /root/.cache
{_SETUP}"""


def _progress(msg: str) -> None:
    print(f"[nightfix-sandbox] {msg}", file=sys.stderr, flush=True)


def image_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def rootfs_key() -> str:
    """Identifies a rootfs: suite, variant, packages and mirror."""
    text = f"{SUITE}|minbase|{','.join(PACKAGES)}|{MIRROR}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def rootfs_tarball() -> Path:
    """Cache path of the debootstrap rootfs tarball."""
    return cache_dir() / "rootfs" / f"{SUITE}-minbase-{rootfs_key()}.tar"


def build_rootfs(target: Path) -> None:
    """debootstrap a minbase rootfs with the packages and tar it to `target` (cached)."""
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise ImageError("debootstrap needs root: run `image build --offline` as root")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nightfix-rootfs-", dir=target.parent) as tmp:
        root = Path(tmp) / "root"
        _progress(f"debootstrap {SUITE} minbase + {', '.join(PACKAGES)} (a few minutes)")
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"]
        _run([*cmd, SUITE, str(root), MIRROR])
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (root / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        partial = target.with_suffix(".partial")
        _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."])
        partial.rename(target)
    _progress(f"rootfs cached at {target}")


def download_wheels(dest: Path, requirements: list[str]) -> None:
    """Fetch wheels on the host (cached) so the image build needs no network."""
    cache = cache_dir() / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    _progress(f"pip download {' '.join(requirements)}")
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
    _run([*pip, "--find-links", str(cache), "-d", str(cache), *requirements])
    dest.mkdir(parents=True, exist_ok=True)
    for whl in cache.glob("*.whl"):
        shutil.copy2(whl, dest / whl.name)


def build_image(
    client: docker.DockerClient,
    name: str,
    *,
    offline: bool,
    if_missing: bool,
    base: str | None = None,
) -> str:
    """Build the base image `name`; returns its id. Idempotent with `if_missing`.

    offline: FROM a debootstrapped Debian rootfs, built with no network at all.
    Otherwise FROM `base` (default python:3.11-slim; any Debian-based image with python3,
    e.g. a registry mirror's copy), which Docker pulls when it is not local.
    """
    if offline and base:
        raise ImageError("--offline builds its own base; drop --base, or drop --offline")
    if if_missing and image_exists(client, name):
        _progress(f"image {name} already exists")
        return str(client.images.get(name).id)
    with tempfile.TemporaryDirectory(prefix="nightfix-image-") as tmp:
        ctx = Path(tmp)
        base = import_rootfs(client) if offline else base or DEFAULT_BASE
        download_wheels(ctx / "wheels", list(BASE_TOOLS))
        (ctx / "Dockerfile").write_text(DOCKERFILE.format(base=base))
        _progress(f"building {name} from {base}")
        image_id = build_context(client, ctx, name, network=not offline)
    _progress(f"image {name} ready ({image_id[:19]})")
    return image_id


def import_rootfs(client: docker.DockerClient) -> str:
    """The debootstrapped rootfs as a local image (built and imported once); its name."""
    ref = f"{ROOTFS_REPO}:{SUITE}-{rootfs_key()}"
    if image_exists(client, ref):
        return ref
    tarball = rootfs_tarball()
    if not tarball.exists():
        build_rootfs(tarball)
    _progress(f"docker import {tarball.name} as {ref}")
    client.api.import_image_from_file(str(tarball), repository=ROOTFS_REPO, tag=ref.split(":")[1])
    if not image_exists(client, ref):
        raise ImageError(f"docker import of {tarball} did not produce {ref}")
    return ref


def build_context(
    client: docker.DockerClient, ctx: Path, tag: str, *, network: bool, labels: Any = None
) -> str:
    """Build a Dockerfile context with progress on stderr; no network unless asked."""
    stream = client.api.build(
        path=str(ctx),
        tag=tag,
        rm=True,
        forcerm=True,
        decode=True,
        network_mode=None if network else "none",
        labels=labels,
    )
    for chunk in stream:
        if "error" in chunk:
            raise ImageError(f"building {tag} failed: {chunk['error'].strip()}")
        text = str(chunk.get("stream", "")).rstrip()
        if text:
            log.debug(text)
            if text.startswith("Step "):
                _progress(text)
    return str(client.images.get(tag).id)


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ImageError(f"{cmd[0]} failed (exit {proc.returncode}): {' | '.join(tail)}")
