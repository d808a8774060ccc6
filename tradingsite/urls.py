from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from tradingsite import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("portfolio.urls")),
]
