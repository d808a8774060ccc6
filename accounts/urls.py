from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_page, name="login"),
    path("logout/", views.logout_page, name="logout"),
    path("register/", views.register_page, name="register"),
    path("password/", views.password_page, name="password"),
    path("sessions/", views.sessions_page, name="sessions"),
]
