"""Every write in the rooms app: people, studios, channels, streams, tokens and the inbox."""

import json
import logging
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from itertools import groupby

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Case, F, Max, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg import errors as psycopg_errors

from . import (
    eventlog,
    ingest,
    lineup_import,
    lock_objects,
    readiness,
    schedule,
    selectors,
    templates_hooks,
)
from . import show as show_module
from .events import (
    crew_changed,
    cue_changed,
    lineup_changed,
    metrics_updated,
    orders_received,
    readiness_overridden,
    show_moved,
    show_operator_changed,
    show_pinned_changed,
    stream_planned,
    stream_replanned,
    stream_status_changed,
    viewers_sampled,
)
from .lineup_import import LineupRowsInvalid, RowError
from .models import (
    LINEUP_FIELD_NAMES,
    PRODUCT_LIVE_CUES,
    ApiToken,
    CalendarFeed,
    Channel,
    ChannelSecret,
    CrewAssignment,
    CrewRole,
    CueState,
    IngestEvent,
    IngestStatus,
    LineupFields,
    LineupItem,
    LineupSet,
    LineupSetItem,
    LiveCueKind,
    Platform,
    ReadinessOverride,
    Role,
    ScreenPairing,
    ScreenToken,
    Show,
    ShowCue,
    ShowSegmentRun,
    Stream,
    StreamMinute,
    StreamOrder,
    StreamStatus,
    StreamTemplate,
    Studio,
    TemplateCrewSlot,
    TimeOff,
    User,
    WorkingHours,
)
from .tokens import token_hash, token_new

logger = logging.getLogger(__name__)


# --- People ------------------------------------------------------------------------------


def roles_ensure() -> None:
    """Create one group per role; idempotent."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    roles: list[Role],
    display_name: str = "",
    language: str = "en",
    time_zone: str = "Asia/Shanghai",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    user = User(
        username=username,
        display_name=display_name,
        language=language,
        time_zone=time_zone,
        is_staff=is_staff or is_superuser,
        is_superuser=is_superuser,
    )
    user.set_password(password)
    user.full_clean()
    user.save()
    roles_ensure()
    user.groups.set(Group.objects.filter(name__in=[role.value for role in roles]))
    return user


def user_password_set(*, user: User, password: str) -> User:
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def user_preferences_update(
    *, user: User, language: str | None = None, time_zone: str | None = None
) -> User:
    if language is not None:
        user.language = language
    if time_zone is not None:
        user.time_zone = time_zone
    user.full_clean(exclude=["password"])
    user.save(update_fields=["language", "time_zone"])
    return user


def api_token_revoke(*, actor: User, token: ApiToken) -> None:
    """Revoke a token: its owner may, and so may superusers."""
    if actor.pk != token.user_id and not actor.is_superuser:
        raise PermissionDenied(_("You don't have permission to do this."))
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_issue(*, user: User) -> str:
    """A new API token for the user; the raw token is returned once and never stored."""
    if not user.is_active:
        raise PermissionDenied(_("This account is disabled."))
    raw, key_hash = token_new("mcn")
    ApiToken.objects.create(user=user, key_hash=key_hash)
    return raw


# --- Studios and channels ----------------------------------------------------------------


def studio_create(
    *, actor: User | None, name: str, time_zone: str, members: Sequence[User] = ()
) -> Studio:
    """A studio; the producer who sets it up is one of its members."""
    _require(actor, "rooms.add_studio")
    studio = Studio(name=name, time_zone=time_zone)
    _check_members(actor, studio, members)
    studio.full_clean()
    with transaction.atomic():
        studio.save()
        studio.members.set([*members, *([actor] if actor is not None else [])])
    return studio


def studio_update(
    *,
    actor: User | None,
    studio: Studio,
    name: str | None = None,
    time_zone: str | None = None,
    members: Sequence[User] | None = None,
) -> Studio:
    """Rename a studio, change its time zone (its plans keep their instants), or its members."""
    _require(actor, "rooms.change_studio", studio)
    if name is not None:
        studio.name = name
    if time_zone is not None:
        studio.time_zone = time_zone
    if members is not None:
        _check_members(actor, studio, members)
    studio.full_clean()
    with transaction.atomic():
        studio.save()
        if members is not None:
            studio.members.set(members)
    return studio


def _check_members(actor: User | None, studio: Studio, members: Sequence[User]) -> None:
    """Membership is what lets producers plan (and see the availability of) people, so a
    producer may only bring in people they already work with, and never drop another
    producer; administrators do both."""
    if actor is None or actor.is_superuser:
        return
    current = set(studio.members.values_list("pk", flat=True)) if studio.pk else set()
    wanted = {member.pk for member in members}
    known = set(selectors.people_for_user(actor).values_list("pk", flat=True)) | current
    strangers = [member for member in members if member.pk not in known]
    if strangers:
        raise ValidationError(
            {
                "members": _(
                    "%(names)s do not work in any of your studios; an administrator adds "
                    "new people."
                )
                % {"names": ", ".join(str(member) for member in strangers)}
            }
        )
    dropped = User.objects.filter(pk__in=current - wanted - {actor.pk}, groups__name=Role.PRODUCER)
    if dropped.exists():
        raise ValidationError(
            {
                "members": _("Only an administrator can take a producer (%(names)s) off a studio.")
                % {"names": ", ".join(str(person) for person in dropped)}
            }
        )


def studio_delete(*, actor: User | None, studio: Studio) -> None:
    """Remove a studio that has never had a stream (planned streams keep their studio)."""
    _require(actor, "rooms.change_studio", studio)
    if studio.streams.exists():
        raise ValidationError(
            _("%(studio)s has streams; move or delete them first.") % {"studio": studio}
        )
    studio.delete()


def channel_delete(*, actor: User | None, channel: Channel) -> None:
    """Remove a channel that has never had a stream or received a platform event."""
    _require(actor, "rooms.change_channel", channel)
    if channel.streams.exists() or channel.ingest_events.exists() or channel.templates.exists():
        raise ValidationError(
            _("%(channel)s has streams, templates or platform events and is kept.")
            % {"channel": channel}
        )
    channel.delete()


def channel_update(
    *,
    actor: User | None,
    channel: Channel,
    name: str | None = None,
    platform: Platform | None = None,
    currency: str | None = None,
    time_zone: str | None = None,
) -> Channel:
    """Change a channel's details. Its key is what the platform signs with, so it stays."""
    _require(actor, "rooms.change_channel", channel)
    for field_name, value in {
        "name": name,
        "platform": platform,
        "currency": currency,
        "time_zone": time_zone,
    }.items():
        if value is not None:
            setattr(channel, field_name, value)
    channel.full_clean()
    channel.save()
    return channel


@transaction.atomic
def channel_create(
    *,
    actor: User | None,
    key: str,
    name: str,
    platform: Platform,
    currency: str,
    time_zone: str,
) -> tuple[Channel, str]:
    """A channel and its first ingest secret, returned once for the platform integration."""
    _require(actor, "rooms.add_channel")
    channel = Channel(key=key, name=name, platform=platform, currency=currency, time_zone=time_zone)
    channel.full_clean()
    channel.save()
    # The first secret comes with the channel, for whoever connects the platform; later
    # rotation is an administrator's job.
    secret = channel_secret_add(actor=None, channel=channel)
    return channel, secret


def channel_secret_add(
    *, actor: User | None, channel: Channel, retire_others_after: timedelta | None = None
) -> str:
    """Add a signing secret; with `retire_others_after`, the current ones expire then.

    During the overlap the platform may sign with either secret, or with both (several `v1=`
    values in one header).
    """
    _require(actor, "rooms.manage_channel_secrets")
    secret = secrets.token_hex(32)
    with transaction.atomic():
        if retire_others_after is not None:
            ChannelSecret.objects.filter(channel=channel, expires_at__isnull=True).update(
                expires_at=timezone.now() + retire_others_after
            )
        ChannelSecret.objects.create(channel=channel, secret=secret)
    return secret


# --- Streams -----------------------------------------------------------------------------

