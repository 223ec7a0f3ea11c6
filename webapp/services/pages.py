"""One page of a longer result, the same for every paginated table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

Row = TypeVar("Row")

# Beyond any real table, and small enough that its offset fits every database's integers.
MAX_PAGE = 100_000


def page_number(raw: str | None) -> int:
    """The page a URL asks for, as 1..MAX_PAGE: an odd value (huge, negative, not a number)
    shows a page rather than overflowing the database's integers."""
    try:
        page = int(raw or 1)
    except ValueError:  # also digits beyond Python's int-from-text limit
        return 1
    return max(1, min(MAX_PAGE, page))


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def count_rows(session: Session, query: Select) -> int:
    """How many rows ``query`` returns: the count every paginated table shows."""
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def within_pages(page: int, total: int, per_page: int) -> int:
    """``page`` kept between the first and the last page of ``total`` rows (past the end: the
    last page, so a table that shrank still shows rows)."""
    return min(max(1, page), max(1, -(-total // per_page)))
