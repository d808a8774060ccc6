"""Which database a query goes to: the primary, or a streaming replica for reads that tolerate lag.

With `DATABASE_REPLICA_URL` set, settings add a `replica` database. Reads that may be a moment
behind (a user's trade history and its CSV export, the realized-gains report) ask for it by name
through `lagging_reads()`; everything else, writes and every read that must see a write just made
(order status, positions, the portfolio, sessions), stays on the primary. Explicit rather than
guessed per model: the same table (trades) is read both ways. Migrations run on the primary only;
the replica follows it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

PRIMARY = "default"
REPLICA = "replica"


def lagging_reads() -> str:
    """The database for a read that may be a moment behind: the replica if there is one."""
    return REPLICA if REPLICA in settings.DATABASES else PRIMARY


class ReplicaRouter:
    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        return PRIMARY

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two copies of it

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == PRIMARY
