"""Web screens of the rooms app: the stream list and a stream's live event feed."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import eventlog, selectors, services
from .auth import SignInGuard
from .forms import LanguageForm, PreferencesForm
from .models import StreamStatus

FEED_SNAPSHOT_SIZE = 200


class SignInView(LoginView):
    """Django's sign-in, refusing further attempts after repeated failures (SignInGuard)."""

    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        self.guard = SignInGuard(
            username=request.POST.get("username", ""), address=request.META.get("REMOTE_ADDR")
        )
        if self.guard.locked():
            form = self.get_form()
            form.add_error(None, _("Too many failed sign-ins. Try again in 15 minutes."))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        self.guard.failed()
        return super().form_invalid(form)

    def form_valid(self, form):
        self.guard.succeeded()
        return super().form_valid(form)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    streams = selectors.stream_list_for_user(request.user)
    return render(
        request,
        "rooms/home.html",
        {
            "live": streams.filter(status=StreamStatus.LIVE).order_by("actual_start"),
            "upcoming": streams.filter(
                status__in=[StreamStatus.SCHEDULED, StreamStatus.DRAFT],
                planned_end__gte=now,
                planned_start__lte=now + timedelta(days=7),
            ).order_by("planned_start")[:50],
            "recent": streams.filter(
                status__in=[StreamStatus.ENDED, StreamStatus.REVIEWED]
            ).order_by("-actual_end")[:20],
        },
    )


@login_required
def stream_events(request: HttpRequest, pk: int) -> HttpResponse:
    stream = selectors.stream_get_for_user(request.user, pk)
    if stream is None:
        raise Http404
    snapshot = eventlog.tail(stream.pk, limit=FEED_SNAPSHOT_SIZE)
    return render(
        request,
        "rooms/stream_events.html",
        {
            "stream": stream,
            "feed": {
                "stream": stream.pk,
                "head": snapshot.head,
                "events": snapshot.events,
                "snapshotSize": FEED_SNAPSHOT_SIZE,
                "timeZone": stream.studio.time_zone,
                "language": translation.get_language(),
                "heartbeatSeconds": settings.MCN_WS_HEARTBEAT_SECONDS,
                "snapshotUrl": reverse("api-stream-events", args=[stream.pk]),
                "labels": _feed_labels(),
            },
        },
    )


def _feed_labels() -> dict:
    """Words the feed's script shows, in the viewer's language."""
    return {
        "types": {
            "comment": _("Comment"),
            "order": _("Order"),
            "viewers": _("Viewers"),
            "ad_metrics": _("Ad metrics"),
            "stream": _("Stream"),
        },
        "orderStatuses": {"placed": _("placed"), "paid": _("paid"), "refunded": _("refunded")},
        "streamStatuses": {status.value: str(status.label) for status in StreamStatus},
        "connection": {
            "connecting": _("Connecting…"),
            "live": _("Connected"),
            "reconnecting": _("Reconnecting…"),
            "forbidden": _("Access withdrawn"),
        },
        "viewers": _("%(online)s online · %(entered)s entered in total"),
        "adMetrics": _("%(campaign)s · spend %(spend)s · GMV %(gmv)s %(currency)s"),
    }


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    form = PreferencesForm(
        request.POST or None,
        initial={"language": request.user.language, "time_zone": request.user.time_zone},
    )
    if request.method == "POST" and form.is_valid():
        services.user_preferences_update(user=request.user, **form.cleaned_data)
        translation.activate(request.user.language)
        messages.success(request, _("Preferences saved."))
        return _with_language_cookie(redirect("preferences"), request.user.language)
    return render(request, "rooms/preferences.html", {"form": form})


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """Switch the interface language: saved on the person when signed in, else a cookie."""
    form = LanguageForm(request.POST)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, {request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("home")
    response = HttpResponseRedirect(next_url)
    if not form.is_valid():
        return response
    language = form.cleaned_data["language"]
    if request.user.is_authenticated:
        services.user_preferences_update(user=request.user, language=language)
    return _with_language_cookie(response, language)


def _with_language_cookie(response: HttpResponse, language: str) -> HttpResponse:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=365 * 24 * 3600,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )
    return response
