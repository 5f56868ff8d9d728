"""Web screens of the rooms app: the stream list and a stream's live event feed."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import eventlog, ical, lineup_import, readiness, schedule, selectors, services
from .auth import SignInGuard
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
    LineupItem,
    Platform,
    Stream,
    StreamStatus,
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
