from django.urls import path

from . import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("streams/<int:pk>/events/", views.stream_events, name="stream-events"),
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/language/", views.language_switch, name="language-switch"),
]

api_urlpatterns = [
    path("auth/token", api.AuthTokenApi.as_view(), name="api-auth-token"),
    path("ingest/events", api.IngestEventsApi.as_view(), name="api-ingest-events"),
    path("streams/", api.StreamListApi.as_view(), name="api-streams"),
    path("streams/<int:pk>/", api.StreamDetailApi.as_view(), name="api-stream"),
    path("streams/<int:pk>/events/", api.StreamEventsApi.as_view(), name="api-stream-events"),
]
