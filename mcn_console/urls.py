from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from rooms.urls import api_urlpatterns as rooms_api

from . import views

api_v1 = [
    *rooms_api,
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("rooms.urls")),
]
