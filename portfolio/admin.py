from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from portfolio.models import Account, Order, Position, Trade


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Browsable and filterable; written only by the trading services."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "user",
        "symbol",
        "status",
        "quantity",
        "cost_basis",
        "realized_pnl",
        "opened_at",
        "closed_at",
    ]
    list_filter = ["status", "symbol"]
    search_fields = ["user__username", "symbol__symbol"]
    list_select_related = ["user"]
    date_hierarchy = "opened_at"


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "client_order_id", "symbol", "side", "quantity", "price", "status", "created_at"]
    list_filter = ["status", "side", "reduce_only", "symbol"]
    search_fields = ["user__username", "client_order_id", "symbol__symbol"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    """Trades are append-only: no add, change or delete here (and PostgreSQL refuses it anyway)."""

    list_display = ["id", "user", "symbol", "side", "quantity", "price", "fee", "realized_pnl_net", "executed_at"]
    list_filter = ["side", "symbol"]
    search_fields = ["user__username", "symbol__symbol", "order__client_order_id"]
    list_select_related = ["user"]
    date_hierarchy = "executed_at"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "cash", "quote_asset", "updated_at"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