# The lifecycle: draft → scheduled → live → ended → reviewed, plus unscheduling a stream
# that has not started. Only scheduled streams receive platform events (selectors), so
# only they can be taken live by one.
STREAM_TRANSITIONS: dict[str, frozenset[str]] = {
    StreamStatus.DRAFT: frozenset({StreamStatus.SCHEDULED}),
    StreamStatus.SCHEDULED: frozenset({StreamStatus.DRAFT, StreamStatus.LIVE}),
    StreamStatus.LIVE: frozenset({StreamStatus.ENDED}),
    StreamStatus.ENDED: frozenset({StreamStatus.REVIEWED}),
    StreamStatus.REVIEWED: frozenset(),
}
# A plan can be changed until the stream goes live; after that it is history.
PLANNABLE = frozenset({StreamStatus.DRAFT, StreamStatus.SCHEDULED})


def _require(actor: User | None, perm: str, obj: object = None) -> None:
    """Check the acting person's permission; `None` is the system itself (seeding, ingest)."""
    if actor is not None and not actor.has_perm(perm, obj):
        raise PermissionDenied(_("You don't have permission to do this."))


class BookingClash(ValidationError):
    """A studio or a person would be on two overlapping streams. Names every clash."""

    def __init__(self, clashes: list[selectors.Clash], *, viewer: User | None):
        # A clash on a stream the person asking may not see says when, not what.
        self.clashes = selectors.clashes_for_viewer(viewer, clashes)
        super().__init__([clash.message() for clash in self.clashes], code="clash")


class AvailabilityWarning(ValidationError):
    """The person may not be free (days off, outside their hours); accept to assign anyway."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(problems, code="availability")


def _save_bookings(
    save: Callable[[], None], recheck: Callable[[], list], *, viewer: User | None
) -> None:
    """Run `save` in a savepoint; if the exclusion constraints reject it (a concurrent
    booking won the race after our check), name the clash that now exists."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                save()
            return
        except OperationalError as error:
            # PostgreSQL checks an exclusion constraint after adding the index entry, so two
            # overlapping bookings written at the same instant can wait on each other; it
            # breaks the tie with a deadlock error. Tried once more, this booking waits for
            # the other to commit and then meets it as an exclusion violation.
            if attempt == 2 or not isinstance(error.__cause__, psycopg_errors.DeadlockDetected):
                raise
        except IntegrityError as error:
            if not isinstance(error.__cause__, psycopg_errors.ExclusionViolation):
                raise
            clashes = recheck()
            if not clashes:
                raise ValidationError(
                    _("Someone else just booked this time; reload and try again."), code="clash"
                ) from error
            raise BookingClash(clashes, viewer=viewer) from error


def _validate_plan(planned_start: datetime, planned_end: datetime) -> None:
    if planned_end <= planned_start:
        raise ValidationError({"planned_end": _("The end must be after the start.")})
    if planned_end - planned_start > timedelta(hours=24):
        raise ValidationError({"planned_end": _("A stream can be at most 24 hours long.")})


@transaction.atomic
def stream_create(
    *,
    actor: User | None,
    channel: Channel,
    studio: Studio,
    title: str,
    planned_start: datetime,
    planned_end: datetime,
    status: StreamStatus = StreamStatus.DRAFT,
    setup_before: timedelta = timedelta(minutes=30),
    teardown_after: timedelta = timedelta(minutes=15),
    required_roles: Sequence[str] | None = None,
    template: StreamTemplate | None = None,
    notes: str = "",
) -> Stream:
    """Plan a stream; the studio must be free for it, set-up and teardown included."""
    _require(actor, "rooms.add_stream", studio)
    _validate_plan(planned_start, planned_end)
    stream = Stream(
        channel=channel,
        studio=studio,
        title=title,
        planned_start=planned_start,
        planned_end=planned_end,
        status=status,
        setup_before=setup_before,
        teardown_after=teardown_after,
        booked=schedule.booking(planned_start, planned_end, setup_before, teardown_after),
        template=template,
        notes=notes,
    )
    if required_roles is not None:
        stream.required_roles = list(dict.fromkeys(required_roles))
    # Clashes are checked below with a message naming them, not by the generic validator.
    stream.full_clean(exclude=["booked"])
    clashes = selectors.studio_clashes(studio_id=studio.pk, window=stream.booked)
    if clashes:
        raise BookingClash(clashes, viewer=actor)
    _save_bookings(
        stream.save,
        lambda: selectors.studio_clashes(studio_id=studio.pk, window=stream.booked),
        viewer=actor,
    )
    stream_planned(stream=stream, by=actor)
    return stream


# Fields of a stream that `stream_update` may change.
STREAM_PLAN_FIELDS = frozenset(
    {
        "title",
        "channel",
        "studio",
        "planned_start",
        "planned_end",
        "setup_before",
        "teardown_after",
        "required_roles",
        "notes",
    }
)


def stream_update(*, actor: User | None, stream: Stream, **changes) -> Stream:
    """Change a stream's plan. Moving it in time or to another studio moves every crew
    member's booking with it; any clash, studio or person, stops the whole change."""
    unknown = set(changes) - STREAM_PLAN_FIELDS
    if unknown:
        raise ValueError(f"stream_update cannot change {sorted(unknown)}")
    _require(actor, "rooms.change_stream", stream)
    if "studio" in changes:
        _require(actor, "rooms.add_stream", changes["studio"])
    with transaction.atomic():
        stream = lock_objects.stream_for_update(stream.pk)
        before = {name: getattr(stream, name) for name in changes}
        for name, value in changes.items():
            setattr(stream, name, value)
        if "required_roles" in changes:
            stream.required_roles = list(dict.fromkeys(changes["required_roles"]))
        moved = any(
            getattr(stream, name) != before[name]
            for name in ("studio", "planned_start", "planned_end", "setup_before", "teardown_after")
            if name in before
        )
        if moved and stream.status not in PLANNABLE:
            raise ValidationError(
                _("A %(status)s stream can no longer be moved.")
                % {"status": stream.get_status_display().lower()}
            )
        _validate_plan(stream.planned_start, stream.planned_end)
        stream.booked = schedule.booking(
            stream.planned_start, stream.planned_end, stream.setup_before, stream.teardown_after
        )
        stream.full_clean(exclude=["booked"])
        crew = list(lock_objects.crew_for_update(stream.pk))
        for assignment in crew:
            assignment.booked = schedule.booking(
                stream.planned_start,
                stream.planned_end,
                assignment.buffer_before,
                assignment.buffer_after,
            )

        def clashes() -> list[selectors.Clash]:
            return selectors.studio_clashes(
                studio_id=stream.studio_id, window=stream.booked, exclude_stream=stream.pk
            ) + selectors.crew_clashes(
                bookings=[(a.person_id, a.booked) for a in crew], exclude_stream=stream.pk
            )

        found = clashes() if moved else []
        if found:
            raise BookingClash(found, viewer=actor)

        changed = {
            name: _event_value(getattr(stream, name))
            for name in changes
            if getattr(stream, name) != before[name]
        }
        if changed:
            stream.revision += 1

        def save() -> None:
            stream.save()
            if moved and crew:
                CrewAssignment.objects.bulk_update(crew, ["booked"])

        _save_bookings(save, clashes, viewer=actor)
        if changed:
            stream_replanned(stream=stream, changed=changed, by=actor)
    return stream


def _event_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if hasattr(value, "pk"):
        return value.pk
    return value


def stream_delete(*, actor: User | None, stream: Stream) -> None:
    """Delete a stream that never went live (a cancelled plan)."""
    _require(actor, "rooms.change_stream", stream)
    with transaction.atomic():
        stream = lock_objects.stream_for_update(stream.pk)
        if stream.status not in PLANNABLE:
            raise ValidationError(_("Only a draft or scheduled stream can be deleted."))
        stream.delete()


