from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from ads.api_urls import api_urlpatterns as ads_api
from rooms.urls import api_urlpatterns as rooms_api
from rooms.views import SignInView
from scripts.api_urls import api_urlpatterns as scripts_api
from support.api_urls import api_urlpatterns as support_api

from . import views

api_v1 = [
    *rooms_api,
    *scripts_api,
    *support_api,
    *ads_api,
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One sign-in page, with its guard against password guessing, for the admin too.
    path("admin/login/", RedirectView.as_view(url="/login/", query_string=True)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("scripts.urls")),
    path("", include("support.urls")),
    path("", include("ads.urls")),
    path("", include("rooms.urls")),
]
