from django.contrib import admin

from pricefeed.models import Symbol


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin[Symbol]):
    list_display = ["symbol", "base_asset", "quote_asset", "status", "tick_size", "step_size", "min_notional"]
    list_filter = ["status", "quote_asset"]
    search_fields = ["symbol", "base_asset"]