def stream_transition(
    *,
    actor: User | None,
    stream: Stream,
    to: StreamStatus,
    at: datetime | None = None,
) -> Stream:
    """Move a stream along its lifecycle, recording the change in its event log.

    A person taking a stream live must have a complete readiness checklist or have
    overridden it with a reason; the platform saying the stream is live is a fact, not
    a request, and is recorded whatever is missing.
    """
    # Going live and ending are the room's call (its operators and floor controller) as
    # much as the producers'; planning moves are the producers' alone.
    live_moves = to in (StreamStatus.LIVE, StreamStatus.ENDED)
    _require(actor, "rooms.run_show" if live_moves else "rooms.change_stream", stream)
    at = at or timezone.now()
    with transaction.atomic():
        stream = lock_objects.stream_for_update(stream.pk)
        if stream.status == to:
            return stream
        if to not in STREAM_TRANSITIONS[stream.status]:
            raise ValidationError(
                _("Cannot move a stream from %(from)s to %(to)s.")
                % {"from": stream.get_status_display(), "to": StreamStatus(to).label}
            )
        if to == StreamStatus.LIVE and actor is not None:
            missing = readiness.uncovered(stream)
            if missing:
                raise ValidationError(
                    _(
                        "Not ready to go live. Missing: %(missing)s. Fix these, or override "
                        "the checklist with a reason."
                    )
                    % {"missing": "; ".join(str(item.label) for item in missing)},
                    code="not_ready",
                )
        previous = stream.status
        stream.status = to
        if to == StreamStatus.LIVE and stream.actual_start is None:
            stream.actual_start = at
        if to == StreamStatus.ENDED:
            stream.actual_end = at
        stream.save(update_fields=["status", "actual_start", "actual_end"])
        # The show before the log (see lock_objects): a move or cue in flight finishes first,
        # and one that comes after sees the new status.
        if to == StreamStatus.LIVE:
            _show_for_update(stream)  # the plan is fixed as the stream goes live
        if to == StreamStatus.ENDED:
            lock_objects.show_for_update(stream.pk)
            ShowSegmentRun.objects.filter(stream=stream, ended_at__isnull=True).update(ended_at=at)
        stream_status_changed(stream=stream, previous=previous, by=actor)
    return stream


@transaction.atomic
def readiness_override(*, actor: User, stream: Stream, reason: str) -> ReadinessOverride:
    """Record a producer's decision to go live with the checklist incomplete, and why."""
    _require(actor, "rooms.change_stream", stream)
    reason = reason.strip()
    if len(reason) < 5:
        raise ValidationError({"reason": _("Say why the stream may go live regardless.")})
    stream = lock_objects.stream_for_update(stream.pk)
    if stream.status not in PLANNABLE:
        raise ValidationError(_("The checklist only matters before the stream goes live."))
    items = readiness.checklist(stream)
    if not readiness.uncovered(stream, items):
        raise ValidationError(_("Nothing on the checklist is missing; no override is needed."))
    # The new decision covers everything missing now, so it replaces earlier ones.
    missing = [{"key": item.key, "label": str(item.label)} for item in items if not item.done]
    override = ReadinessOverride.objects.create(
        stream=stream, reason=reason, missing=missing, by=actor, at=timezone.now()
    )
    readiness_overridden(stream=stream, override=override)
    return override


# --- Crew --------------------------------------------------------------------------------


def crew_assign(
    *,
    actor: User | None,
    stream: Stream,
    person: User,
    role: CrewRole,
    buffer_before: timedelta | None = None,
    buffer_after: timedelta | None = None,
    accept_availability: bool = False,
) -> CrewAssignment:
    """Put a person on a stream's crew.

    A clash with another stream (the person's call time included) always stops it; an
    availability problem (a day off, outside their usual hours) stops it until the producer
    accepts the warning, which is kept on the assignment.
    """
    _require(actor, "rooms.change_crew", stream)
    role = CrewRole(role)
    default_before, default_after = schedule.CREW_CALL[role]
    before = default_before if buffer_before is None else buffer_before
    after = default_after if buffer_after is None else buffer_after
    if before < timedelta(0) or after < timedelta(0):
        raise ValidationError(_("Call times cannot be negative."))
    if not person.is_active:
        raise ValidationError(_("%(name)s's account is disabled.") % {"name": person})
    if actor is not None and not stream.studio.members.filter(pk=person.pk).exists():
        raise ValidationError(
            _("%(name)s is not a member of %(studio)s; add them to the studio first.")
            % {"name": person, "studio": stream.studio}
        )
    with transaction.atomic():
        stream = lock_objects.stream_for_update(stream.pk)
        if stream.status in (StreamStatus.ENDED, StreamStatus.REVIEWED):
            raise ValidationError(_("The stream has ended; its crew is history."))
        existing = CrewAssignment.objects.filter(stream=stream, person=person, role=role).first()
        if existing is not None:
            return existing
        window = schedule.booking(stream.planned_start, stream.planned_end, before, after)
        clashes = selectors.crew_clashes(bookings=[(person.pk, window)], exclude_stream=stream.pk)
        if clashes:
            raise BookingClash(clashes, viewer=actor)
        problems = selectors.availability_problems(person=person, window=window)
        if problems and not accept_availability:
            raise AvailabilityWarning(problems)
        assignment = CrewAssignment(
            stream=stream,
            person=person,
            role=role,
            buffer_before=before,
            buffer_after=after,
            booked=window,
            assigned_by=actor,
            availability_note=" ".join(problems)[:300],
        )
        _save_bookings(
            assignment.save,
            lambda: selectors.crew_clashes(
                bookings=[(person.pk, window)], exclude_stream=stream.pk
            ),
            viewer=actor,
        )
        crew_changed(stream=stream, assignment=assignment, op="assigned", by=actor)
    return assignment


def crew_unassign(*, actor: User | None, assignment: CrewAssignment) -> None:
    _require(actor, "rooms.change_crew", assignment.stream)
    with transaction.atomic():
        stream = lock_objects.stream_for_update(assignment.stream_id)
        if stream.status in (StreamStatus.ENDED, StreamStatus.REVIEWED):
            raise ValidationError(_("The stream has ended; its crew is history."))
        deleted, _rows = CrewAssignment.objects.filter(pk=assignment.pk).delete()
        if deleted:
            crew_changed(stream=stream, assignment=assignment, op="unassigned", by=actor)


# --- Availability ------------------------------------------------------------------------


@transaction.atomic
def working_hours_set(
    *, actor: User, person: User, hours: Sequence[schedule.Hours]
) -> list[WorkingHours]:
    """Replace a person's usual weekly hours (in their own time zone)."""
    _require(actor, "rooms.change_availability", person)
    WorkingHours.objects.filter(person=person).delete()
    rows = [
        WorkingHours(person=person, weekday=h.weekday, starts=h.starts, ends=h.ends) for h in hours
    ]
    for row in rows:
        row.full_clean()
    return WorkingHours.objects.bulk_create(rows)


def time_off_add(
    *, actor: User, person: User, first_day: date, last_day: date, reason: str = ""
) -> TimeOff:
    _require(actor, "rooms.change_availability", person)
    if last_day < first_day:
        raise ValidationError({"last_day": _("The last day cannot be before the first.")})
    time_off = TimeOff(person=person, first_day=first_day, last_day=last_day, reason=reason)
    time_off.full_clean()
    time_off.save()
    return time_off


def time_off_remove(*, actor: User, time_off: TimeOff) -> None:
    _require(actor, "rooms.change_availability", time_off.person)
    time_off.delete()


# --- Calendar feeds ----------------------------------------------------------------------


@transaction.atomic
def calendar_feed_issue(*, actor: User, person: User) -> str:
    """A new secret iCal address for the person; any earlier one stops working."""
    if actor.pk != person.pk and not actor.is_superuser:
        raise PermissionDenied(_("You don't have permission to do this."))
    calendar_feed_revoke(actor=actor, person=person)
    raw, key_hash = token_new("cal")
    CalendarFeed.objects.create(person=person, key_hash=key_hash)
    return raw


