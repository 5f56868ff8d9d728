from django.urls import path

from .consumers import StreamEventsConsumer

websocket_urlpatterns = [
    path("ws/streams/<int:stream_id>/events/", StreamEventsConsumer.as_asgi()),
]
