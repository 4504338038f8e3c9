"""Server-side paging of long tables (the admin page's sensors): which rows a page holds, and the search text as a
LIKE pattern (pure; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 100
# Longer search text is cut: nothing the table searches (ids, subdistrict codes) is longer.
MAX_QUERY_CHARS: Final = 64
LIKE_ESCAPE: Final = "\\"


@dataclass(frozen=True)
class Page:
    """Page `number` (1-based) of `size` rows out of `total`."""

    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are (one, empty, when there is no row)."""
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.number - 1) * self.size

    @property
    def first(self) -> int:
        """1-based number of the page's first row (0 when the page is empty)."""
        return self.offset + 1 if self.total else 0

    @property
    def last(self) -> int:
        """1-based number of the page's last row (0 when the page is empty)."""
        return min(self.total, self.offset + self.size)


def page_of(number: int | None, total: int, size: int = PAGE_SIZE) -> Page:
    """The page asked for, brought inside the table: a number past the end is the last page, below 1 the first."""
    size = max(1, min(MAX_PAGE_SIZE, int(size)))
    total = max(0, int(total))
    pages = max(1, -(-total // size))
    return Page(max(1, min(pages, int(number or 1))), size, total)


def clean_query(text: str | None) -> str:
    """The search text as searched: printable characters only, trimmed, at most MAX_QUERY_CHARS."""
    kept = "".join(ch for ch in (text or "") if ch.isprintable())
    return kept.strip()[:MAX_QUERY_CHARS]


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape LIKE_ESCAPE) matching `text` anywhere, its % and _ taken literally."""
    esc = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{esc}%"