def calendar_feed_revoke(*, actor: User, person: User) -> int:
    if actor.pk != person.pk and not actor.is_superuser:
        raise PermissionDenied(_("You don't have permission to do this."))
    return CalendarFeed.objects.filter(person=person, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def calendar_feed_fetched(*, feed_id: int) -> None:
    CalendarFeed.objects.filter(pk=feed_id).update(last_fetched_at=timezone.now())


# --- Templates and recurrence ------------------------------------------------------------


@transaction.atomic
def template_save(
    *,
    actor: User,
    template: StreamTemplate | None = None,
    studio: Studio,
    channel: Channel,
    name: str,
    title: str,
    start_time: time,
    duration: timedelta,
    setup_before: timedelta = timedelta(minutes=30),
    teardown_after: timedelta = timedelta(minutes=15),
    slots: Sequence[tuple[str, User | None]] = (),
    lineup_set: LineupSet | None = None,
    notes: str = "",
) -> StreamTemplate:
    """Create a template, or replace an existing one's settings and crew slots."""
    _require(actor, "rooms.change_template", studio)
    if template is not None:
        _require(actor, "rooms.change_template", template.studio)
    template = template or StreamTemplate()
    for name_, value in {
        "studio": studio,
        "channel": channel,
        "name": name,
        "title": title,
        "start_time": start_time,
        "duration": duration,
        "setup_before": setup_before,
        "teardown_after": teardown_after,
        "lineup_set": lineup_set,
        "notes": notes,
    }.items():
        setattr(template, name_, value)
    outsiders = [
        person
        for _role, person in slots
        if person is not None and not studio.members.filter(pk=person.pk).exists()
    ]
    if actor is not None and outsiders:
        raise ValidationError(
            _("%(names)s are not members of %(studio)s; add them to the studio first.")
            % {"names": ", ".join(str(p) for p in outsiders), "studio": studio}
        )
    if not timedelta(0) < duration <= timedelta(hours=24):
        raise ValidationError({"duration": _("A stream lasts between a minute and 24 hours.")})
    template.full_clean()
    template.save()
    template.slots.all().delete()
    TemplateCrewSlot.objects.bulk_create(
        TemplateCrewSlot(template=template, role=CrewRole(role), person=person)
        for role, person in slots
    )
    return template


def streams_from_template(
    *,
    actor: User,
    template: StreamTemplate,
    starts: Sequence[datetime],
    title: str | None = None,
) -> list[Stream]:
    """Plan one stream per start from a template: crew slots with a usual person are
    assigned, the rest become roles to fill, and the lineup set is copied.

    All or nothing: a clash on any occurrence saves none (`selectors.template_preview`
    shows them beforehand).
    """
    _require(actor, "rooms.add_stream", template.studio)
    slots = list(template.slots.select_related("person"))
    roles = [slot.role for slot in slots]
    created = []
    clashes: list[selectors.Clash] = []
    with transaction.atomic():
        for start in sorted(starts):
            try:
                with transaction.atomic():
                    stream = stream_create(
                        actor=actor,
                        channel=template.channel,
                        studio=template.studio,
                        title=title or template.title,
                        planned_start=start,
                        planned_end=start + template.duration,
                        setup_before=template.setup_before,
                        teardown_after=template.teardown_after,
                        required_roles=roles,
                        template=template,
                        notes=template.notes,
                    )
                    for slot in slots:
                        if slot.person is not None:
                            crew_assign(
                                actor=actor,
                                stream=stream,
                                person=slot.person,
                                role=slot.role,
                                accept_availability=True,
                            )
                    if template.lineup_set_id:
                        lineup_set_apply(actor=actor, stream=stream, lineup_set=template.lineup_set)
                    templates_hooks.stream_planned_from(actor, stream, template)
            except BookingClash as clash:
                clashes.extend(clash.clashes)
                continue
            created.append(stream)
        if clashes:
            transaction.set_rollback(True)
            # Each was already put as `actor` may read it.
            raise BookingClash(clashes, viewer=None)
    return created


# --- Lineup ------------------------------------------------------------------------------


def _lineup_stream(actor: User | None, stream_id: int) -> Stream:
    stream = lock_objects.stream_for_update(stream_id)
    _require(actor, "rooms.change_lineup", stream)
    if stream.status in (StreamStatus.ENDED, StreamStatus.REVIEWED):
        raise ValidationError(_("The stream has ended; its lineup is history."))
    return stream


def _check_link_number_free(items, link_number: int, exclude_pk: int | None = None) -> None:
    if items.filter(link_number=link_number).exclude(pk=exclude_pk).exists():
        raise ValidationError(
            {
                "link_number": _("Link #%(number)s is already in this lineup.")
                % {"number": link_number}
            }
        )


def lineup_item_add(*, actor: User | None, stream: Stream, **fields) -> LineupItem:
    """Add a product at the end of a stream's lineup; link number defaults to the next free."""
    with transaction.atomic():
        stream = _lineup_stream(actor, stream.pk)
        items = LineupItem.objects.filter(stream=stream)
        last = items.aggregate(position=Max("position"), link=Max("link_number"))
        fields.setdefault("link_number", (last["link"] or 0) + 1)
        _check_link_number_free(items, fields["link_number"])
        item = LineupItem(stream=stream, position=(last["position"] or 0) + 1, **fields)
        item.full_clean(validate_constraints=False)
        item.save()
        lineup_changed(stream=stream, by=actor)
    return item


def lineup_item_update(*, actor: User | None, item: LineupItem, **fields) -> LineupItem:
    unknown = set(fields) - set(LINEUP_FIELD_NAMES)
    if unknown:
        raise ValueError(f"lineup_item_update cannot change {sorted(unknown)}")
    with transaction.atomic():
        stream = _lineup_stream(actor, item.stream_id)
        item = LineupItem.objects.select_for_update().get(pk=item.pk)
        for name, value in fields.items():
            setattr(item, name, value)
        if "link_number" in fields:
            _check_link_number_free(stream.lineup, item.link_number, exclude_pk=item.pk)
        item.full_clean(validate_constraints=False)
        item.save()
        lineup_changed(stream=stream, by=actor)
    return item


def lineup_item_remove(*, actor: User | None, item: LineupItem) -> None:
    with transaction.atomic():
        stream = _lineup_stream(actor, item.stream_id)
        LineupItem.objects.filter(pk=item.pk).delete()
        _renumber(list(stream.lineup.order_by("position")))
        lineup_changed(stream=stream, by=actor)


def lineup_reorder(*, actor: User | None, stream: Stream, item_ids: Sequence[int]) -> None:
    """Put a stream's lineup in this order; every item must be named exactly once."""
    with transaction.atomic():
        stream = _lineup_stream(actor, stream.pk)
        items = {item.pk: item for item in stream.lineup.all()}
        if sorted(item_ids) != sorted(items):
            raise ValidationError(_("The new order must list every product of the lineup once."))
        _renumber([items[pk] for pk in item_ids])
        lineup_changed(stream=stream, by=actor)


def lineup_item_move(*, actor: User | None, item: LineupItem, step: int) -> None:
    """Move a product one place up (-1) or down (+1) the running order; at an end, stay."""
    with transaction.atomic():
        stream = _lineup_stream(actor, item.stream_id)
        order = list(stream.lineup.order_by("position"))
        index = next(i for i, other in enumerate(order) if other.pk == item.pk)
        swap = index + step
        if step not in (-1, 1) or not 0 <= swap < len(order):
            return
        order[index], order[swap] = order[swap], order[index]
        _renumber(order)
        lineup_changed(stream=stream, by=actor)


def _renumber(items: Sequence[LineupFields]) -> None:
    # Positions are unique per lineup but checked at commit, so they can be swapped freely.
    for position, item in enumerate(items, start=1):
        item.position = position
    if items:
        type(items[0]).objects.bulk_update(items, ["position"])


def lineup_replace(
    *,
    actor: User | None,
    stream: Stream,
    rows: Sequence[dict[str, object]],
    row_numbers: Sequence[int] | None = None,
) -> list[LineupItem]:
    """Replace a stream's whole lineup with these products, in order (an import, a set).
    Any bad row stops the whole replacement; every bad cell is reported."""
    with transaction.atomic():
        stream = _lineup_stream(actor, stream.pk)
        items = _lineup_rows(LineupItem, rows, row_numbers=row_numbers, stream=stream)
        LineupItem.objects.filter(stream=stream).delete()
        created = LineupItem.objects.bulk_create(items)
        lineup_changed(stream=stream, by=actor)
    return created


def lineup_import_file(
    *, actor: User | None, stream: Stream, filename: str, content: bytes
) -> list[LineupItem]:
    """Replace a stream's lineup with a .csv or .xlsx sheet; the file is read only once the
    person may change the lineup."""
    _require(actor, "rooms.change_lineup", stream)
    parsed = lineup_import.parse(filename=filename, content=content)
    return lineup_replace(
        actor=actor, stream=stream, rows=parsed.rows, row_numbers=parsed.row_numbers
    )


def _lineup_rows(
    model, rows: Sequence[dict[str, object]], *, row_numbers: Sequence[int] | None = None, **owner
) -> list:
    """Validated, positioned, unsaved items; link numbers must be unique in the lineup."""
    items, errors, seen = [], [], {}
    row_numbers = row_numbers or range(1, len(rows) + 1)
    for position, (row_number, row) in enumerate(zip(row_numbers, rows, strict=True), start=1):
        item = model(position=position, **owner, **row)
        try:
            item.full_clean(validate_constraints=False, exclude=list(owner))
        except ValidationError as error:
            for field_name, messages in error.message_dict.items():
                column = str(model._meta.get_field(field_name).verbose_name)
                errors.extend(RowError(row_number, column, message) for message in messages)
        if item.link_number in seen:
            errors.append(
                RowError(
                    row_number,
                    str(model._meta.get_field("link_number").verbose_name),
                    _("#%(number)s is already used on row %(first)s.")
                    % {"number": item.link_number, "first": seen[item.link_number]},
                )
            )
        seen.setdefault(item.link_number, row_number)
        items.append(item)
    if errors:
        raise LineupRowsInvalid(errors)
    return items


def lineup_set_save(
    *,
    actor: User,
    name: str,
    rows: Sequence[dict[str, object]],
    row_numbers: Sequence[int] | None = None,
    lineup_set: LineupSet | None = None,
    notes: str = "",
) -> LineupSet:
    """Create a reusable lineup, or replace an existing one's products."""
    _require(actor, "rooms.change_lineup_set")
    with transaction.atomic():
        lineup_set = lineup_set or LineupSet()
        lineup_set.name, lineup_set.notes = name, notes
        lineup_set.full_clean()
        lineup_set.save()
        items = _lineup_rows(LineupSetItem, rows, row_numbers=row_numbers, lineup_set=lineup_set)
        lineup_set.items.all().delete()
        LineupSetItem.objects.bulk_create(items)
    return lineup_set


def lineup_set_from_stream(*, actor: User, stream: Stream, name: str) -> LineupSet:
    """Keep a stream's lineup as a reusable set."""
    _require(actor, "rooms.view_stream", stream)
    return lineup_set_save(
        actor=actor,
        name=name,
        rows=[
            {name_: getattr(item, name_) for name_ in LINEUP_FIELD_NAMES}
            for item in stream.lineup.order_by("position")
        ],
    )


def lineup_set_apply(
    *, actor: User | None, stream: Stream, lineup_set: LineupSet
) -> list[LineupItem]:
    """Copy a set's products onto a stream, replacing its lineup."""
    return lineup_replace(
        actor=actor,
        stream=stream,
        rows=[
            {name: getattr(item, name) for name in LINEUP_FIELD_NAMES}
            for item in lineup_set.items.order_by("position")
        ],
    )


# --- Screens -----------------------------------------------------------------------------


def screen_token_issue(*, actor: User | None, studio: Studio, name: str, ttl: timedelta) -> str:
    """A read-only credential for one studio's shared screen; the raw token is returned once."""
    _require(actor, "rooms.pair_screen", studio)
    raw, key_hash = token_new("scr")
    ScreenToken.objects.create(
        studio=studio,
        name=name,
        key_hash=key_hash,
        created_by=actor,
        expires_at=timezone.now() + ttl,
    )
    return raw


def screen_tokens_seen(*, token_ids: list[int]) -> None:
    """Record that these paired screens are still watching (shown in the admin)."""
    ScreenToken.objects.filter(pk__in=token_ids).update(last_seen_at=timezone.now())


def screen_token_revoke(*, actor: User | None, token: ScreenToken) -> None:
    _require(actor, "rooms.pair_screen", token.studio)
    ScreenToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


# --- Ingest ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestReceipt:
    accepted: int
    duplicates: int
    unknown_types: dict[str, int] = field(default_factory=dict)


def ingest_receive(*, channel: Channel, events: list[ingest.PlatformEvent]) -> IngestReceipt:
    """Store a verified batch in the inbox, once per platform event id, then dispatch it.

    Returns only after the new rows are committed: that is what the 202 promises.
    """
    if not events:
        return IngestReceipt(accepted=0, duplicates=0)
    received_at = timezone.now()
    # Inserting in id order means concurrent redeliveries of overlapping batches wait on each
    # other's unique-index entries in one direction only, and cannot deadlock.
    ordered = sorted(events, key=lambda event: event.id)
    table = IngestEvent._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {table}
                    (channel_id, platform_event_id, type, at, payload, received_at, status,
                     attempts, error)
                SELECT %s, u.id, u.type, u.at, u.payload::jsonb, %s,
                       CASE WHEN u.type = ANY(%s) THEN 'pending' ELSE 'unknown_type' END, 0, ''
                FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[])
                    AS u(id, type, at, payload)
                ON CONFLICT (channel_id, platform_event_id) DO NOTHING
                RETURNING id, type
                """,
                [
                    channel.pk,
                    received_at,
                    sorted(ingest.KNOWN_TYPES),
                    [e.id for e in ordered],
                    [e.type for e in ordered],
                    [e.at for e in ordered],
                    [_json(e.fields) for e in ordered],
                ],
            )
            inserted = cursor.fetchall()
        to_dispatch = [row_id for row_id, type_ in inserted if type_ in ingest.KNOWN_TYPES]
        if to_dispatch:
            from .tasks import ingest_dispatch_task

            # Robust: with the broker away the events are still stored, the 202 still true,
            # and the sweep dispatches them later.
            # (A closure, not functools.partial: Django names the callback when it fails.)
            transaction.on_commit(lambda: ingest_dispatch_task.delay(to_dispatch), robust=True)
    unknown = Counter(type_ for _id, type_ in inserted if type_ not in ingest.KNOWN_TYPES)
    if unknown:
        logger.warning(
            "ingest: kept events of unknown types",
            extra={"channel": channel.key, "unknown_types": dict(unknown)},
        )
    return IngestReceipt(
        accepted=len(inserted),
        duplicates=len(events) - len(inserted),
        unknown_types=dict(unknown),
    )


def _json(fields: dict) -> str:
    return json.dumps(fields, cls=DjangoJSONEncoder, ensure_ascii=False)


# Platform events that change the live tiles: one tiles event per stream per dispatch.
MEASURED_EVENT_TYPES = frozenset({"order", "viewers"})
# A dispatch that finds a backlog behind its own rows takes up to this many in one go.
DISPATCH_BACKLOG_ROWS = 2000


def ingest_dispatch(*, inbox_ids: list[int], with_backlog: bool = False) -> int:
    """Hand inbox rows to the handler registered for their type; safe to run twice.

    Rows are locked (skipping any another worker holds), attributed to a stream by channel
    and time, and processed per stream and type, each group in its own savepoint so one
    failing handler does not hold back the others. With `with_backlog`, pending rows of the
    same channels that are waiting behind these are taken too (oldest first), so a backlog
    is worked off in a few large transactions rather than many small ones. The handlers'
    log events are written last, once per stream, so each stream's log head is locked only
    for the end of the transaction. Returns the number of rows processed.
    """
    with transaction.atomic():
        rows = list(lock_objects.ingest_events_for_dispatch(inbox_ids))
        if with_backlog and rows:
            rows += lock_objects.ingest_backlog_for_dispatch(
                channel_ids={row.channel_id for row in rows},
                exclude={row.pk for row in rows},
                limit=DISPATCH_BACKLOG_ROWS,
            )
        if not rows:
            return 0
        outcomes: dict[tuple, list[int]] = defaultdict(list)
        with eventlog.deferred():
            for row, stream in _ingest_routes(rows):
                if stream is None:
                    outcomes[(IngestStatus.UNROUTED, None, "")].append(row.pk)
            routed = sorted(
                (row for row in rows if row.stream_id is not None),
                # stream_status first: the log shows the stream going live before the
                # comments and orders that arrived with that news.
                key=lambda row: (row.stream_id, row.type != "stream_status", row.type, row.pk),
            )
            measured: dict[int, Stream] = {}
            for (stream_id, event_type), group in groupby(
                routed, key=lambda row: (row.stream_id, row.type)
            ):
                group_rows = list(group)
                status, error = _ingest_handle(event_type, group_rows)
                outcomes[(status, stream_id, error)] += [row.pk for row in group_rows]
                if status == IngestStatus.PROCESSED and event_type in MEASURED_EVENT_TYPES:
                    measured[stream_id] = group_rows[0].stream
            for stream in measured.values():
                live_metrics_publish(stream=stream)
            _ingest_record_outcomes(outcomes)
    return sum(
        len(ids) for (status, *_), ids in outcomes.items() if status == IngestStatus.PROCESSED
    )


def ingest_dispatch_isolating(*, inbox_ids: list[int], with_backlog: bool = False) -> int:
    """`ingest_dispatch`, falling back to one row at a time if the batch fails as a whole.

    Handler failures are contained per group already; this catches the rest (a row whose
    stream vanished mid-dispatch, say), so one poisoned row is counted as failed, and in
    time given up on, instead of failing its whole batch on every retry.
    """
    try:
        return ingest_dispatch(inbox_ids=inbox_ids, with_backlog=with_backlog)
    except Exception:
        logger.exception(
            "ingest dispatch of %d rows failed; retrying them one by one", len(inbox_ids)
        )
    processed = 0
    for inbox_id in inbox_ids:
        try:
            processed += ingest_dispatch(inbox_ids=[inbox_id])
        except Exception as exc:
            logger.exception("ingest row %s cannot be dispatched", inbox_id)
            with transaction.atomic():
                _ingest_record_outcomes({(IngestStatus.FAILED, None, repr(exc)[:2000]): [inbox_id]})
    return processed


def _ingest_routes(rows: list[IngestEvent]) -> Iterator[tuple[IngestEvent, Stream | None]]:
    """Pair each row with the stream it belongs to (None: no stream), setting row.stream."""
    by_channel: dict[int, list[IngestEvent]] = defaultdict(list)
    for row in rows:
        by_channel[row.channel_id].append(row)
    for channel_id, channel_rows in by_channel.items():
        streams = selectors.streams_for_platform_events(
            channel_id, [row.at for row in channel_rows]
        )
        for row, stream in zip(channel_rows, streams, strict=True):
            row.stream = stream
            yield row, stream


def _ingest_handle(event_type: str, rows: list[IngestEvent]) -> tuple[str, str]:
    """Run the type's handler on one stream's rows; the outcome for all of them."""
    handler = ingest.handler_for(event_type)
    if handler is None:
        return IngestStatus.UNKNOWN_TYPE, ""
    try:
        with transaction.atomic(), eventlog.deferred():
            handler(stream=rows[0].stream, events=rows)
    except Exception as exc:
        logger.exception("ingest handler for %s failed", event_type)
        return IngestStatus.FAILED, repr(exc)[:2000]
    return IngestStatus.PROCESSED, ""


def _ingest_record_outcomes(outcomes: dict[tuple, list[int]]) -> None:
    """One UPDATE per outcome rather than per row: a batch mostly shares a few outcomes."""
    for (status, stream_id, error), ids in outcomes.items():
        rows = IngestEvent.objects.filter(pk__in=ids)
        if status != IngestStatus.FAILED:
            rows.update(status=status, stream_id=stream_id, error=error)
            continue
        rows.update(
            stream_id=stream_id,
            error=error,
            attempts=F("attempts") + 1,
            status=Case(
                When(
                    attempts__gte=settings.MCN_INGEST_MAX_ATTEMPTS - 1,
                    then=Value(IngestStatus.DEAD),
                ),
                default=Value(IngestStatus.FAILED),
            ),
        )


def ingest_rows_needing_dispatch(*, older_than: timedelta, limit: int) -> list[int]:
    """Inbox rows whose dispatch was lost (a worker died) or failed and is due for retry."""
    cutoff = timezone.now() - older_than
    return list(
        IngestEvent.objects.filter(
            status__in=[IngestStatus.PENDING, IngestStatus.FAILED], received_at__lt=cutoff
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- Handlers for the platform events rooms owns ------------------------------------------


def stream_status_ingest(*, stream: Stream, events: list[IngestEvent]) -> None:
    """A platform says the stream went live or ended."""
    targets = {"live": StreamStatus.LIVE, "ended": StreamStatus.ENDED}
    for event in sorted(events, key=lambda e: e.at):
        to = targets.get(event.payload["status"])
        if to is None or stream.status == to:
            continue
        if to in STREAM_TRANSITIONS[stream.status]:
            stream = stream_transition(actor=None, stream=stream, to=to, at=event.at)


def viewers_ingest(*, stream: Stream, events: list[IngestEvent]) -> None:
    viewers_sampled(stream=stream, samples=events)
    _viewer_minutes_record(stream, events)


def orders_ingest(*, stream: Stream, events: list[IngestEvent]) -> None:
    orders_received(stream=stream, orders=events)
    _orders_record(stream, events)


# Order events may arrive late, twice or out of order; an order only moves forward.
_ORDER_RANK = "CASE {} WHEN 'placed' THEN 1 WHEN 'paid' THEN 2 WHEN 'refunded' THEN 3 END"


def _orders_record(stream: Stream, events: list[IngestEvent]) -> None:
    """Fold order events into one row per order (`StreamOrder`), in one statement."""
    rows = events
    if not rows:
        return
    table = StreamOrder._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} AS o
                (stream_id, order_id, sku, quantity, amount, status, placed_at, paid_at,
                 refunded_at)
            SELECT %s, u.order_id,
                   (array_agg(u.sku ORDER BY {_ORDER_RANK.format("u.status")} DESC, u.at))[1],
                   (array_agg(u.quantity ORDER BY {_ORDER_RANK.format("u.status")} DESC, u.at))[1],
                   (array_agg(u.amount ORDER BY {_ORDER_RANK.format("u.status")} DESC, u.at))[1],
                   (ARRAY['placed', 'paid', 'refunded'])[max({_ORDER_RANK.format("u.status")})],
                   min(u.at),
                   min(u.at) FILTER (WHERE u.status = 'paid'),
                   min(u.at) FILTER (WHERE u.status = 'refunded')
            FROM unnest(%s::text[], %s::text[], %s::int[], %s::numeric[], %s::text[],
                        %s::timestamptz[])
                AS u(order_id, sku, quantity, amount, status, at)
            GROUP BY u.order_id
            ON CONFLICT (stream_id, order_id) DO UPDATE SET
                -- What the order costs is what its furthest event says (a coupon applied
                -- at payment changes the amount), whatever order the events came in.
                sku = CASE WHEN {_ORDER_RANK.format("EXCLUDED.status")}
                                >= {_ORDER_RANK.format("o.status")}
                           THEN EXCLUDED.sku ELSE o.sku END,
                quantity = CASE WHEN {_ORDER_RANK.format("EXCLUDED.status")}
                                     >= {_ORDER_RANK.format("o.status")}
                                THEN EXCLUDED.quantity ELSE o.quantity END,
                amount = CASE WHEN {_ORDER_RANK.format("EXCLUDED.status")}
                                   >= {_ORDER_RANK.format("o.status")}
                              THEN EXCLUDED.amount ELSE o.amount END,
                status = CASE WHEN {_ORDER_RANK.format("EXCLUDED.status")}
                                   > {_ORDER_RANK.format("o.status")}
                              THEN EXCLUDED.status ELSE o.status END,
                placed_at = LEAST(o.placed_at, EXCLUDED.placed_at),
                paid_at = LEAST(o.paid_at, EXCLUDED.paid_at),
                refunded_at = LEAST(o.refunded_at, EXCLUDED.refunded_at)
            """,
            [
                stream.pk,
                [e.payload["order_id"] for e in rows],
                [e.payload["sku"] for e in rows],
                [e.payload["quantity"] for e in rows],
                [e.payload["amount"] for e in rows],
                [e.payload["status"] for e in rows],
                [e.at for e in rows],
            ],
        )


