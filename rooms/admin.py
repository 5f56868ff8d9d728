from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import services
from .models import (
    ApiToken,
    Channel,
    ChannelSecret,
    CrewAssignment,
    IngestEvent,
    ScreenToken,
    Stream,
    Studio,
    User,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (_("Console"), {"fields": ("display_name", "language", "time_zone")}),
    )
    list_display = ("username", "display_name", "language", "time_zone", "is_active")


@admin.register(Studio)
class StudioAdmin(admin.ModelAdmin):
    list_display = ("name", "time_zone")
    filter_horizontal = ("members",)


class ChannelSecretInline(admin.TabularInline):
    """Existing secrets and their expiry; new ones only come from the rotate action."""

    model = ChannelSecret
    extra = 0
    fields = ("created_at", "expires_at")
    readonly_fields = ("created_at",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "platform", "currency", "time_zone")
    inlines = [ChannelSecretInline]
    actions = ["rotate_secret"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            self._show_secret(
                request, obj, services.channel_secret_add(actor=request.user, channel=obj)
            )

    @admin.action(description=_("Add a new ingest secret (current ones expire in 24 hours)"))
    def rotate_secret(self, request, queryset):
        for channel in queryset:
            secret = services.channel_secret_add(
                actor=request.user, channel=channel, retire_others_after=timedelta(hours=24)
            )
            self._show_secret(request, channel, secret)

    def _show_secret(self, request, channel, secret):
        # Shown once: configure it on the platform side now.
        self.message_user(
            request,
            _("Ingest secret for %(channel)s (shown once): %(secret)s")
            % {"channel": channel.key, "secret": secret},
            messages.WARNING,
        )


class ReadOnlyMixin:
    """Shown, never written: these rows carry bookings that only the planning services keep
    consistent (a crew row's window follows its stream; clashes are named there)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CrewInline(ReadOnlyMixin, admin.TabularInline):
    model = CrewAssignment
    extra = 0
    fields = ("person", "role", "booked", "availability_note")


@admin.register(Stream)
class StreamAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Streams are planned on the Plan screens and the API (`services.stream_*`)."""

    list_display = ("title", "channel", "studio", "status", "planned_start", "planned_end")
    list_filter = ("status", "channel__platform", "studio")
    search_fields = ("title",)
    inlines = [CrewInline]


@admin.register(IngestEvent)
class IngestEventAdmin(admin.ModelAdmin):
    """The inbox, read-only: unknown types, unrouted and failed events are reported here."""

    list_display = ("platform_event_id", "channel", "type", "status", "at", "attempts")
    list_filter = ("status", "type", "channel")
    search_fields = ("platform_event_id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Who holds API tokens, when they were last used, and revoking them."""

    list_display = ("user", "created_at", "last_used_at", "idle_expired", "revoked_at")
    list_filter = ("revoked_at",)
    fields = ("user", "created_at", "last_used_at", "idle_expired", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description=_("Expired"))
    def idle_expired(self, token: ApiToken) -> bool:
        return token.idle_expired(timezone.now())

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset:
            services.api_token_revoke(actor=request.user, token=token)


@admin.register(ScreenToken)
class ScreenTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "studio", "created_at", "expires_at", "revoked_at", "last_seen_at")
    fields = ("name", "studio", "created_at", "expires_at", "revoked_at", "last_seen_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False
