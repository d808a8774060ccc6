"""Django's PostgreSQL backend, reading `timestamptz` with psycopg's C loader.

Django registers on every connection a `timestamptz` loader that subclasses psycopg's pure-Python one
(to stamp the zone it wants on each value). That bypasses psycopg-binary's C loader: 5 µs per value
against 0.2 µs, which was a quarter of a 100,000-trade report and of a trades CSV export, and ~0.5 ms
of a 100-row trades page. With USE_TZ and TIME_ZONE "UTC", Django sets every session's TimeZone to
UTC, and the C loader then returns exactly what Django's would (aware, `datetime.timezone.utc`), so
this backend registers the C loader instead. Any other zone (or the pure-Python psycopg) keeps
Django's loader. `create_cursor` is Django 5.2's without the per-cursor check that reads the loader's
`timezone` attribute (the C class has none and cannot be subclassed).

It also checks a pooled connection as it is handed out without a round trip (`check_quiet`)."""

from __future__ import annotations

import select
from datetime import UTC
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base
from django.utils.asyncio import async_unsafe
from psycopg import abc, adapt, adapters, pq
from psycopg_pool import ConnectionPool

TIMESTAMPTZ_OID = adapters.types["timestamptz"].oid


@lru_cache
def _c_loader() -> type[abc.Loader] | None:
    loader = adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)
    return loader if loader is not None and loader.__module__.startswith("psycopg_binary") else None


@lru_cache
def _adapters_with_c_loader(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    context = adapt.AdaptersMap(template)
    context.register_loader(TIMESTAMPTZ_OID, _c_loader())  # type: ignore[arg-type]  # checked by the caller
    return context


def check_quiet(conn: Any) -> None:
    """The pool's check as a connection is handed out (CONN_HEALTH_CHECKS), without psycopg_pool's
    round trip (an empty query: ~65 µs of CPU and a wait, on every request, bench.rest). An idle
    connection has nothing to read: a server that stopped or ended it (restart, terminate) has
    sent a notice or closed the socket, which makes it readable. Only then the full check runs (and
    raises, so the pool replaces the connection); a quiet socket is handed out as it is. What this
    cannot see a round trip could not see either: a peer gone silently (the query then waits for
    TCP, as the check's would)."""
    if conn.closed:
        ConnectionPool.check_connection(conn)  # raises: the pool makes a new connection
        return
    poll = select.poll()  # not select(): a process may hold descriptors past 1024
    poll.register(conn.pgconn.socket, select.POLLIN)
    if poll.poll(0):
        ConnectionPool.check_connection(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        pool = super().pool
        if pool is not None and pool._check is ConnectionPool.check_connection:  # Django's, set as it is made
            pool._check = check_quiet
        return pool

    def _reads_with_c_loader(self) -> bool:
        return settings.USE_TZ and self.timezone is UTC and self.timezone_name == "UTC" and _c_loader() is not None

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self._reads_with_c_loader():
            params["context"] = _adapters_with_c_loader(params["context"])
        return params

    @async_unsafe
    def create_cursor(self, name: str | None = None) -> Any:
        if not self._reads_with_c_loader():
            return super().create_cursor(name)
        if name is None:
            return self.connection.cursor()
        if self.settings_dict["OPTIONS"].get("server_side_binding") is not True:
            server_side: Any = base.ServerSideCursor  # a psycopg cursor class; its stub takes no arguments
            return server_side(self.connection, name=name, scrollable=False, withhold=self.connection.autocommit)
        return self.connection.cursor(name, scrollable=False, withhold=self.connection.autocommit)