def _viewer_minutes_record(stream: Stream, events: list[IngestEvent]) -> None:
    """Fold viewer samples into one row per stream per minute (`StreamMinute`)."""
    if not events:
        return
    table = StreamMinute._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} AS m
                (stream_id, minute, online, online_at, online_peak, entered_total)
            SELECT DISTINCT ON (date_trunc('minute', u.at)) %s, date_trunc('minute', u.at),
                   u.online, u.at,
                   max(u.online) OVER (PARTITION BY date_trunc('minute', u.at)),
                   max(u.entered) OVER (PARTITION BY date_trunc('minute', u.at))
            FROM unnest(%s::timestamptz[], %s::int[], %s::bigint[]) AS u(at, online, entered)
            ORDER BY date_trunc('minute', u.at), u.at DESC
            ON CONFLICT (stream_id, minute) DO UPDATE SET
                online = CASE WHEN EXCLUDED.online_at > m.online_at
                              THEN EXCLUDED.online ELSE m.online END,
                online_at = GREATEST(m.online_at, EXCLUDED.online_at),
                online_peak = GREATEST(m.online_peak, EXCLUDED.online_peak),
                entered_total = GREATEST(m.entered_total, EXCLUDED.entered_total)
            """,
            [
                stream.pk,
                [e.at for e in events],
                [e.payload["online"] for e in events],
                [e.payload["entered_total"] for e in events],
            ],
        )


# --- Run-of-show -------------------------------------------------------------------------

# A console that has not said it is there for this long has gone (closed, crashed, offline).
OPERATOR_SILENCE = timedelta(seconds=30)
MAX_PINNED = 3


class ShowConflict(ValidationError):
    """Someone else moved the show or the cue first; carries what it is now."""

    def __init__(self, message: str, *, current: dict):
        self.current = current
        super().__init__(message, code="conflict")


def _show_for_update(stream: Stream) -> Show:
    """The stream's show, locked; set up from its plan on first use.

    Set-up happens under the stream's row lock so two consoles opening at once make one show.
    """
    show = lock_objects.show_for_update(stream.pk)
    if show is not None:
        return show
    lock_objects.stream_for_update(stream.pk)
    show = lock_objects.show_for_update(stream.pk)
    if show is None:
        plan = show_module.plan_for(stream)
        show = Show.objects.create(
            stream=stream, source=plan.source, source_label=plan.label, segments=plan.as_rows()
        )
    return show


def _is_live(stream: Stream) -> bool:
    # The caller's instance may predate the stream going live or ending.
    return Stream.objects.filter(pk=stream.pk, status=StreamStatus.LIVE).exists()


def show_move(
    *, actor: User | None, stream: Stream, to: int, seen_moves: int, at: datetime | None = None
) -> Show:
    """Advance to (or step back to) segment `to`.

    `seen_moves` is the show's move count as the operator's screen last saw it: when two
    consoles press "next" at the same moment, the second finds the count changed and is told
    where the show now stands instead of skipping a segment.
    """
    _require(actor, "rooms.run_show", stream)
    at = at or timezone.now()
    with transaction.atomic():
        show = _show_for_update(stream)
        if show.moves != seen_moves:
            raise ShowConflict(
                _("The show was moved meanwhile; it is now at segment %(n)d.")
                % {"n": show.position + 1},
                current=show_module.position_data(show),
            )
        if not _is_live(stream):
            raise ValidationError(
                _("The show runs only while the stream is live."), code="not_live"
            )
        if not 0 <= to < len(show.segments):
            raise ValidationError(_("There is no such segment."), code="invalid")
        previous = show.position
        ShowSegmentRun.objects.filter(stream=stream, ended_at__isnull=True).update(ended_at=at)
        segment = show.segments[to]
        ShowSegmentRun.objects.create(
            stream=stream, index=to, key=segment["key"], title=segment["title"], started_at=at
        )
        show.position = to
        show.moves += 1
        show.segment_started_at = at
        if show.started_at is None:
            show.started_at = at
        show.save(update_fields=["position", "moves", "segment_started_at", "started_at"])
        show_moved(show=show, by=actor, previous=previous)
    return show


def show_operator_seen(*, actor: User, stream: Stream, leaving: bool = False) -> Show:
    """The operator's console is open (it says so every few seconds), or is closing."""
    _require(actor, "rooms.run_show", stream)
    now = timezone.now()
    with transaction.atomic():
        # A console open before air must not set the show up: that fixes the plan too early.
        if not Show.objects.filter(stream=stream).exists() and not _is_live(stream):
            raise ValidationError(
                _("The show runs only while the stream is live."), code="not_live"
            )
        show = _show_for_update(stream)
        was = (show.operator_online, show.operator_id)
        if leaving:
            if show.operator_id not in (None, actor.pk):
                return show  # another operator's console is the one that counts
            show.operator_online = False
        elif show.operator_online and show.operator_id != actor.pk:
            # A second console open (a producer watching the desk) keeps the show attended
            # but does not take it over: the named operator stays, and nothing is logged.
            show.operator_seen_at = now
        else:
            show.operator_online, show.operator, show.operator_seen_at = True, actor, now
        show.save(update_fields=["operator_online", "operator", "operator_seen_at"])
        if (show.operator_online, show.operator_id) != was:
            show_operator_changed(show=show)
    return show


