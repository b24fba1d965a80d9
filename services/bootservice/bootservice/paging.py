"""Paging in the shape of the original service's PageHelper `PageInfo`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

NAV_PAGES = 8  # how many page numbers the navigation shows, as PageHelper did


def page_info(total: int, page: int, rows: int, items: list[Any]) -> dict[str, Any]:
    """The paging metadata for `items`, page `page` of `rows` each."""
    pages = (total + rows - 1) // rows
    start = (page - 1) * rows + 1 if items else 0
    first_nav = max(1, min(page - NAV_PAGES // 2, pages - NAV_PAGES + 1))
    nav = list(range(first_nav, min(pages, first_nav + NAV_PAGES - 1) + 1))
    return {
        "pageNum": page,
        "pageSize": rows,
        "size": len(items),
        "startRow": start,
        "endRow": start + len(items) - 1 if items else 0,
        "total": total,
        "pages": pages,
        "prePage": page - 1 if page > 1 else 0,
        "nextPage": page + 1 if page < pages else 0,
        "isFirstPage": page == 1,
        "isLastPage": page >= pages,
        "hasPreviousPage": page > 1,
        "hasNextPage": page < pages,
        "navigatepageNums": nav,
        # PageHelper's first and last page numbers of the navigation (0 when empty).
        "firstPage": nav[0] if nav else 0,
        "lastPage": nav[-1] if nav else 0,
        "list": items,
    }


def paginate(
    session: Session, stmt: Select, page: int, rows: int, to_json: Callable[[Any], Any]
) -> dict[str, Any]:
    """Run `stmt` for one page and return PageInfo with the rows as JSON."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    found = session.scalars(stmt.limit(rows).offset((page - 1) * rows)).all()
    return page_info(total or 0, page, rows, [to_json(r) for r in found])


# The keys of every PageInfo, with a value of each key's JSON type.
PAGE_INFO_SAMPLE = page_info(1, 1, 1, [None])
