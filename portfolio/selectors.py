from portfolio.domain import Holding
from portfolio.models import Position


def holding_list(*, user_id: int) -> list[Holding]:
    """A user's open positions as plain values, one query."""
    rows = (
        Position.objects.filter(user_id=user_id, status=Position.Status.OPEN)
        .order_by("symbol_id")
        .values_list("id", "symbol_id", "quantity", "cost_basis", "realized_pnl", "opened_at")
    )
    return [Holding(*row) for row in rows]