def show_operators_sweep(*, now: datetime | None = None) -> int:
    """Mark consoles that went quiet as gone, so the crew's screens can say so."""
    cutoff = (now or timezone.now()) - OPERATOR_SILENCE
    gone = 0
    stale = Show.objects.filter(operator_online=True, operator_seen_at__lt=cutoff)
    for show_id in stale.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            show = (
                Show.objects.select_for_update()
                .filter(pk=show_id, operator_online=True, operator_seen_at__lt=cutoff)
                .first()
            )
            if show is None:
                continue
            show.operator_online = False
            show.save(update_fields=["operator_online"])
            show_operator_changed(show=show)
            gone += 1
    return gone


def _cue_params(kind: str, params: dict) -> dict:
    """Check what each kind of cue needs; money as strings, counts as integers."""
    errors: dict[str, str] = {}

    def money(name: str) -> None:
        try:
            value = Decimal(str(params.get(name, "")))
        except (InvalidOperation, ValueError):
            value = None
        if value is None or not value.is_finite() or value <= 0 or value >= Decimal("1e9"):
            errors[name] = _("Enter an amount above zero.")
        else:
            clean[name] = str(value.quantize(Decimal("0.01")))

    def count(name: str, low: int, high: int) -> None:
        value = params.get(name)
        if isinstance(value, str) and value.strip().isdecimal():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[name] = _("Enter a whole number from %(low)d to %(high)d.") % {
                "low": low,
                "high": high,
            }
        else:
            clean[name] = value

    clean: dict = {}
    if kind == LiveCueKind.PRICE_CHANGE:
        money("price")
    elif kind == LiveCueKind.COUPON:
        money("value")
        if params.get("quantity") not in (None, ""):
            count("quantity", 1, 1_000_000)
    elif kind == LiveCueKind.FLASH_SALE:
        money("price")
        count("quantity", 1, 1_000_000)
        count("seconds", 10, 3600)
    if errors:
        raise ValidationError(errors)
    return clean


