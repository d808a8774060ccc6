from django.urls import path

from portfolio import views

app_name = "portfolio"

urlpatterns = [
    path("", views.home, name="home"),
    path("markets/", views.markets, name="markets"),
    path("history/", views.history, name="history"),
    path("report/", views.report, name="report"),
]
