from django.urls import path

from . import views

urlpatterns = [
    path("support/", views.support_home, name="support"),
    path("support/streams/<int:pk>/", views.agent_screen, name="support-stream"),
    path("support/channels/<int:pk>/", views.channel_support, name="support-channel"),
]
