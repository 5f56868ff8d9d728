from django.urls import path

from . import views

urlpatterns = [
    path("ads/", views.ads_home, name="ads"),
    path("ads/streams/<int:pk>/", views.buyer_screen, name="ads-stream"),
    path("ads/streams/<int:pk>/replay/", views.stream_replay, name="ads-stream-replay"),
    path("ads/accounts/<int:pk>/rules/", views.account_rules, name="ads-account-rules"),
]
