"""Paging over a list of orders (pages are numbered from 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class PageOutOfRange(LookupError):
    """The client asked for a page past the last one."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    page_count: int

    @property
    def has_next(self) -> bool:
        return self.page < self.page_count


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` items fill."""
    return max(total // per_page, 1)


def get_page(items: list[T], page: int, per_page: int = 10) -> Page[T]:
    """Page ``page`` (1-based) of ``items``."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    pages = page_count(len(items), per_page)
    if page > pages:
        raise PageOutOfRange(f"page {page} of {pages}")
    start = (page - 1) * per_page
    return Page(items[start : start + per_page], page, pages)
