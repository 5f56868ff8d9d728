"""The scripts app's REST endpoints, under /api/v1/ (`mcn_console.urls`)."""

from django.urls import path

from . import api

api_urlpatterns = [
    path("scripts/", api.ScriptListApi.as_view(), name="api-scripts"),
    path("scripts/<int:pk>/", api.ScriptDetailApi.as_view(), name="api-script"),
    path(
        "scripts/<int:pk>/versions/<int:number>/",
        api.VersionDetailApi.as_view(),
        name="api-script-version",
    ),
    path(
        "scripts/<int:pk>/versions/<int:number>/lines",
        api.VersionLinesApi.as_view(),
        name="api-script-version-lines",
    ),
    path(
        "scripts/<int:pk>/versions/<int:number>/lock",
        api.VersionLockApi.as_view(),
        name="api-script-version-lock",
    ),
    path("scripts/<int:pk>/draft", api.ScriptDraftApi.as_view(), name="api-script-draft"),
    path("scripts/<int:pk>/lines/<int:line_id>/", api.LineApi.as_view(), name="api-script-line"),
    path(
        "scripts/<int:pk>/lines/<int:line_id>/review",
        api.LineReviewApi.as_view(),
        name="api-script-line-review",
    ),
    path("scripts/<int:pk>/import", api.ScriptImportApi.as_view(), name="api-script-import"),
    path("scripts/<int:pk>/export", api.ScriptExportApi.as_view(), name="api-script-export"),
    path("scripts/<int:pk>/diff", api.ScriptDiffApi.as_view(), name="api-script-diff"),
    path("scripts/<int:pk>/sheet", api.ScriptSheetApi.as_view(), name="api-script-sheet"),
    path(
        "scripts/<int:pk>/acknowledge",
        api.ScriptAcknowledgeApi.as_view(),
        name="api-script-acknowledge",
    ),
    path("scripts/<int:pk>/changes", api.ScriptChangesApi.as_view(), name="api-script-changes"),
    path("streams/<int:pk>/script", api.StreamScriptApi.as_view(), name="api-stream-script"),
]
