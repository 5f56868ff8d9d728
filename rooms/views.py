"""Web screens of the rooms app: the stream list and a stream's live event feed."""

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import eventlog, ical, lineup_import, readiness, schedule, selectors, services
from .auth import SCREEN_COOKIE, SignInGuard
from .forms import (
    ChannelForm,
    CrewAssignForm,
    LanguageForm,
    LineupImportForm,
    LineupItemForm,
    LineupSetChoiceForm,
    LineupSetNameForm,
    PreferencesForm,
    ReadinessOverrideForm,
    ScreenPairForm,
    StreamForm,
    StudioForm,
    TemplateForm,
    TemplateUseForm,
    TimeOffForm,
    WorkingHoursForm,
    validate_planning_year,
)
from .models import (
    Channel,
    CrewAssignment,
    CrewRole,
    CueState,
    LineupItem,
    LiveCueKind,
    Platform,
    Stream,
    StreamStatus,
    Studio,
    User,
    default_required_roles,
)

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
    live = list(streams.filter(status=StreamStatus.LIVE).order_by("actual_start"))
    upcoming = list(
        streams.filter(
            status__in=[StreamStatus.SCHEDULED, StreamStatus.DRAFT],
            planned_end__gte=now,
            planned_start__lte=now + timedelta(days=7),
        ).order_by("planned_start")[:50]
    )
    recent = list(
        streams.filter(status__in=[StreamStatus.ENDED, StreamStatus.REVIEWED]).order_by(
            "-actual_end"
        )[:20]
    )
    return render(
        request,
        "rooms/home.html",
        {
            "live": live,
            "upcoming": upcoming,
            "recent": recent,
            "screens": selectors.live_screens_for_user(
                request.user, [stream.pk for stream in live + upcoming + recent]
            ),
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
            "screens": selectors.live_screens_for_user(request.user, [stream.pk]),
            "tiles": selectors.stream_tiles(stream),
            "trends": {
                trend.metric: trend for trend in selectors.stream_trends(stream, now=timezone.now())
            },
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


def _socket_labels() -> dict:
    """What every live page says about its connection and the stream's status."""
    return {
        "connection": {
            "connecting": _("Connecting…"),
            "live": _("Connected"),
            "reconnecting": _("Reconnecting…"),
            "forbidden": _("Access withdrawn"),
        },
        "streamStatuses": {status.value: str(status.label) for status in StreamStatus},
    }


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
        **_socket_labels(),
        "viewers": _("%(online)s online · %(entered)s entered in total"),
        "adMetrics": _("%(campaign)s · spend %(spend)s · GMV %(gmv)s %(currency)s"),
    }


# --- The live room: the operator's console and the crew's follow screens ------------------


@login_required
def stream_console(request: HttpRequest, pk: int) -> HttpResponse:
    """The room operator's (中控) console: drives the run-of-show and fires cues.

    Anyone who may see the stream may open it; without `rooms.run_show` it is read-only, so
    a producer's assistant or an approver can watch the whole run-of-show and cue log.
    """
    stream = _stream_or_404(request, pk)
    can_run = request.user.has_perm("rooms.run_show", stream)
    return render(
        request,
        "rooms/stream_console.html",
        {
            "stream": stream,
            "can_run": can_run,
            "screens": selectors.live_screens_for_user(request.user, [stream.pk]),
            "kinds": [(kind.value, kind.label) for kind in ADHOC_CUE_FIELDS],
            "live": {**_live_page_data(request, stream), "canRun": can_run},
        },
    )


@login_required
def stream_follow(request: HttpRequest, pk: int) -> HttpResponse:
    """A crew member's follow screen: now/next, the countdown, and their own role's cues.

    `?role=` lets someone who runs the show see another role's screen as that crew sees it.
    """
    stream = _stream_or_404(request, pk)
    own_roles = selectors.stream_crew_roles(stream, request.user)
    may_preview = request.user.has_perm("rooms.run_show", stream)
    asked = request.GET.get("role", "")
    roles = [asked] if may_preview and asked in CrewRole.values else own_roles
    return render(
        request,
        "rooms/stream_follow.html",
        {
            "stream": stream,
            "roles": roles,
            "role_labels": [CrewRole(role).label for role in roles],
            "may_preview": may_preview,
            "all_roles": CrewRole.choices,
            "screens": selectors.live_screens_for_user(request.user, [stream.pk]),
            "live": {**_live_page_data(request, stream), "roles": roles},
        },
    )


# The kinds of cue the console fires ad hoc, and the details each asks for.
ADHOC_CUE_FIELDS = {
    LiveCueKind.PIN: [],
    LiveCueKind.UNPIN: [],
    LiveCueKind.PRICE_CHANGE: ["price"],
    LiveCueKind.COUPON: ["value", "quantity"],
    LiveCueKind.FLASH_SALE: ["price", "quantity", "seconds"],
    LiveCueKind.SOLD_OUT: [],
    LiveCueKind.LUCKY_BAG: [],
}


def _live_page_data(request: HttpRequest, stream: Stream) -> dict:
    """What the console and follow scripts start from: the live snapshot and the words they
    show, in the viewer's language."""
    lineup = stream.lineup.order_by("position")
    return {
        "snapshot": selectors.live_snapshot(stream),
        "lineup": [
            {
                "link_number": item.link_number,
                "name": item.name,
                "kind": item.kind,
                "live_price": item.live_price,
                "stock": item.stock,
            }
            for item in lineup
        ],
        "csrfToken": get_token(request),
        "heartbeatSeconds": settings.MCN_WS_HEARTBEAT_SECONDS,
        "language": translation.get_language(),
        "urls": {
            "live": reverse("api-stream-live", args=[stream.pk]),
            "moves": reverse("api-show-move", args=[stream.pk]),
            "presence": reverse("api-show-presence", args=[stream.pk]),
            "cues": reverse("api-cues", args=[stream.pk]),
            # The cue's id replaces the 0.
            "cueState": reverse("api-cue-advance", args=[stream.pk, 0]),
            "transition": reverse("api-stream-transition", args=[stream.pk]),
        },
        "adhocFields": {kind.value: fields for kind, fields in ADHOC_CUE_FIELDS.items()},
        "labels": _live_labels(),
    }


def _live_labels() -> dict:
    return {
        "kinds": {kind.value: str(kind.label) for kind in LiveCueKind},
        "states": {state.value: str(state.label) for state in CueState},
        "roles": {role.value: str(role.label) for role in CrewRole},
        **_socket_labels(),
        "over": _("over"),
        "under": _("under"),
        "onTime": _("on time"),
        "notStarted": _("Not started"),
        "showOver": _("End of the plan"),
        "start": _("Start the show"),
        "next": pgettext("run-of-show", "Next"),
        "standby": _("Standby"),
        "go": _("GO"),
        "confirm": _("Confirm"),
        "cancel": _("Cancel"),
        "unpin": _("Unpin"),
        "planned": _("Planned"),
        "onWords": _("on “%(words)s”"),
        "left": _("%(time)s left"),
        "ended": _("Ended"),
        "price": _("price %(price)s"),
        "value": _("worth %(value)s"),
        "quantity": _("× %(quantity)s"),
        "seconds": _("%(seconds)s s"),
        "noCues": _("No cues."),
        "noneCalled": _("No cue called yet."),
        "nonePinned": _("Nothing pinned."),
        "networkError": _("No answer from the server. Check the connection and try again."),
        "confirmEnd": _("End the stream now? The show stops for everyone."),
        "operatorOnline": _("Console: %(name)s"),
        "operatorOffline": _("Console offline"),
        "segmentOf": _("Segment %(n)s of %(total)s"),
        "plannedLength": _("planned %(time)s"),
        "params": {"price": _("Price"), "value": _("Coupon value")},
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


# --- Planning ----------------------------------------------------------------------------

# A broadcast day runs from 06:00 to 06:00 the next morning: late shows stay in one column.
DAY_STARTS = time(6, 0)
DAY_MINUTES = 24 * 60
# Free studio time shown in the calendar: at least this long, between these hours.
GAP_MINIMUM = timedelta(hours=2)
GAP_HOURS = (time(9, 0), time(2, 0))


@dataclass
class CalendarBlock:
    entry: selectors.CalendarEntry
    top: float
    height: float
    starts: datetime
    ends: datetime
    movable: bool


@dataclass
class CalendarDay:
    day: date
    starts: datetime
    blocks: list[CalendarBlock]
    gaps: list[tuple[float, float, str]]


def _percent(moment: datetime, day_start: datetime) -> float:
    """Where a moment falls in the column, by the studio's wall clock: on the night the
    clocks change, 20:00 is still drawn at 20:00."""
    local = moment.astimezone(day_start.tzinfo).replace(tzinfo=None)
    minutes = (local - day_start.replace(tzinfo=None)).total_seconds() / 60
    return max(0.0, min(100.0, minutes / DAY_MINUTES * 100))


def _calendar_days(
    entries, first: date, count: int, zone: ZoneInfo, plannable_studios: set, studio_view: bool
) -> list[CalendarDay]:
    days = []
    for offset in range(count):
        day = first + timedelta(days=offset)
        start = datetime.combine(day, DAY_STARTS, zone)
        end = datetime.combine(day + timedelta(days=1), DAY_STARTS, zone)
        blocks = []
        for entry in entries:
            stream = entry.stream
            if not (stream.planned_start < end and start < stream.planned_end):
                continue
            top = _percent(stream.planned_start, start)
            blocks.append(
                CalendarBlock(
                    entry=entry,
                    top=top,
                    height=max(_percent(stream.planned_end, start) - top, 1.5),
                    starts=stream.planned_start.astimezone(zone),
                    ends=stream.planned_end.astimezone(zone),
                    movable=stream.status in services.PLANNABLE
                    and stream.studio_id in plannable_studios,
                )
            )
        gaps = _gaps(blocks, day, zone) if studio_view else []
        days.append(CalendarDay(day=day, starts=start, blocks=blocks, gaps=gaps))
    return days


def _gaps(blocks: list[CalendarBlock], day: date, zone: ZoneInfo) -> list[tuple[float, float, str]]:
    """Free stretches of the studio's working day, as (top %, height %, "3h free")."""
    day_start = datetime.combine(day, DAY_STARTS, zone)
    opens = datetime.combine(day, GAP_HOURS[0], zone)
    closes = datetime.combine(day + timedelta(days=1), GAP_HOURS[1], zone)
    busy = sorted((b.entry.stream.booked.lower, b.entry.stream.booked.upper) for b in blocks)
    gaps, cursor = [], opens
    for lower, upper in [*busy, (closes, closes)]:
        if lower - cursor >= GAP_MINIMUM and cursor < closes:
            free_until = min(lower, closes)
            hours = (free_until - cursor).total_seconds() / 3600
            top = _percent(cursor, day_start)
            gaps.append(
                (
                    top,
                    _percent(free_until, day_start) - top,
                    _("%(hours)sh free") % {"hours": f"{hours:g}"},
                )
            )
        cursor = max(cursor, upper)
    return gaps


@login_required
def plan(request: HttpRequest) -> HttpResponse:
    """The producers' calendar: a week or a day of one studio or one person."""
    studios = list(selectors.studios_for_user(request.user))
    people = list(selectors.people_for_user(request.user))
    person = _pick(people, request.GET.get("person"))
    studio = None if person else _pick(studios, request.GET.get("studio"))
    if person is None and studio is None:
        # Whoever plans or runs a whole studio starts on its week; everyone else on their own.
        if studios and selectors.sees_whole_studios(request.user):
            studio = studios[0]
        else:
            person = request.user
    zone = ZoneInfo(studio.time_zone if studio else person.time_zone)
    view = "day" if request.GET.get("view") == "day" else "week"
    try:
        anchor = date.fromisoformat(request.GET.get("date", ""))
        validate_planning_year(anchor)
    except (ValueError, ValidationError):
        anchor = timezone.now().astimezone(zone).date()
    first = anchor if view == "day" else anchor - timedelta(days=anchor.weekday())
    count = 1 if view == "day" else 7
    channels = list(Channel.objects.order_by("name"))
    channel = _pick(channels, request.GET.get("channel"))
    platform = request.GET.get("platform") if request.GET.get("platform") in Platform.values else ""
    entries = selectors.calendar_entries(
        user=request.user,
        starts=datetime.combine(first, DAY_STARTS, zone),
        ends=datetime.combine(first + timedelta(days=count), DAY_STARTS, zone),
        studio_id=studio.pk if studio else None,
        person_id=person.pk if person else None,
        channel_id=channel.pk if channel else None,
        platform=platform or None,
    )
    step = timedelta(days=count)
    return render(
        request,
        "rooms/plan.html",
        {
            "studios": studios,
            "people": people,
            "studio": studio,
            "person": person,
            "zone": zone.key,
            "view": view,
            "days": _calendar_days(
                entries,
                first,
                count,
                zone,
                selectors.studios_user_plans(request.user),
                studio is not None,
            ),
            "hours": [(DAY_STARTS.hour + h) % 24 for h in range(24)],
            "previous": (first - step).isoformat(),
            "next": (first + step).isoformat(),
            "today": timezone.now().astimezone(zone).date().isoformat(),
            "anchor": anchor.isoformat(),
            "channels": channels,
            "channel": channel,
            "platforms": Platform.choices,
            "platform": platform,
            "can_plan": request.user.has_perm("rooms.add_stream", studio) if studio else False,
            "issues": sum(bool(e.warnings) or bool(e.unfilled) for e in entries),
            "plan_config": {"zone": zone.key, "dayStartHour": DAY_STARTS.hour, "snapMinutes": 15},
        },
    )


def _pick(options: list, raw: str | None):
    return next((option for option in options if str(option.pk) == raw), None)


def _add_errors(form, error: ValidationError) -> None:
    """Show a service's refusal on the form: field errors by field, the rest on top."""
    if hasattr(error, "error_dict"):
        for field_name, messages in error.message_dict.items():
            form.add_error(field_name if field_name in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


def _stream_or_404(request: HttpRequest, pk: int) -> Stream:
    stream = selectors.stream_get_for_user(request.user, pk)
    if stream is None:
        raise Http404
    return stream


@login_required
def stream_new(request: HttpRequest) -> HttpResponse:
    studios = selectors.studios_for_user(request.user)
    form = StreamForm(
        request.POST or None,
        studios=studios,
        initial={
            "studio": request.GET.get("studio"),
            "required_roles": default_required_roles(),
            "planned_start": request.GET.get("start", ""),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            stream = services.stream_create(actor=request.user, **form.plan())
        except (ValidationError, PermissionDenied) as error:
            _add_errors(
                form, error if isinstance(error, ValidationError) else ValidationError(str(error))
            )
        else:
            messages.success(request, _("Stream planned."))
            return redirect("stream-plan", stream.pk)
    return render(request, "rooms/stream_form.html", {"form": form, "stream": None})


@login_required
def stream_edit(request: HttpRequest, pk: int) -> HttpResponse:
    stream = _stream_or_404(request, pk)
    form = StreamForm(
        request.POST or None,
        studios=selectors.studios_for_user(request.user),
        initial=StreamForm.initial_for(stream),
    )
    if request.method == "POST" and form.is_valid():
        # Only what the form changed: it works to the minute, and an untouched start with
        # seconds must not count as a move (a live stream cannot be moved).
        changes = {
            name: value
            for name, value in form.plan().items()
            if value != _to_the_minute(getattr(stream, name))
        }
        try:
            services.stream_update(actor=request.user, stream=stream, **changes)
        except (ValidationError, PermissionDenied) as error:
            _add_errors(
                form, error if isinstance(error, ValidationError) else ValidationError(str(error))
            )
        else:
            messages.success(request, _("Plan saved."))
            return redirect("stream-plan", stream.pk)
    return render(request, "rooms/stream_form.html", {"form": form, "stream": stream})


def _to_the_minute(value: object) -> object:
    return value.replace(second=0, microsecond=0) if isinstance(value, datetime) else value


@login_required
def stream_plan(request: HttpRequest, pk: int) -> HttpResponse:
    """A stream's plan: details, crew, lineup and the readiness checklist."""
    stream = _stream_or_404(request, pk)
    can_change = request.user.has_perm("rooms.change_stream", stream)
    forms_ = {
        "crew_form": CrewAssignForm(people=_crew_candidates(stream)),
        "item_form": LineupItemForm(),
        "import_form": LineupImportForm(),
        "set_form": LineupSetChoiceForm(),
        "set_name_form": LineupSetNameForm(),
        "override_form": ReadinessOverrideForm(),
    }
    return _render_plan(request, stream, can_change, forms_)


def _crew_candidates(stream: Stream):
    """Who may be put on a stream's crew: the active members of its studio."""
    return stream.studio.members.filter(is_active=True).order_by("display_name", "username")


def _render_plan(request, stream, can_change, forms_, status=200) -> HttpResponse:
    zone = ZoneInfo(request.user.time_zone)
    checklist = readiness.checklist(stream)
    return render(
        request,
        "rooms/stream_plan.html",
        {
            "stream": stream,
            "can_change": can_change,
            "crew": stream.crew.select_related("person").order_by("role", "pk"),
            "lineup": stream.lineup.order_by("position"),
            "checklist": checklist,
            "ready": all(item.done for item in checklist),
            "uncovered": readiness.uncovered(stream, checklist),
            "overrides": stream.readiness_overrides.select_related("by"),
            "transitions": [
                StreamStatus(to) for to in sorted(services.STREAM_TRANSITIONS[stream.status])
            ],
            "your_start": stream.planned_start.astimezone(zone),
            "your_end": stream.planned_end.astimezone(zone),
            "your_zone": zone.key,
            "currency": stream.channel.currency,
            **forms_,
        },
        status=status,
    )


def _submit(forms_: dict, key: str, form, call: Callable[[dict], object], done: str) -> str | None:
    """Validate one of the plan page's forms and run its service; on a refusal the form
    carries the service's message back to the page."""
    forms_[key] = form
    if not form.is_valid():
        return None
    try:
        call(form.cleaned_data)
    except ValidationError as error:
        _add_errors(form, error)
        return None
    return done


def _plan_action(request, pk, handle) -> HttpResponse:
    """Run one change from the plan page; on a refusal show the page with the message."""
    stream = _stream_or_404(request, pk)
    forms_ = {
        "crew_form": CrewAssignForm(people=_crew_candidates(stream)),
        "item_form": LineupItemForm(),
        "import_form": LineupImportForm(),
        "set_form": LineupSetChoiceForm(),
        "set_name_form": LineupSetNameForm(),
        "override_form": ReadinessOverrideForm(),
    }
    try:
        done = handle(stream, forms_)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("stream-plan", stream.pk)
    if done:
        messages.success(request, done)
        return redirect("stream-plan", stream.pk)
    can_change = request.user.has_perm("rooms.change_stream", stream)
    return _render_plan(request, stream, can_change, forms_, status=400)


@login_required
@require_POST
def stream_crew_assign(request: HttpRequest, pk: int) -> HttpResponse:
    def handle(stream, forms_):
        form = forms_["crew_form"] = CrewAssignForm(request.POST, people=_crew_candidates(stream))
        if not form.is_valid():
            return None
        data = form.cleaned_data
        try:
            services.crew_assign(
                actor=request.user,
                stream=stream,
                person=data["person"],
                role=data["role"],
                buffer_before=_opt_minutes(data["call_before"]),
                buffer_after=_opt_minutes(data["stays_after"]),
                accept_availability=data["accept_availability"],
            )
        except services.AvailabilityWarning as warning:
            form.add_error(None, warning.problems)
            form.needs_acceptance = True
            return None
        except ValidationError as error:
            _add_errors(form, error)
            return None
        return _("%(person)s assigned.") % {"person": data["person"]}

    return _plan_action(request, pk, handle)


def _opt_minutes(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(minutes=value)


@login_required
@require_POST
def stream_crew_remove(request: HttpRequest, pk: int, assignment_id: int) -> HttpResponse:
    def handle(stream, forms_):
        assignment = get_object_or_404(CrewAssignment, pk=assignment_id, stream=stream)
        services.crew_unassign(actor=request.user, assignment=assignment)
        return _("%(person)s removed from the crew.") % {"person": assignment.person}

    return _plan_action(request, pk, handle)


@login_required
@require_POST
def stream_status(request: HttpRequest, pk: int) -> HttpResponse:
    def handle(stream, forms_):
        try:
            to = StreamStatus(request.POST.get("to", ""))
            services.stream_transition(actor=request.user, stream=stream, to=to)
        except ValueError:
            forms_["status_errors"] = [_("Unknown status.")]
            return None
        except ValidationError as error:
            forms_["status_errors"] = error.messages
            return None
        return _("The stream is now %(status)s.") % {"status": to.label}

    return _plan_action(request, pk, handle)


@login_required
@require_POST
def stream_readiness_override(request: HttpRequest, pk: int) -> HttpResponse:
    def handle(stream, forms_):
        return _submit(
            forms_,
            "override_form",
            ReadinessOverrideForm(request.POST),
            lambda data: services.readiness_override(
                actor=request.user, stream=stream, reason=data["reason"]
            ),
            _("Checklist overridden; the reason is on record."),
        )

    return _plan_action(request, pk, handle)


@login_required
@require_POST
def stream_delete(request: HttpRequest, pk: int) -> HttpResponse:
    stream = _stream_or_404(request, pk)
    try:
        services.stream_delete(actor=request.user, stream=stream)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("stream-plan", stream.pk)
    messages.success(request, _("Stream deleted."))
    return redirect("plan")


@login_required
@require_POST
def lineup_add(request: HttpRequest, pk: int) -> HttpResponse:
    def handle(stream, forms_):
        # An empty link number means the next free one.
        return _submit(
            forms_,
            "item_form",
            LineupItemForm(request.POST),
            lambda data: services.lineup_item_add(
                actor=request.user,
                stream=stream,
                **{k: v for k, v in data.items() if not (k == "link_number" and v is None)},
            ),
            _("Product added."),
        )

    return _plan_action(request, pk, handle)


@login_required
@require_POST
def lineup_item_action(request: HttpRequest, pk: int, item_id: int) -> HttpResponse:
    """Remove a product or move it up or down the running order."""

    def handle(stream, forms_):
        item = get_object_or_404(LineupItem, pk=item_id, stream=stream)
        action = request.POST.get("action")
        if action == "remove":
            services.lineup_item_remove(actor=request.user, item=item)
            return _("Product removed.")
        if action in ("up", "down"):
            services.lineup_item_move(
                actor=request.user, item=item, step=-1 if action == "up" else 1
            )
        return _("Lineup reordered.")

    return _plan_action(request, pk, handle)


@login_required
@require_POST
def lineup_upload(request: HttpRequest, pk: int) -> HttpResponse:
    def handle(stream, forms_):
        form = forms_["import_form"] = LineupImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return None
        upload = form.cleaned_data["file"]
        try:
            items = services.lineup_import_file(
                actor=request.user,
                stream=stream,
                filename=upload.name,
                content=upload.read(lineup_import.MAX_BYTES + 1),
            )
        except ValidationError as error:
            form.add_error(None, _("Nothing was imported. Fix these and upload again:"))
            form.add_error(None, error.messages)
            return None
        return _("Imported %(count)s products.") % {"count": len(items)}

    return _plan_action(request, pk, handle)


@login_required
@require_POST
def lineup_apply_set(request: HttpRequest, pk: int) -> HttpResponse:
    def handle(stream, forms_):
        return _submit(
            forms_,
            "set_form",
            LineupSetChoiceForm(request.POST),
            lambda data: services.lineup_set_apply(
                actor=request.user, stream=stream, lineup_set=data["lineup_set"]
            ),
            _("Lineup replaced with the set."),
        )

    return _plan_action(request, pk, handle)


@login_required
@require_POST
def lineup_save_set(request: HttpRequest, pk: int) -> HttpResponse:
    def handle(stream, forms_):
        return _submit(
            forms_,
            "set_name_form",
            LineupSetNameForm(request.POST),
            lambda data: services.lineup_set_from_stream(
                actor=request.user, stream=stream, name=data["name"]
            ),
            _("Lineup saved as a set."),
        )

    return _plan_action(request, pk, handle)


# --- Templates ---------------------------------------------------------------------------


@login_required
def templates(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "rooms/templates.html",
        {
            "templates": selectors.templates_for_user(request.user),
            "lineup_sets": selectors.lineup_sets_for_user(request.user).prefetch_related("items"),
        },
    )


@login_required
def template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    studios = selectors.studios_for_user(request.user)
    template = get_object_or_404(selectors.templates_for_user(request.user), pk=pk) if pk else None
    initial = {}
    if template is not None:
        initial = {
            "name": template.name,
            "studio": template.studio,
            "channel": template.channel,
            "title": template.title,
            "start_time": template.start_time,
            "duration_minutes": int(template.duration.total_seconds() // 60),
            "setup_minutes": int(template.setup_before.total_seconds() // 60),
            "teardown_minutes": int(template.teardown_after.total_seconds() // 60),
            "lineup_set": template.lineup_set,
            "notes": template.notes,
            **{f"slot_{role.value}": TemplateForm.NOT_NEEDED for role in CrewRole},
            **{
                f"slot_{slot.role}": str(slot.person_id) if slot.person_id else ""
                for slot in template.slots.all()
            },
        }
    form = TemplateForm(
        request.POST or None,
        studios=studios,
        people=selectors.people_for_user(request.user),
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        try:
            template = services.template_save(
                actor=request.user, template=template, **form.template_fields()
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Template saved."))
            return redirect("template-use", template.pk)
    return render(request, "rooms/template_form.html", {"form": form, "template": template})


@login_required
def template_use(request: HttpRequest, pk: int) -> HttpResponse:
    """Plan streams from a template: preview every occurrence with its clashes, then create."""
    template = get_object_or_404(selectors.templates_for_user(request.user), pk=pk)
    zone = ZoneInfo(template.studio.time_zone)
    form = TemplateUseForm(
        request.POST or request.GET or None,
        initial={"first_day": timezone.now().astimezone(zone).date() + timedelta(days=1)},
    )
    preview, created = None, None
    if form.is_bound and form.is_valid():
        try:
            starts = schedule.template_starts(
                template,
                first_day=form.cleaned_data["first_day"],
                rule=form.cleaned_data["rrule"],
            )
            if request.method == "POST" and "create" in request.POST:
                chosen = set(request.POST.getlist("start"))
                starts = [s for s in starts if s.isoformat() in chosen]
                created = services.streams_from_template(
                    actor=request.user, template=template, starts=starts
                )
            else:
                preview = selectors.template_preview(template=template, starts=starts)
        except services.BookingClash as clash:
            form.add_error(None, _("Nothing was created:"))
            form.add_error(None, clash.messages)
            preview = selectors.template_preview(template=template, starts=starts)
        except ValidationError as error:
            _add_errors(form, error)
    if created is not None:
        messages.success(
            request, _("%(count)s streams planned from the template.") % {"count": len(created)}
        )
        first = created[0].planned_start.astimezone(zone).date() if created else None
        query = f"?studio={template.studio_id}" + (f"&date={first.isoformat()}" if first else "")
        return redirect(reverse("plan") + query)
    return render(
        request,
        "rooms/template_use.html",
        {
            "template": template,
            "form": form,
            "preview": preview,
            "zone": zone,
            "clashing": sum(bool(o.clashes) for o in preview or []),
        },
    )


# --- People: availability and calendar feeds ---------------------------------------------


@login_required
def person_availability(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk, is_active=True)
    if not request.user.has_perm("rooms.view_person_schedule", person):
        raise Http404
    can_change = request.user.has_perm("rooms.change_availability", person)
    initial = {}
    for row in person.working_hours.all():
        initial[f"starts_{row.weekday}"] = row.starts
        initial[f"ends_{row.weekday}"] = row.ends
    hours_form = WorkingHoursForm(initial=initial)
    off_form = TimeOffForm()
    if request.method == "POST" and can_change:
        try:
            if request.POST.get("form") == "hours":
                hours_form = WorkingHoursForm(request.POST)
                if hours_form.is_valid():
                    services.working_hours_set(
                        actor=request.user, person=person, hours=hours_form.hours()
                    )
                    messages.success(request, _("Working hours saved."))
                    return redirect("person-availability", person.pk)
            elif request.POST.get("form") == "off":
                off_form = TimeOffForm(request.POST)
                if off_form.is_valid():
                    services.time_off_add(
                        actor=request.user, person=person, **off_form.cleaned_data
                    )
                    messages.success(request, _("Time off added."))
                    return redirect("person-availability", person.pk)
            elif request.POST.get("form") == "remove-off":
                time_off = person.time_off.filter(pk=_int_or_none(request.POST.get("id"))).first()
                if time_off is None:
                    raise Http404
                services.time_off_remove(actor=request.user, time_off=time_off)
                messages.success(request, _("Time off removed."))
                return redirect("person-availability", person.pk)
        except ValidationError as error:
            _add_errors(off_form if request.POST.get("form") == "off" else hours_form, error)
    return render(
        request,
        "rooms/availability.html",
        {
            "person": person,
            "can_change": can_change,
            "hours_form": hours_form,
            "off_form": off_form,
            "time_off": person.time_off.filter(last_day__gte=timezone.now().date()),
        },
    )


def _int_or_none(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


@login_required
def calendar_feed(request: HttpRequest) -> HttpResponse:
    """The person's own iCal address: make a new one (shown once) or switch it off."""
    address = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            services.calendar_feed_revoke(actor=request.user, person=request.user)
            messages.success(request, _("Your calendar address no longer works."))
            return redirect("calendar-feed")
        token = services.calendar_feed_issue(actor=request.user, person=request.user)
        address = request.build_absolute_uri(reverse("calendar-ics", args=[token]))
    active = request.user.calendar_feeds.filter(revoked_at__isnull=True).first()
    return render(request, "rooms/calendar_feed.html", {"address": address, "active": active})


def calendar_ics(request: HttpRequest, token: str) -> HttpResponse:
    """A person's streams as an iCalendar feed, at a secret address their phone polls."""
    found = selectors.calendar_feed_person(token)
    if found is None:
        raise Http404
    feed_id, person = found
    bookings = selectors.person_bookings(person=person, since=timezone.now() - timedelta(days=30))
    services.calendar_feed_fetched(feed_id=feed_id)
    response = HttpResponse(ical.person_calendar(person, bookings), content_type="text/calendar")
    response["Content-Disposition"] = 'inline; filename="mcn-console.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response


# --- Studios and channels ----------------------------------------------------------------


@login_required
def studios(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "rooms/studios.html",
        {
            "studios": selectors.studios_for_user(request.user).prefetch_related("members"),
            "channels": Channel.objects.order_by("name"),
            "can_add_studio": request.user.has_perm("rooms.add_studio"),
            "can_add_channel": request.user.has_perm("rooms.add_channel"),
        },
    )


@login_required
def studio_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    studio = get_object_or_404(selectors.studios_for_user(request.user), pk=pk) if pk else None
    if not request.user.has_perm("rooms.change_studio" if studio else "rooms.add_studio", studio):
        raise PermissionDenied
    form = StudioForm(request.POST or None, instance=studio)
    known = selectors.people_for_user(request.user).values("pk")
    form.fields["members"].queryset = User.objects.filter(
        Q(pk__in=known) | Q(pk__in=studio.members.values("pk") if studio else [])
    ).order_by("display_name", "username")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if studio is None:
                studio = services.studio_create(
                    actor=request.user,
                    name=data["name"],
                    time_zone=data["time_zone"],
                    members=list(data["members"]),
                )
            else:
                services.studio_update(
                    actor=request.user,
                    studio=studio,
                    name=data["name"],
                    time_zone=data["time_zone"],
                    members=list(data["members"]),
                )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("Studio saved."))
            return redirect("studios")
    return render(request, "rooms/simple_form.html", {"form": form, "title": _("Studio")})


@login_required
@require_POST
def studio_or_channel_delete(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    try:
        if kind == "studio":
            studio = get_object_or_404(selectors.studios_for_user(request.user), pk=pk)
            services.studio_delete(actor=request.user, studio=studio)
        else:
            channel = get_object_or_404(Channel, pk=pk)
            services.channel_delete(actor=request.user, channel=channel)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Deleted."))
    return redirect("studios")


@login_required
def channel_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    channel = get_object_or_404(Channel, pk=pk) if pk else None
    if not request.user.has_perm(
        "rooms.change_channel" if channel else "rooms.add_channel", channel
    ):
        raise PermissionDenied
    form = ChannelForm(request.POST or None, instance=channel)
    if channel is not None:
        form.fields["key"].disabled = True
    secret = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if channel is None:
                channel, secret = services.channel_create(actor=request.user, **data)
            else:
                data.pop("key")
                services.channel_update(actor=request.user, channel=channel, **data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            if secret is None:
                messages.success(request, _("Channel saved."))
                return redirect("studios")
    return render(
        request,
        "rooms/simple_form.html",
        {"form": form, "title": _("Channel"), "secret": secret, "channel": channel},
    )


# --- After the stream: the summary (复盘) -----------------------------------------------------


@login_required
def stream_summary(request: HttpRequest, pk: int) -> HttpResponse:
    """The first look back at a stream; `?format=csv&table=products|segments` downloads a
    table for a spreadsheet."""
    stream = selectors.stream_get_for_user(request.user, pk)
    if stream is None:
        raise Http404
    summary = selectors.stream_summary(stream)
    if request.GET.get("format") == "csv":
        return _summary_csv(summary, request.GET.get("table", "products"))
    return render(
        request,
        "rooms/stream_summary.html",
        {
            "stream": stream,
            "summary": summary,
            "duration": _clock(summary.duration_seconds),
            "conversion_percent": (
                (summary.tiles.conversion * 100).quantize(Decimal("0.01"))
                if summary.tiles.conversion is not None
                else None
            ),
            "segments": [
                {
                    "segment": segment,
                    "planned": _clock(segment.planned_seconds),
                    "actual": _clock(segment.actual_seconds) if segment.runs else None,
                    "over": _clock(segment.over_seconds, signed=True),
                }
                for segment in summary.segments
            ],
            "sections": [
                section
                for source in selectors.SUMMARY_SECTIONS
                if (section := source(stream, request.user))
            ],
        },
    )


def _clock(seconds: int | None, *, signed: bool = False) -> str | None:
    """Seconds as a stopwatch reads them: 12:05, 1:02:05; signed +2:00 / −3:00 for drift."""
    if seconds is None:
        return None
    sign = ("+" if seconds > 0 else "−" if seconds < 0 else "±") if signed else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return sign + text


def _summary_csv(summary: selectors.StreamSummary, table: str) -> HttpResponse:
    if table == "products":
        header = ["link", "sku", "product", "type", "gmv", "orders", "items", "refunds", "gpm"]
        rows = [
            [
                *(p.link_number or "", p.sku, p.name, p.kind, p.gmv),
                *(p.orders, p.items, p.refunds, "" if p.gpm is None else p.gpm),
            ]
            for p in summary.products
        ]
    elif table == "segments":
        header = [
            "segment",
            "title",
            "planned_seconds",
            "actual_seconds",
            "over_seconds",
            "runs",
            "gmv",
            "orders",
            "items",
            "entered",
            "gpm",
        ]
        rows = [
            [
                s.index + 1,
                s.title,
                s.planned_seconds,
                s.actual_seconds,
                "" if s.over_seconds is None else s.over_seconds,
                s.runs,
                s.gmv,
                s.orders,
                s.items,
                s.entered,
                "" if s.gpm is None else s.gpm,
            ]
            for s in summary.segments
        ]
    else:
        raise Http404
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="stream-{summary.stream.pk}-{table}.csv"'
    )
    # The byte-order mark makes spreadsheet programs read the Chinese product names as UTF-8.
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow([*header, "currency"])
    writer.writerows([*row, summary.currency] for row in rows)
    return response


# --- Wall screen and screen pairing ------------------------------------------------------

# How often a wall screen asks which stream its studio is on (and so learns it was unpaired).
WALL_CHECK_SECONDS = 60


def _screen_identity(request: HttpRequest) -> selectors.ScreenIdentity | None:
    raw = request.COOKIES.get(SCREEN_COOKIE, "").strip()
    return selectors.screen_identify(raw) if raw else None


@never_cache
def screen(request: HttpRequest) -> HttpResponse:
    """The studio TV: its studio's wall once paired, else a pairing code. Nobody signs in on
    a wall; the cookie set when the pairing completes is the screen's credential.

    The screen's language is whatever `?lang=en|zh-hans` last chose, kept in the language
    cookie, and until then the TV browser's Accept-Language: on a wall TV the browser's
    own language setting is often out of reach, typing the address once is not.
    """
    language = request.GET.get("lang")
    if language is not None:
        response = redirect("screen")
        if language in dict(settings.LANGUAGES):
            _with_language_cookie(response, language)
        return response
    identity = _screen_identity(request)
    if identity is None:
        response = render(
            request,
            "rooms/screen_pairing.html",
            {"pairing": _pairing_page_data(request)},
        )
        if SCREEN_COOKIE in request.COOKIES:
            response.delete_cookie(SCREEN_COOKIE, samesite="Lax")
        return response
    studio = get_object_or_404(Studio, pk=identity.studio_id)
    stream = selectors.studio_current_stream(identity.studio_id)
    return render(
        request,
        "rooms/wall.html",
        {"studio": studio, "stream": stream, "wall": _wall_page_data(studio, stream, tv=True)},
    )


@never_cache
def screen_current(request: HttpRequest) -> JsonResponse:
    """Which stream the TV's studio is on now; 403 once the screen is unpaired."""
    identity = _screen_identity(request)
    if identity is None:
        return JsonResponse(
            {"detail": _("This screen is no longer paired."), "code": "not_paired"}, status=403
        )
    # A wall with nothing on air holds no socket, whose heartbeat would record it as seen.
    services.screen_tokens_seen(token_ids=[identity.token_id])
    stream = selectors.studio_current_stream(identity.studio_id)
    return JsonResponse({"studio": identity.studio_id, "stream": stream.pk if stream else None})


@login_required
def stream_wall(request: HttpRequest, pk: int) -> HttpResponse:
    """A signed-in person's preview of the wall screen for a stream they can see."""
    stream = _stream_or_404(request, pk)
    return render(
        request,
        "rooms/wall.html",
        {
            "studio": stream.studio,
            "stream": stream,
            "wall": _wall_page_data(stream.studio, stream, tv=False),
        },
    )


def _pairing_page_data(request: HttpRequest) -> dict:
    return {
        "verification_uri": request.build_absolute_uri(reverse("screen-pair")),
        "urls": {
            "start": reverse("api-pairing-start"),
            "token": reverse("api-pairing-token"),
            "screen": reverse("screen"),
        },
        "labels": {
            "starting": _("Asking for a code…"),
            "waiting": _("Waiting for the code to be entered. It expires in %(time)s."),
            "renewing": _("The code expired: here is a new one."),
            "paired": _("Paired. Opening the wall…"),
            "offline": _("No answer from the server. Trying again…"),
        },
    }


def _wall_page_data(studio: Studio, stream: Stream | None, *, tv: bool) -> dict:
    """What wall.js starts from: the live snapshot, the lineup's names and prices, the words
    it shows in the screen's language, and where to reload from."""
    return {
        "mode": "screen" if tv else "preview",
        "studio": studio.name,
        "timeZone": studio.time_zone,
        "snapshot": selectors.live_snapshot(stream) if stream else None,
        "products": [
            {"link_number": item.link_number, "name": item.name, "live_price": item.live_price}
            for item in (stream.lineup.order_by("position") if stream else [])
        ],
        "heartbeatSeconds": settings.MCN_WS_HEARTBEAT_SECONDS,
        "checkSeconds": WALL_CHECK_SECONDS,
        "language": translation.get_language(),
        "urls": {
            "live": reverse("api-stream-live", args=[stream.pk]) if stream else None,
            "current": reverse("screen-current") if tv else None,
            "screen": reverse("screen") if tv else None,
        },
        "labels": _wall_labels(),
    }


def _wall_labels() -> dict:
    return {
        **_socket_labels(),
        # Trend markers stay short: they sit side by side above the chart.
        "markers": {
            LiveCueKind.PIN: pgettext("trend marker", "Pin"),
            LiveCueKind.UNPIN: pgettext("trend marker", "Unpin"),
            LiveCueKind.PRICE_CHANGE: pgettext("trend marker", "Price"),
            LiveCueKind.COUPON: pgettext("trend marker", "Coupon"),
            LiveCueKind.FLASH_SALE: pgettext("trend marker", "Flash"),
            LiveCueKind.SOLD_OUT: pgettext("trend marker", "Sold out"),
            LiveCueKind.LUCKY_BAG: pgettext("trend marker", "Lucky bag"),
            LiveCueKind.CHEER: pgettext("trend marker", "Cheer"),
            LiveCueKind.MUSIC: pgettext("trend marker", "Music"),
            LiveCueKind.CAMERA: pgettext("trend marker", "Camera"),
        },
        "gmv": _("GMV"),
        "online": _("Online viewers"),
        "gmvAxis": pgettext("chart axis", "GMV"),
        "onlineAxis": pgettext("chart axis", "Online"),
        "placed": _("placed %(amount)s"),
        "refunded": _("%(count)s refunded"),
        "peak": _("peak %(count)s"),
        "perThousand": _("per 1,000 entered"),
        "ofEntered": _("of viewers entered"),
        "change": _("%(change)s on the 5 min before"),
        "noData": _("The trend starts with the first order or viewer count."),
        "notStarted": _("The show has not started"),
        "startsIn": _("starts in"),
        "left": _("left"),
        "overrun": _("over time"),
        "over": _("%(time)s behind plan"),
        "under": _("%(time)s ahead of plan"),
        "onTime": _("On plan"),
        "endOfPlan": _("End of the plan"),
        "ended": _("The stream has ended"),
        "position": _("%(n)s of %(total)s"),
        "operatorOffline": _(
            "The operator's console is offline: counting on from the last position."
        ),
        "nonePinned": _("Nothing pinned"),
        "flashSale": _("Flash sale"),
        "flashLeft": _("%(time)s left"),
    }


@login_required
def screens(request: HttpRequest) -> HttpResponse:
    """Paired screens of the person's studios, and unpairing one."""
    tokens = selectors.screen_tokens_for_user(request.user)
    if request.method == "POST":
        chosen = request.POST.get("revoke", "")
        if not chosen.isdigit():
            raise Http404
        token = get_object_or_404(tokens, pk=chosen)
        services.screen_token_revoke(actor=request.user, token=token)
        messages.success(
            request,
            _("%(name)s is unpaired: it goes back to its pairing code within a minute.")
            % {"name": token.name},
        )
        return redirect("screens")
    return render(
        request,
        "rooms/screens.html",
        {
            "tokens": tokens.select_related("created_by"),
            "now": timezone.now(),
            "can_pair": _pairable_studios(request.user).exists(),
            "screen_url": request.build_absolute_uri(reverse("screen")),
        },
    )


def _pairable_studios(user: User):
    studios = selectors.studios_for_user(user)
    return studios.filter(pk__in=[s.pk for s in studios if user.has_perm("rooms.pair_screen", s)])


@login_required
def screen_pair(request: HttpRequest) -> HttpResponse:
    """Enter the code a wall screen shows, to pair it with one of your studios."""
    studios = _pairable_studios(request.user)
    if not studios.exists():
        raise PermissionDenied
    form = ScreenPairForm(request.POST or None, studios=studios)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            pairing = services.screen_pairing_approve(
                actor=request.user,
                user_code=data["code"],
                studio=data["studio"],
                name=data["name"],
                lifetime=services.SCREEN_TOKEN_LIFETIMES[data["lifetime"]],
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("%(name)s is paired.") % {"name": pairing.name})
            return redirect("screens")
    return render(
        request,
        "rooms/screen_pair.html",
        {"form": form, "screen_url": request.build_absolute_uri(reverse("screen"))},
    )