def cue_call(
    *,
    actor: User | None,
    stream: Stream,
    kind: str = "",
    script_key: str = "",
    link_number: int | None = None,
    role: str = "",
    note: str = "",
    params: dict | None = None,
    go: bool = False,
) -> ShowCue:
    """Call a cue to standby (or straight to GO, for an ad hoc cue fired at once).

    A script cue is named by its key and takes kind, role and product from the plan; it is
    called once however many consoles call it. An ad hoc cue names its kind and product.
    """
    _require(actor, "rooms.run_show", stream)
    now = timezone.now()
    # Deferred: the standby and the GO go into the log together, the head locked last.
    with transaction.atomic(), eventlog.deferred():
        show = _show_for_update(stream)
        if not _is_live(stream):
            raise ValidationError(
                _("Cues are called only while the stream is live."), code="not_live"
            )
        segment_index = show.position if show.position >= 0 else None
        if script_key:
            existing = ShowCue.objects.filter(stream=stream, script_key=script_key).first()
            if existing is not None:
                return existing
            found = _planned_cue(show, script_key)
            if found is None:
                raise ValidationError({"script_key": _("There is no such cue in the plan.")})
            segment_index, planned = found
            kind, role = planned["kind"], planned["role"]
            link_number, note = planned["link_number"], planned["note"]
        if kind not in LiveCueKind.values:
            raise ValidationError({"kind": _("Choose a kind of cue.")})
        if kind in PRODUCT_LIVE_CUES:
            role = CrewRole.ROOM_OPERATOR
        elif role not in CrewRole.values:
            raise ValidationError({"role": _("Say whose cue it is.")})
        product = _cue_product(stream, kind, link_number)
        # A script cue's details may wait until it is fired; a price must be there by then.
        priced_now = go and kind in (LiveCueKind.PRICE_CHANGE, LiveCueKind.FLASH_SALE)
        clean = _cue_params(kind, params or {}) if params or not script_key or priced_now else {}
        cue = ShowCue.objects.create(
            stream=stream,
            kind=kind,
            role=role,
            script_key=script_key,
            segment_index=segment_index,
            link_number=link_number,
            product=product,
            note=note[:300],
            params=clean,
            standby_at=now,
            standby_by=actor,
        )
        cue_changed(cue=cue, op="standby")
        if go:
            cue = _cue_go(show, cue, actor=actor, now=now)
    return cue


