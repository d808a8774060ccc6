from django.urls import path

from pricefeed import apis

urlpatterns = [
    path("symbols", apis.SymbolListApi.as_view(), name="symbols"),
    path("prices", apis.PriceListApi.as_view(), name="prices"),
    path("feed", apis.FeedApi.as_view(), name="feed"),
]
