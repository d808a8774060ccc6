"""The reads served on the hot path (tradingsite/hotpath.py): GET /api/v1/portfolio and the first
page of GET /api/v1/trades, each the same body its DRF view (portfolio/apis.py) writes."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from django.http import HttpRequest
from rest_framework.pagination import _positive_int

from portfolio import selectors
from portfolio.apis import TradesNewestFirst
from tradingsite.hotpath import HotRead, read_query


def portfolio_body(request: HttpRequest, user_id: int) -> bytes:
    return orjson.dumps(selectors.portfolio_summary(user_id=user_id))


class _Row:
    """A page row as DRF's cursor pagination reads it (its position: `executed_at`)."""

    __slots__ = ("executed_at",)

    def __init__(self, executed_at: Any):
        self.executed_at = executed_at


def trades_first_page_body(request: HttpRequest, user_id: int) -> bytes:
    """The first page (no cursor, no filter) as TradeListApi answers it: DRF's cursor pagination
    chooses the page size and writes the `next` link; the rows' JSON comes from the database."""
    paginator = TradesNewestFirst()
    page_size = paginator.page_size
    limit = request.GET.get(paginator.page_size_query_param or "")
    if limit is not None:
        with contextlib.suppress(ValueError):
            page_size = _positive_int(limit, strict=True, cutoff=paginator.max_page_size)
    rows = selectors.trade_json_page(user_id=user_id, rows=page_size + 1)
    page = rows[:page_size]
    # What paginate_queryset leaves for get_next_link() on a first page.
    paginator.page_size, paginator.ordering, paginator.cursor = page_size, selectors.TRADES_ORDERING, None
    paginator.base_url = request.build_absolute_uri()
    paginator.page = [_Row(executed_at) for executed_at, _, _ in page]
    paginator.has_previous, paginator.has_next = False, len(rows) > page_size
    if paginator.has_next:
        paginator.next_position = paginator._get_position_from_instance(_Row(rows[-1][0]), paginator.ordering)
    results = [orjson.Fragment(json) for _, _, json in page]
    return orjson.dumps({"next": paginator.get_next_link(), "previous": None, "results": results})


HOT_READS = [
    HotRead("/api/v1/portfolio", portfolio_body, read_query(), (("Allow", "GET, HEAD, OPTIONS"),)),
    HotRead(
        "/api/v1/trades",
        trades_first_page_body,
        read_query("limit"),
        (("Vary", "Accept"), ("Allow", "GET, HEAD, OPTIONS")),
    ),
]