def _planned_cue(show: Show, key: str) -> tuple[int, dict] | None:
    for index, segment in enumerate(show.segments):
        for cue in segment["cues"]:
            if cue["key"] == key:
                return index, cue
    return None


def _cue_product(stream: Stream, kind: str, link_number: int | None) -> str:
    if kind not in PRODUCT_LIVE_CUES or (kind == LiveCueKind.LUCKY_BAG and link_number is None):
        return ""
    if link_number is None:
        raise ValidationError({"link_number": _("Which product? Give its link number.")})
    item = stream.lineup.filter(link_number=link_number).first()
    if item is None:
        raise ValidationError(
            {"link_number": _("Link %(n)s is not in this stream's lineup.") % {"n": link_number}}
        )
    return item.name


def cue_advance(
    *, actor: User | None, cue: ShowCue, to: str, params: dict | None = None
) -> ShowCue:
    """Fire a cue on standby (GO), confirm one that was fired, or cancel one not yet done.

    A cue moves forward only: if another console got there first the caller is told what
    happened instead of the step being done twice. A script cue's details (a price) may be
    filled in when it is fired.
    """
    stream = cue.stream
    _require(actor, "rooms.run_show", stream)
    now = timezone.now()
    with transaction.atomic(), eventlog.deferred():
        show = _show_for_update(stream)
        cue = lock_objects.cue_for_update(cue.pk)
        allowed = {
            CueState.GO: {CueState.STANDBY},
            CueState.CONFIRMED: {CueState.GO},
            CueState.CANCELLED: {CueState.STANDBY},
        }
        if to not in allowed:
            raise ValidationError(_("A cue can be fired, confirmed or cancelled."), code="invalid")
        if cue.state not in allowed[to]:
            raise ShowConflict(
                _("This cue is already %(state)s.") % {"state": CueState(cue.state).label},
                current=show_module.cue_data(cue),
            )
        if to == CueState.GO:
            if not _is_live(stream):
                raise ValidationError(
                    _("Cues are called only while the stream is live."), code="not_live"
                )
            if params:
                cue.params = {**cue.params, **_cue_params(cue.kind, params)}
            elif cue.kind in (LiveCueKind.PRICE_CHANGE, LiveCueKind.FLASH_SALE) and not cue.params:
                _cue_params(cue.kind, {})  # says what is missing
            return _cue_go(show, cue, actor=actor, now=now)
        cue.state = to
        cue.done_at, cue.done_by = now, actor
        cue.save(update_fields=["state", "done_at", "done_by"])
        cue_changed(cue=cue, op=to)
    return cue


def _cue_go(show: Show, cue: ShowCue, *, actor: User | None, now: datetime) -> ShowCue:
    """GO: the moment the operator acts on the platform. Pins change with it."""
    pinned = list(show.pinned)
    if cue.kind == LiveCueKind.PIN and cue.link_number not in pinned:
        if len(pinned) >= MAX_PINNED:
            raise ValidationError(
                _("%(max)d products are pinned already (%(links)s): unpin one first.")
                % {"max": MAX_PINNED, "links": ", ".join(f"#{n}" for n in pinned)},
                code="pin_limit",
            )
        pinned.append(cue.link_number)
    elif cue.kind in (LiveCueKind.UNPIN, LiveCueKind.SOLD_OUT):
        pinned = [n for n in pinned if n != cue.link_number]
    if cue.kind == LiveCueKind.FLASH_SALE:
        cue.params = {
            **cue.params,
            "ends_at": (now + timedelta(seconds=cue.params["seconds"])).isoformat(),
        }
    if pinned != show.pinned:
        show.pinned = pinned
        show.save(update_fields=["pinned"])
        show_pinned_changed(show=show)
    cue.state, cue.go_at, cue.go_by = CueState.GO, now, actor
    cue.save(update_fields=["state", "go_at", "go_by", "params"])
    cue_changed(cue=cue, op="go")
    return cue


# --- Live metrics ------------------------------------------------------------------------


def live_metrics_publish(*, stream: Stream) -> None:
    """Put the stream's tiles in its log after a batch of orders or viewer samples, so every
    screen shows the same numbers without recomputing them.

    They are computed when the event is written, under the stream's head lock: a dispatch
    that committed meanwhile for the same stream is then counted, so the last tiles event
    in the log is never behind an earlier one.
    """
    metrics_updated(stream=stream, data=lambda: selectors.live_metrics(stream, now=timezone.now()))


# --- Screen pairing ----------------------------------------------------------------------

PAIRING_LIFETIME = timedelta(minutes=10)
# The RFC 8628 alphabet: no vowels (no words), nothing easily misread.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
PAIRING_POLL_SECONDS = 5
SCREEN_TOKEN_LIFETIMES = {
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


def _user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def normalise_user_code(raw: str) -> str:
    """What a person types ("bcdf ghjk", "BCDFGHJK") as stored ("BCDF-GHJK")."""
    letters = "".join(ch for ch in raw.upper() if ch.isalpha())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else raw.strip().upper()


def screen_pairing_start() -> tuple[str, ScreenPairing]:
    """A screen asks to be paired: a secret device code for it, a short code to show."""
    now = timezone.now()
    ScreenPairing.objects.filter(expires_at__lt=now - PAIRING_LIFETIME).delete()
    for _attempt in range(5):
        device_code, device_hash = token_new("dev")
        try:
            with transaction.atomic():
                pairing = ScreenPairing.objects.create(
                    device_code_hash=device_hash,
                    user_code=_user_code(),
                    created_at=now,
                    expires_at=now + PAIRING_LIFETIME,
                )
            return device_code, pairing
        except IntegrityError:
            continue  # the short code is waiting on another screen: draw again
    raise RuntimeError("could not draw a free pairing code")


def screen_pairing_approve(
    *, actor: User, user_code: str, studio: Studio, name: str, lifetime: timedelta
) -> ScreenPairing:
    """Someone signed in vouches for the screen showing `user_code`."""
    _require(actor, "rooms.pair_screen", studio)
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Name the screen (e.g. “Studio A wall”).")})
    with transaction.atomic():
        pairing = (
            ScreenPairing.objects.select_for_update()
            .filter(
                user_code=normalise_user_code(user_code),
                approved_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .first()
        )
        if pairing is None:
            raise ValidationError(
                {"code": _("No screen is showing that code. Check it, or restart pairing.")}
            )
        pairing.studio, pairing.name, pairing.token_ttl = studio, name[:100], lifetime
        pairing.approved_by, pairing.approved_at = actor, timezone.now()
        pairing.save()
    return pairing


class PairingPending(Exception):
    """Not approved yet (or polled too fast): the screen should keep waiting."""

    def __init__(self, *, slow_down: bool = False):
        super().__init__("slow_down" if slow_down else "authorization_pending")
        self.slow_down = slow_down


def screen_pairing_collect(*, device_code: str) -> tuple[str, ScreenToken]:
    """The screen exchanges its device code for its token, once, after approval.

    Raises `PairingPending` while it waits and ValidationError when the code is unknown,
    expired or already used.
    """
    now = timezone.now()
    with transaction.atomic():
        pairing = (
            ScreenPairing.objects.select_for_update()
            .filter(device_code_hash=token_hash(device_code))
            .first()
        )
        if pairing is None or pairing.token_id is not None:
            raise ValidationError(_("This pairing is unknown or was used."), code="invalid_grant")
        if pairing.approved_at is None:
            if pairing.expires_at <= now:
                raise ValidationError(_("The code expired."), code="expired_token")
            too_fast = (
                pairing.polled_at is not None
                and (now - pairing.polled_at).total_seconds() < PAIRING_POLL_SECONDS - 1
            )
            pairing.polled_at = now
            pairing.save(update_fields=["polled_at"])
    if pairing.approved_at is None:
        raise PairingPending(slow_down=too_fast)
    with transaction.atomic():
        pairing = ScreenPairing.objects.select_for_update().get(pk=pairing.pk)
        if pairing.token_id is not None:
            raise ValidationError(_("This pairing is unknown or was used."), code="invalid_grant")
        raw, key_hash = token_new("scr")
        token = ScreenToken.objects.create(
            studio=pairing.studio,
            name=pairing.name,
            key_hash=key_hash,
            created_by=pairing.approved_by,
            expires_at=now + pairing.token_ttl,
        )
        pairing.token = token
        pairing.save(update_fields=["token"])
    return raw, token
