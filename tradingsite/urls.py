from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import admin_login_page
from tradingsite import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    # Staff log in through the same rate-limited login as everyone, not the admin's own form.
    path("admin/login/", admin_login_page, name="admin-login"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("portfolio.api_urls")),
    path("api/v1/", include("pricefeed.api_urls")),
    path("", include("portfolio.urls")),
]

# An unhandled exception: 503 `service_unavailable` when a dependency is unreachable, else 500.
handler500 = "tradingsite.views.server_error"
# A path no route matches: under /api/, the JSON `not_found` error like every API error.
handler404 = "tradingsite.views.page_not_found"
