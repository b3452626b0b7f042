"""Line pages of a file, with an opaque cursor pinned to the commit that was read."""

import base64
import json
from dataclasses import dataclass

from .errors import InvalidInputError

PAGE_LINES = 400
PAGE_CHARS = 60_000


@dataclass(frozen=True)
class Cursor:
    path: str
    commit: str
    start: int
    end: int | None

    def encode(self) -> str:
        raw = json.dumps([self.path, self.commit, self.start, self.end]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            path, commit, start, end = json.loads(raw)
            if not (isinstance(path, str) and isinstance(commit, str) and isinstance(start, int)):
                raise ValueError(token)
            return cls(path, commit, start, end if isinstance(end, int) else None)
        except ValueError:
            raise InvalidInputError(
                "the cursor is not one read_file returned; pass next_cursor unchanged"
            ) from None


def page(lines: list[str], start: int, end: int | None) -> tuple[str, int, int, bool]:
    """Lines start..end (1-based, inclusive) cut at PAGE_LINES / PAGE_CHARS.

    Returns (text, first line, last line, more) where `more` says a next page exists. A single
    line longer than a page is the one thing cut, with a visible marker saying so.
    """
    total = len(lines)
    last = total if end is None else min(end, total)
    if total and start > total:
        raise InvalidInputError(f"start_line {start} is past the end of the file ({total} lines)")
    chunk: list[str] = []
    size = 0
    line = start
    while line <= last and len(chunk) < PAGE_LINES:
        text = lines[line - 1]
        if chunk and size + len(text) > PAGE_CHARS:
            break
        if len(text) > PAGE_CHARS:  # one giant line (minified code): cut it, and say so
            text = f"{text[:PAGE_CHARS]}… [line {line} cut: {len(text)} characters]\n"
        chunk.append(text)
        size += len(text)
        line += 1
    return "".join(chunk), start, line - 1, line <= last
