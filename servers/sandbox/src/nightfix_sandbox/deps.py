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
from pathlib import Path

import docker
import requests

from nightfix_sandbox.config import SANDBOX_ROOT, SANDBOX_UID
from nightfix_sandbox.errors import ImageError
from nightfix_sandbox.image import build_context, image_exists
from nightfix_sandbox.toolchains import RUNTIME_FILES, Dependencies, RuntimeLayer

log = logging.getLogger(__name__)
DEPS_REPO = "nightfix-sandbox-deps"


class DependencyImages:
    """Builds and caches `nightfix-sandbox-deps:<hash>` images on top of the base image.

    Which requirements a repository has is its toolchain's business (e.g.
    :mod:`nightfix_sandbox.toolchains.python_deps`); this class only installs them.
    """

    def __init__(self, client: docker.DockerClient, base: str) -> None:
        self.client = client
        self.base = base
        self._lock = threading.Lock()

    def runtime_image(self, name: str, layer: RuntimeLayer) -> str:
        """The base image plus toolchain ``name``'s runtime layer, built once per key and base
        (``nightfix-sandbox-<name>:<hash>``); the base itself when the layer is empty."""
        if not layer.key:
            return self.base
        tag = (
            f"nightfix-sandbox-{name}:{self._key(self.base, layer.key, layer.install, *layer.path)}"
        )
        with self._lock:
            if not image_exists(self.client, tag):
                self._build_runtime(tag, layer)
        return tag

    def dependency_image(self, base: str, name: str, found: Dependencies) -> str:
        """``base`` plus what toolchain ``name`` found the commit needs (Python requirement
        lines and/or a host directory its ecosystem's tool fills), cached by their hash."""
        image = base
        if found.requirements:
            image = self.image_for(found.requirements, found.site_hook, base=image)
        if found.fill is not None:
            if not found.key or not found.target.startswith("/"):
                raise ImageError(f"toolchain {name}: a dependency directory needs a key and target")
            tag = f"nightfix-sandbox-{name}-deps:{self._key(image, found.key, found.target)}"
            with self._lock:
                if not image_exists(self.client, tag):
                    self._build_directory(tag, image, found)
            image = tag
        return image

    def image_for(
        self, requirements: list[str], site_hook: str | None = None, base: str | None = None
    ) -> str:
        """``base`` (default: the base image) plus ``requirements`` (requirement lines), built
        once per set.

        ``site_hook``: one ``.pth`` line put into the image's site-packages, run by every
        Python start (a toolchain's way to make a per-sandbox install importable).
        """
        base = base or self.base
        reqs = sorted(set(requirements))
        if not reqs:
            return base
        tag = f"{DEPS_REPO}:{self._key(base, *reqs, site_hook or '')}"
        with self._lock:
            if not image_exists(self.client, tag):
                self._build(tag, reqs, site_hook, base)
        return tag

    def _key(self, base: str, *parts: str) -> str:
        """16 hex digits of the base image's id and ``parts``."""
        base_id = str(self.client.images.get(base).id)
        return hashlib.sha256("\n".join([base_id, *parts]).encode()).hexdigest()[:16]

    def run_offline(
        self, tar: bytes, command: list[str], image: str | None = None, timeout_s: int = 300
    ) -> tuple[int, str]:
        """Run ``command`` in a throwaway, network-less container of ``image`` (default: the
        base image) holding ``tar`` at /sandbox, as the sandbox user; (exit code, stdout).
        Repository code such as a setup.py runs here, never on the host."""
        box = self.client.containers.create(
            image or self.base,
            command,
            network_mode="none",
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            mem_limit="1g",
            pids_limit=256,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            labels={"nightfix.sandbox.helper": "1"},
        )
        try:
            box.put_archive("/sandbox", tar)
            box.start()
            try:
                code = int(box.wait(timeout=timeout_s).get("StatusCode", -1))
            except requests.exceptions.RequestException:
                box.kill()
                return -1, ""
            out = box.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            if code != 0:
                err = box.logs(stdout=False, stderr=True).decode("utf-8", "replace")
                log.info("offline helper failed (exit %d): %s", code, err.strip()[-500:])
                out = err
            return code, out
        finally:
            box.remove(force=True)

    def _build_runtime(self, tag: str, layer: RuntimeLayer) -> None:
        log.info("building runtime image %s", tag)
        with tempfile.TemporaryDirectory(prefix="nightfix-runtime-") as tmp:
            ctx = Path(tmp)
            (ctx / "files").mkdir()
            if layer.fetch is not None:
                layer.fetch(ctx / "files")
            (ctx / "install.sh").write_text("set -eu\n" + layer.install + "\n")
            path = ":".join(layer.path)
            env = f"ENV PATH={path}:$PATH\n" if path else ""
            (ctx / "Dockerfile").write_text(
                f"FROM {self.base}\nUSER root\n"
                f"COPY files {RUNTIME_FILES}/\nCOPY install.sh {RUNTIME_FILES}.sh\n"
                f"RUN sh {RUNTIME_FILES}.sh && rm -rf {RUNTIME_FILES} {RUNTIME_FILES}.sh "
                "/root/.cache\n"
                f"{env}USER {SANDBOX_UID}:{SANDBOX_UID}\n"
            )
            build_context(
                self.client, ctx, tag, network=False, labels={"nightfix.sandbox.image": "runtime"}
            )

    def _build_directory(self, tag: str, base: str, found: Dependencies) -> None:
        assert found.fill is not None
        log.info("building dependency image %s (%s)", tag, found.target)
        with tempfile.TemporaryDirectory(prefix="nightfix-deps-") as tmp:
            ctx = Path(tmp)
            (ctx / "deps").mkdir()
            found.fill(ctx / "deps")
            (ctx / "Dockerfile").write_text(
                f"FROM {base}\nCOPY --chown={SANDBOX_UID}:{SANDBOX_UID} deps {found.target}\n"
            )
            build_context(
                self.client, ctx, tag, network=False, labels={"nightfix.sandbox.image": "deps"}
            )

    def _build(self, tag: str, reqs: list[str], site_hook: str | None, base: str) -> None:
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
            (ctx / "nightfix-site-hook.pth").write_text((site_hook or "") + "\n")
            hook = ""
            if site_hook:
                hook = (
                    ' && cp /tmp/deps/nightfix-site-hook.pth "$(/opt/venv/bin/python -c '
                    '\'import sysconfig; print(sysconfig.get_path("purelib"))\')"/'
                )
            (ctx / "Dockerfile").write_text(
                f"FROM {base}\nUSER root\n"
                "COPY requirements.txt nightfix-site-hook.pth wheels /tmp/deps/\n"
                "RUN /opt/venv/bin/pip install --no-index --find-links /tmp/deps "
                f"-r /tmp/deps/requirements.txt{hook} && rm -rf /tmp/deps\n"
                f"ENV PATH=$PATH:{SANDBOX_ROOT}/.project/bin\nUSER 1000:1000\n"
            )
            build_context(
                self.client, ctx, tag, network=False, labels={"nightfix.sandbox.image": "deps"}
            )
