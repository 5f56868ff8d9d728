from django.urls import path

from . import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("streams/<int:pk>/events/", views.stream_events, name="stream-events"),
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/language/", views.language_switch, name="language-switch"),
    path("plan/", views.plan, name="plan"),
    path("plan/streams/new/", views.stream_new, name="stream-new"),
    path("plan/streams/<int:pk>/", views.stream_plan, name="stream-plan"),
    path("plan/streams/<int:pk>/edit/", views.stream_edit, name="stream-edit"),
    path("plan/streams/<int:pk>/delete/", views.stream_delete, name="stream-delete"),
    path("plan/streams/<int:pk>/status/", views.stream_status, name="stream-status"),
    path(
        "plan/streams/<int:pk>/readiness/override/",
        views.stream_readiness_override,
        name="stream-readiness-override",
    ),
    path("plan/streams/<int:pk>/crew/", views.stream_crew_assign, name="stream-crew-assign"),
    path(
        "plan/streams/<int:pk>/crew/<int:assignment_id>/remove/",
        views.stream_crew_remove,
        name="stream-crew-remove",
    ),
    path("plan/streams/<int:pk>/lineup/", views.lineup_add, name="lineup-add"),
    path(
        "plan/streams/<int:pk>/lineup/<int:item_id>/",
        views.lineup_item_action,
        name="lineup-item-action",
    ),
    path("plan/streams/<int:pk>/lineup/import/", views.lineup_upload, name="lineup-import"),
    path(
        "plan/streams/<int:pk>/lineup/apply-set/", views.lineup_apply_set, name="lineup-apply-set"
    ),
    path("plan/streams/<int:pk>/lineup/save-set/", views.lineup_save_set, name="lineup-save-set"),
    path("plan/templates/", views.templates, name="templates"),
    path("plan/templates/new/", views.template_edit, name="template-new"),
    path("plan/templates/<int:pk>/edit/", views.template_edit, name="template-edit"),
    path("plan/templates/<int:pk>/", views.template_use, name="template-use"),
    path("plan/studios/", views.studios, name="studios"),
    path("plan/studios/new/", views.studio_edit, name="studio-new"),
    path("plan/studios/<int:pk>/edit/", views.studio_edit, name="studio-edit"),
    path("plan/channels/new/", views.channel_edit, name="channel-new"),
    path(
        "plan/studios/<int:pk>/delete/",
        views.studio_or_channel_delete,
        {"kind": "studio"},
        name="studio-delete",
    ),
    path(
        "plan/channels/<int:pk>/delete/",
        views.studio_or_channel_delete,
        {"kind": "channel"},
        name="channel-delete",
    ),
    path("plan/channels/<int:pk>/edit/", views.channel_edit, name="channel-edit"),
    path("people/<int:pk>/availability/", views.person_availability, name="person-availability"),
    path("me/calendar/", views.calendar_feed, name="calendar-feed"),
    path("calendar/<str:token>.ics", views.calendar_ics, name="calendar-ics"),
]

api_urlpatterns = [
    path("auth/token", api.AuthTokenApi.as_view(), name="api-auth-token"),
    path("ingest/events", api.IngestEventsApi.as_view(), name="api-ingest-events"),
    path("streams/", api.StreamListApi.as_view(), name="api-streams"),
    path("streams/<int:pk>/", api.StreamDetailApi.as_view(), name="api-stream"),
    path("streams/<int:pk>/events/", api.StreamEventsApi.as_view(), name="api-stream-events"),
    path("streams/<int:pk>/live", api.LiveSnapshotApi.as_view(), name="api-stream-live"),
    path("streams/<int:pk>/show/moves", api.ShowMoveApi.as_view(), name="api-show-move"),
    path("streams/<int:pk>/show/presence", api.ShowPresenceApi.as_view(), name="api-show-presence"),
    path("streams/<int:pk>/cues", api.CueListApi.as_view(), name="api-cues"),
    path(
        "streams/<int:pk>/cues/<int:cue_id>/state",
        api.CueAdvanceApi.as_view(),
        name="api-cue-advance",
    ),
    path("screens/pairings", api.PairingStartApi.as_view(), name="api-pairing-start"),
    path("screens/pairings/token", api.PairingTokenApi.as_view(), name="api-pairing-token"),
    path("screens/pairings/approve", api.PairingApproveApi.as_view(), name="api-pairing-approve"),
    path("screens/", api.ScreenTokenListApi.as_view(), name="api-screens"),
    path("screens/<int:pk>/", api.ScreenTokenRevokeApi.as_view(), name="api-screen"),
    path(
        "streams/<int:pk>/transition",
        api.StreamTransitionApi.as_view(),
        name="api-stream-transition",
    ),
    path(
        "streams/<int:pk>/readiness", api.StreamReadinessApi.as_view(), name="api-stream-readiness"
    ),
    path(
        "streams/<int:pk>/readiness/override",
        api.StreamReadinessOverrideApi.as_view(),
        name="api-stream-readiness-override",
    ),
    path("streams/<int:pk>/crew/", api.StreamCrewApi.as_view(), name="api-stream-crew"),
    path(
        "streams/<int:pk>/crew/<int:assignment_id>/",
        api.StreamCrewMemberApi.as_view(),
        name="api-stream-crew-member",
    ),
    path("streams/<int:pk>/lineup/", api.StreamLineupApi.as_view(), name="api-stream-lineup"),
    path(
        "streams/<int:pk>/lineup/<int:item_id>/",
        api.StreamLineupItemApi.as_view(),
        name="api-stream-lineup-item",
    ),
    path(
        "streams/<int:pk>/lineup/order",
        api.StreamLineupOrderApi.as_view(),
        name="api-stream-lineup-order",
    ),
    path(
        "streams/<int:pk>/lineup/import",
        api.StreamLineupImportApi.as_view(),
        name="api-stream-lineup-import",
    ),
    path(
        "streams/<int:pk>/lineup/apply-set",
        api.StreamLineupApplySetApi.as_view(),
        name="api-stream-lineup-apply-set",
    ),
    path("studios/", api.StudioListApi.as_view(), name="api-studios"),
    path("studios/<int:pk>/", api.StudioDetailApi.as_view(), name="api-studio"),
    path("channels/", api.ChannelListApi.as_view(), name="api-channels"),
    path("channels/<int:pk>/", api.ChannelDetailApi.as_view(), name="api-channel"),
    path("lineup-sets/", api.LineupSetListApi.as_view(), name="api-lineup-sets"),
    path("lineup-sets/<int:pk>/", api.LineupSetDetailApi.as_view(), name="api-lineup-set"),
    path("templates/", api.TemplateListApi.as_view(), name="api-templates"),
    path("templates/<int:pk>/", api.TemplateDetailApi.as_view(), name="api-template"),
    path(
        "templates/<int:pk>/preview",
        api.TemplatePreviewApi.as_view(),
        name="api-template-preview",
    ),
    path(
        "templates/<int:pk>/streams",
        api.TemplateStreamsApi.as_view(),
        name="api-template-streams",
    ),
    path(
        "people/<int:pk>/working-hours",
        api.PersonWorkingHoursApi.as_view(),
        name="api-person-working-hours",
    ),
    path("people/<int:pk>/time-off", api.PersonTimeOffApi.as_view(), name="api-person-time-off"),
    path(
        "people/<int:pk>/time-off/<int:time_off_id>/",
        api.PersonTimeOffDetailApi.as_view(),
        name="api-person-time-off-item",
    ),
]
