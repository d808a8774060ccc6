from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from accounts.sessions.repository import get_repository


def session_list(*, user_id: int, current_key: str | None) -> list[dict[str, Any]]:
    """A user's live sessions, oldest first, as shown to them (never the key itself)."""
    return [
        {
            "id": record.public_id,
            "created_at": datetime.fromtimestamp(record.created, UTC),
            "last_seen_at": datetime.fromtimestamp(record.last_seen, UTC),
            "expires_at": datetime.fromtimestamp(record.deadline, UTC),
            "ip": record.ip,
            "user_agent": record.user_agent,
            "current": record.key == current_key,
        }
        for record in get_repository().records_for_user(user_id)
    ]
