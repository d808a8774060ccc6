from django.contrib import admin
from django.http import HttpRequest

from portfolio.models import Position


@admin.register(Position)
class PositionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "symbol", "status", "quantity", "cost_basis", "realized_pnl", "opened_at"]
    list_filter = ["status", "symbol"]
    search_fields = ["user__username", "symbol__symbol"]
    list_select_related = ["user"]
    readonly_fields = [f.name for f in Position._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # positions come from fills only
