from django.urls import path

from . import views

urlpatterns = [
    path("scripts/", views.script_list, name="scripts"),
    path("scripts/speaking-rate/", views.speaking_rate, name="speaking-rate"),
    path("scripts/<int:pk>/", views.script_detail, name="script"),
    path("scripts/<int:pk>/import/", views.script_import, name="script-import"),
    path("scripts/<int:pk>/draft/", views.script_draft, name="script-draft"),
    path("scripts/<int:pk>/edit/", views.script_edit, name="script-edit"),
    path("scripts/<int:pk>/stream/", views.script_stream, name="script-stream"),
    path("scripts/<int:pk>/template/", views.script_template, name="script-template"),
    path("scripts/<int:pk>/diff/", views.script_diff, name="script-diff"),
    path("scripts/<int:pk>/sheet/", views.script_sheet, name="script-sheet"),
    path("scripts/<int:pk>/sheet/pdf/", views.script_sheet_pdf, name="script-sheet-pdf"),
    path("scripts/<int:pk>/practice/", views.script_practice, name="script-practice"),
    path("scripts/<int:pk>/changes/", views.script_changes, name="script-changes"),
    path("scripts/<int:pk>/v<int:number>/lock/", views.version_lock, name="script-version-lock"),
    path(
        "scripts/<int:pk>/v<int:number>.<str:fmt>",
        views.script_export,
        name="script-export",
    ),
]
