"""Scripts that run inside a sandbox (stdlib only), passed with `python3 -I -S -c`."""

from pathlib import Path


def script(name: str) -> str:
    """Source text of one in-container script (`supervisor` or `fileops`)."""
    return (Path(__file__).parent / f"{name}.py").read_text()
