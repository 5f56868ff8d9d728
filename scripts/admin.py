from django.contrib import admin

from .models import ComplianceTerm, Script, ScriptVersion, Segment, VersionStatus


class SegmentInline(admin.TabularInline):
    model = Segment
    extra = 0
    fields = ("position", "title", "planned_duration", "hard_start", "link_number")


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    list_display = ("title", "studio", "created_at")
    list_filter = ("studio",)
    search_fields = ("title",)


@admin.register(ScriptVersion)
class ScriptVersionAdmin(admin.ModelAdmin):
    """Drafts can be tidied here; a locked version is shown, never changed (the database
    refuses it too)."""

    list_display = ("script", "number", "status", "locked_at", "locked_by")
    list_filter = ("status", "script__studio")
    readonly_fields = ("script", "number", "status", "based_on", "locked_at", "locked_by")
    inlines = [SegmentInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None or obj.status == VersionStatus.DRAFT

    def has_delete_permission(self, request, obj=None):
        return obj is not None and obj.status == VersionStatus.DRAFT


@admin.register(ComplianceTerm)
class ComplianceTermAdmin(admin.ModelAdmin):
    list_display = ("term", "allowed", "studio")
    list_filter = ("allowed", "studio")
