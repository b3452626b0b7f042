"""The layer seam: a toolchain's runtime layer and dependency directory become cached images.

Real Docker, no network in any build: what the layers carry is prepared on the host.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from nightfix_sandbox.deps import DependencyImages
from nightfix_sandbox.toolchains import RUNTIME_FILES, Dependencies, RuntimeLayer

NAME = "nodeseamtest"  # images: nightfix-sandbox-nodeseamtest[-deps]:<hash>


@pytest.fixture
def images(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Tags a test built; removed afterwards."""
    made: list[str] = []
    yield made
    for tag in reversed(made):
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag, force=True)


def _run(client: docker.DockerClient, image: str, command: str) -> str:
    out = client.containers.run(
        image, ["sh", "-c", command], network_mode="none", remove=True, stderr=True
    )
    return bytes(out).decode()


def test_runtime_layer_and_dependency_directory_are_built_offline_and_cached(
    docker_client: docker.DockerClient, sandbox_image: str, images: list[str], tmp_path: Path
) -> None:
    fetched: list[Path] = []
    filled: list[Path] = []

    def fetch(into: Path) -> None:  # what a host download (pip download ...) would leave
        fetched.append(into)
        (into / "tool.sh").write_text("#!/bin/sh\necho tool-ran\n")

    def fill(into: Path) -> None:  # what an ecosystem's install on the host would leave
        filled.append(into)
        (into / "pkg").mkdir()
        (into / "pkg" / "index.js").write_text("module.exports = 1\n")

    layer = RuntimeLayer(
        key="tool-1",
        fetch=fetch,
        install=f"mkdir -p /opt/nftool/bin\ninstall -m 755 {RUNTIME_FILES}/tool.sh "
        "/opt/nftool/bin/nftool",
        path=("/opt/nftool/bin",),
    )
    deps = DependencyImages(docker_client, sandbox_image)
    runtime = deps.runtime_image(NAME, layer)
    images.append(runtime)
    assert runtime.startswith(f"nightfix-sandbox-{NAME}:")
    found = Dependencies(key="lock-abc", fill=fill, target="/sandbox/nf_deps")
    image = deps.dependency_image(runtime, NAME, found)
    images.append(image)
    assert image.startswith(f"nightfix-sandbox-{NAME}-deps:")

    out = _run(docker_client, image, "nftool; stat -c %u /sandbox/nf_deps/pkg/index.js; id -u")
    assert out.split() == ["tool-ran", "1000", "1000"]  # on PATH, owned by and run as sandbox
    assert (
        _run(docker_client, image, f"ls {RUNTIME_FILES} 2>&1 || echo gone").strip().endswith("gone")
    )  # the fetched files are not left in the image
    # The same key again: the same tags, and neither fetch nor fill runs a second time.
    assert deps.runtime_image(NAME, layer) == runtime
    assert deps.dependency_image(runtime, NAME, found) == image
    assert (len(fetched), len(filled)) == (1, 1)
    # A different lockfile is a different image.
    other = deps.dependency_image(
        runtime, NAME, Dependencies(key="lock-xyz", fill=fill, target="/sandbox/nf_deps")
    )
    images.append(other)
    assert other != image and len(filled) == 2


def test_empty_runtime_layer_is_the_base_image(
    docker_client: docker.DockerClient, sandbox_image: str
) -> None:
    deps = DependencyImages(docker_client, sandbox_image)
    assert deps.runtime_image("python", RuntimeLayer()) == sandbox_image
    assert deps.dependency_image(sandbox_image, "python", Dependencies()) == sandbox_image
