"""A `values_list` query the ORM builds once, then runs as its SQL with new parameters.

Building a query through the ORM (filter → Query → compiler → SQL) costs 200–300 µs of CPU each
time, more than PostgreSQL takes to answer the small per-user reads of the hot paths: it was a fifth
of a portfolio read and a third of an order's acceptance (py-spy, bench.rest). The SQL of such a
query never changes between calls, only its parameters. So:

    OPEN_BOOKS = CompiledValues(
        lambda user_id: Position.objects.filter(user_id=user_id, status="open").values_list(...),
        user_id=MARKER,  # a value no call passes, found among the compiled parameters
    )
    rows = OPEN_BOOKS.rows(user_id=42)

On PostgreSQL, and only while the compiled query needs no converter (psycopg returns the Python
values the ORM would: Decimal, str, int, aware datetimes), the SQL runs directly; otherwise (SQLite
in the embedded mode, a column with a converter) the ORM runs the query as always. A test runs both
ways and compares the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import QuerySet

MARKER = -7_000_001  # an id no row has: a parameter's place among the compiled ones


class CompiledValues:
    def __init__(self, build: Callable[..., QuerySet[Any, Any]], **markers: Any):
        self.build = build
        self.markers = markers
        self._compiled: tuple[str, str, list[tuple[str | None, Any]]] | None = None
        self._orm_only = False

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        if self._orm_only:
            return list(self.build(**values))
        if self._compiled is None:
            self._compile()
            if self._compiled is None:
                return list(self.build(**values))
        alias, sql, slots = self._compiled
        params = [values[name] if name is not None else fixed for name, fixed in slots]
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows

    def _compile(self) -> None:
        queryset = self.build(**self.markers)
        alias = queryset.db
        if connections[alias].vendor != "postgresql":
            self._orm_only = True
            return
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if compiler.get_converters([column for column, _, _ in compiler.select]):
            self._orm_only = True
            return
        by_value = {marker: name for name, marker in self.markers.items()}
        slots = [(by_value.get(param), param) for param in params]
        found = sorted(name for name, _ in slots if name is not None)
        if found != sorted(self.markers):
            raise ValueError(f"each marker must appear once among the compiled parameters: {params!r}")
        self._compiled = (alias, sql, slots)
