"""Dependency images: base + a repo's requirements, built once per hash of its dep files.

Wheels are built/fetched on the host (`pip wheel`) and installed in the image with
`--no-index`; the build runs with no network, so the container never needs one.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tempfile
import threading
import tomllib
from pathlib import Path

import docker

from nightfix_sandbox.errors import ImageError
from nightfix_sandbox.image import build_context, image_exists

log = logging.getLogger(__name__)
DEPS_REPO = "nightfix-sandbox-deps"
EXTRAS = ("test", "tests", "testing", "dev")


def requirements_from(files: dict[str, bytes]) -> list[str]:
    """Requirement lines from requirements*.txt and pyproject's dependencies + test extras."""
    reqs: list[str] = []
    for name, data in files.items():
        if name == "pyproject.toml":
            try:
                project = tomllib.loads(data.decode()).get("project", {})
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                raise ImageError("pyproject.toml of the source does not parse") from None
            reqs += list(project.get("dependencies", []))
            for extra in EXTRAS:
                reqs += list(project.get("optional-dependencies", {}).get(extra, []))
        else:
            for line in data.decode("utf-8", "replace").splitlines():
                line = line.split("#", 1)[0].strip()
                if line and not line.startswith("-"):
                    reqs.append(line)
    return sorted(set(reqs))


class DependencyImages:
    """Builds and caches `nightfix-sandbox-deps:<hash>` images on top of the base image."""

    def __init__(self, client: docker.DockerClient, base: str) -> None:
        self.client = client
        self.base = base
        self._lock = threading.Lock()

    def image_for(self, files: dict[str, bytes]) -> str:
        reqs = requirements_from(files)
        if not reqs:
            return self.base
        base_id = str(self.client.images.get(self.base).id)
        key = hashlib.sha256("\n".join([base_id, *reqs]).encode()).hexdigest()[:16]
        tag = f"{DEPS_REPO}:{key}"
        with self._lock:
            if not image_exists(self.client, tag):
                self._build(tag, reqs)
        return tag

    def _build(self, tag: str, reqs: list[str]) -> None:
        log.info("building dependency image %s for %d requirements", tag, len(reqs))
        with tempfile.TemporaryDirectory(prefix="nightfix-deps-") as tmp:
            ctx = Path(tmp)
            (ctx / "requirements.txt").write_text("\n".join(reqs) + "\n")
            (ctx / "wheels").mkdir()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--quiet",
                    "-r",
                    str(ctx / "requirements.txt"),
                    "-w",
                    str(ctx / "wheels"),
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=900,
            )
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
                raise ImageError(f"fetching the source's dependencies failed: {tail[0]}")
            (ctx / "Dockerfile").write_text(
                f"FROM {self.base}\nUSER root\nCOPY requirements.txt wheels /tmp/deps/\n"
                "RUN /opt/venv/bin/pip install --no-index --find-links /tmp/deps "
                "-r /tmp/deps/requirements.txt && rm -rf /tmp/deps\nUSER 1000:1000\n"
            )
            build_context(
                self.client, ctx, tag, network=False, labels={"nightfix.sandbox.image": "deps"}
            )
