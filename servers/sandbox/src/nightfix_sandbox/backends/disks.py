"""Workspace disks: a size- and inode-capped ext4 filesystem per sandbox volume.

Each workspace volume is an ext4 filesystem made with `mkfs.ext4 -N` in a sparse file on
the host, attached to a loop device and given to Docker's local volume driver
(`type=ext4, device=/dev/loopN`). The filesystem itself enforces the caps: a command that
writes past them gets ENOSPC, and the host loses at most `disk_mb` per sandbox (the file
is sparse, so an empty workspace costs ~1 MB). Chosen over a tmpfs volume, which would
charge every workspace byte to the container's memory limit and to the host's RAM (see
the README's "Workspace disk" section for the measured costs).

1% of the blocks are reserved for root: the sandbox user's commands hit ENOSPC first,
while the root helpers (`diff`'s index, the digest) still have room to work.

The files live in `<cache>/disks/<owner>/<volume>.img`, `<owner>` being the server
process's `pid-starttime`, so a later server can tell a crashed server's disks from a live
one's and remove them (detaching their loop devices first).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from nightfix_sandbox.config import SANDBOX_UID
from nightfix_sandbox.errors import SandboxError

log = logging.getLogger(__name__)
# What /sandbox holds before the code is copied in (the base image's layout). `.cache`: a
# toolchain's per-sandbox state (Go's build cache and test binaries), on this disk (exec
# allowed, unlike /tmp) and outside the workspace (never in a diff).
_LAYOUT = {"workspace": SANDBOX_UID, ".stage": SANDBOX_UID, ".cache": SANDBOX_UID}


def _run(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise SandboxError(
            f"{argv[0]} is not installed on the host; install e2fsprogs and util-linux"
        ) from None
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise SandboxError(f"{argv[0]} failed: {why} (workspace disks need root on the host)")
    return proc.stdout


class LoopDisks:
    """Makes and removes the capped filesystems behind workspace volumes."""

    def __init__(self, root: Path, owner: str, size_mb: int, files: int) -> None:
        self.root = root
        self.dir = root / owner.replace(":", "-")
        self.size_mb = size_mb
        self.files = files

    def _template(self) -> Path:
        """A directory mkfs copies into each new filesystem (`mkfs.ext4 -d`)."""
        template = self.root / "template"
        if not all((template / name).is_dir() for name in _LAYOUT):
            template.mkdir(parents=True, exist_ok=True)
            template.chmod(0o755)
            for name, uid in _LAYOUT.items():
                (template / name).mkdir(exist_ok=True)
                (template / name).chmod(0o755)
                os.chown(template / name, uid, uid)
        return template

    def image(self, volume: str) -> Path:
        return self.dir / f"{volume}.img"

    def make(self, volume: str) -> dict[str, str]:
        """Make the volume's filesystem; returns the local driver's options for it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.image(volume)
        try:
            with path.open("wb") as fh:
                fh.truncate(self.size_mb << 20)  # sparse: blocks are allocated on write
            _run(
                [
                    "mkfs.ext4", "-q", "-F", "-m", "1", "-N", str(self.files),
                    "-O", "^has_journal", "-E", "nodiscard",
                    "-d", str(self._template()), str(path),
                ]
            )  # fmt: skip
            device = _run(["losetup", "--find", "--show", str(path)]).strip()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return {"type": "ext4", "device": device, "o": "nosuid,nodev"}

    def release(self, volume: str) -> None:
        """Detach the volume's loop device and delete its file (after Docker let go)."""
        _release(self.image(volume))

    def remove_orphans(self, is_orphan: Callable[[str, float], bool]) -> int:
        """Release the disks of every server process that is gone; returns how many."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder in self.root.iterdir():
            owner = folder.name.replace("-", ":")  # the owner's fields are digits
            if folder.name == "template" or not is_orphan(owner, folder.stat().st_mtime):
                continue
            for path in folder.glob("*.img"):
                _release(path)
                removed += 1
            shutil.rmtree(folder, ignore_errors=True)
        return removed


def _release(path: Path) -> None:
    """Detach every loop device backed by `path`, then delete it (idempotent)."""
    if not path.exists():
        return
    try:
        listed = _run(["losetup", "--associated", str(path), "--noheadings", "-O", "NAME"])
        for device in listed.split():
            _run(["losetup", "--detach", device])  # still mounted: detaches once unmounted
    except SandboxError as exc:
        log.warning("detaching the loop device of %s failed: %s", path.name, exc)
    path.unlink(missing_ok=True)
