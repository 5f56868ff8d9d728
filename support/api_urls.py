"""The support queue's REST endpoints, under /api/v1/ (`mcn_console.urls`)."""

from django.urls import path

from . import api

api_urlpatterns = [
    path("support/streams/<int:pk>/queue", api.QueueApi.as_view(), name="api-support-queue"),
    path(
        "support/streams/<int:pk>/claims/next",
        api.ClaimNextApi.as_view(),
        name="api-support-claim-next",
    ),
    path(
        "support/streams/<int:pk>/canned-replies",
        api.StreamCannedRepliesApi.as_view(),
        name="api-support-stream-canned-replies",
    ),
    path("support/groups/<int:pk>/", api.GroupApi.as_view(), name="api-support-group"),
    path("support/groups/<int:pk>/claim", api.GroupClaimApi.as_view(), name="api-support-claim"),
    path(
        "support/groups/<int:pk>/release",
        api.GroupReleaseApi.as_view(),
        name="api-support-release",
    ),
    path("support/groups/<int:pk>/answer", api.GroupAnswerApi.as_view(), name="api-support-answer"),
    path(
        "support/groups/<int:pk>/escalate",
        api.GroupEscalateApi.as_view(),
        name="api-support-escalate",
    ),
    path(
        "support/groups/<int:pk>/answered-on-air",
        api.GroupAnsweredOnAirApi.as_view(),
        name="api-support-answered-on-air",
    ),
    path("support/groups/<int:pk>/split", api.GroupSplitApi.as_view(), name="api-support-split"),
    path("support/groups/<int:pk>/merge", api.GroupMergeApi.as_view(), name="api-support-merge"),
    path(
        "support/groups/<int:pk>/questions",
        api.GroupQuestionsApi.as_view(),
        name="api-support-group-questions",
    ),
    path(
        "support/groups/<int:pk>/replies",
        api.GroupRepliesApi.as_view(),
        name="api-support-group-replies",
    ),
    path("support/agent", api.AgentMeApi.as_view(), name="api-support-agent"),
    path("support/agent/status", api.AgentStatusApi.as_view(), name="api-support-agent-status"),
    path(
        "support/agent/heartbeat",
        api.AgentHeartbeatApi.as_view(),
        name="api-support-agent-heartbeat",
    ),
    path("support/agents/", api.AgentListApi.as_view(), name="api-support-agents"),
    path("support/agents/<int:pk>/", api.AgentDetailApi.as_view(), name="api-support-agent-detail"),
    path(
        "support/channels/<int:pk>/canned-replies",
        api.ChannelCannedRepliesApi.as_view(),
        name="api-support-canned-replies",
    ),
    path(
        "support/canned-replies/<int:pk>/",
        api.CannedReplyDetailApi.as_view(),
        name="api-support-canned-reply",
    ),
    path("support/stats", api.StatsApi.as_view(), name="api-support-stats"),
]
