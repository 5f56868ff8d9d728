"""The ad boosts' REST endpoints, under /api/v1/ (`mcn_console.urls`)."""

from django.urls import path

from . import api

api_urlpatterns = [
    path("ads/streams/<int:pk>/cards", api.StreamBoardApi.as_view(), name="api-ads-cards"),
    path("ads/decisions/<int:pk>/accept", api.DecisionAcceptApi.as_view(), name="api-ads-accept"),
    path("ads/decisions/<int:pk>/reject", api.DecisionRejectApi.as_view(), name="api-ads-reject"),
    path(
        "ads/decisions/<int:pk>/approve",
        api.DecisionApproveApi.as_view(),
        name="api-ads-approve",
    ),
    path(
        "ads/streams/<int:pk>/kill-switch",
        api.StreamKillSwitchApi.as_view(),
        name="api-ads-stream-kill-switch",
    ),
    path(
        "ads/accounts/<int:pk>/kill-switch",
        api.AccountKillSwitchApi.as_view(),
        name="api-ads-account-kill-switch",
    ),
    path(
        "ads/streams/<int:pk>/executions",
        api.StreamExecutionsApi.as_view(),
        name="api-ads-executions",
    ),
]
