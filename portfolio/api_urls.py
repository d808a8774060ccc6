from django.urls import path

from portfolio import apis

urlpatterns = [
    path("orders", apis.OrderListApi.as_view(), name="orders"),
    path("orders/by-client-id/<str:client_order_id>", apis.OrderByClientIdApi.as_view(), name="order-by-client-id"),
    path("orders/<int:order_id>", apis.OrderDetailApi.as_view(), name="order"),
    path("positions", apis.PositionListApi.as_view(), name="positions"),
    path("positions/<str:symbol>", apis.PositionDetailApi.as_view(), name="position"),
    path("account", apis.AccountApi.as_view(), name="account"),
    path("watchlist", apis.WatchlistApi.as_view(), name="watchlist"),
    path("watchlist/<str:symbol>", apis.WatchlistSymbolApi.as_view(), name="watchlist-symbol"),
    path("portfolio", apis.PortfolioApi.as_view(), name="portfolio"),
    path("trades", apis.TradeListApi.as_view(), name="trades"),
    path("reports/realized", apis.RealizedReportApi.as_view(), name="report-realized"),
    path("reports/<uuid:report_id>", apis.RealizedReportJobApi.as_view(), name="report"),
]
