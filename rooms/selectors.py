"""Reads for the rooms app, scoped to what the requester may see."""

import dataclasses
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.postgres.fields import ArrayField
from django.contrib.sessions.models import Session
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import (
    Avg,
    Count,
    DateTimeField,
    F,
    Func,
    IntegerField,
    Max,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMinute
from django.utils import timezone
from django.utils.translation import gettext as _

from . import eventlog, schedule
from . import show as show_module
from .models import (
    CalendarFeed,
    Channel,
    ChannelSecret,
    CrewAssignment,
    CrewRole,
    LineupSet,
    ProductKind,
    Role,
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
    TimeOff,
    User,
    WorkingHours,
    has_any_role,
)
from .rules import STUDIO_WIDE_ROLES
from .tokens import token_hash

# How far outside a stream's window a platform event is still attributed to it.
ATTRIBUTION_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class ScreenIdentity:
    token_id: int
    studio_id: int


def stream_list_for_user(user: User) -> QuerySet[Stream]:
    """Streams the user may see: all for superusers, else their studios' and their own crew's.

    The same rule as `rooms.view_stream` in `rooms/rules.py`, applied to a queryset.
    """
    streams = Stream.objects.select_related("channel", "studio")
    if user.is_superuser:
        return streams
    visible = Q(pk__in=CrewAssignment.objects.filter(person=user).values("stream_id"))
    if sees_whole_studios(user):
        visible |= Q(studio__in=Studio.objects.filter(members=user).values("pk"))
    return streams.filter(visible)


def sees_whole_studios(user: User) -> bool:
    return user.is_superuser or has_any_role(user, STUDIO_WIDE_ROLES)


def stream_get_for_user(user: User, stream_id: int) -> Stream | None:
    return stream_list_for_user(user).filter(pk=stream_id).first()


def stream_get_for_screen(screen: ScreenIdentity, stream_id: int) -> Stream | None:
    return Stream.objects.filter(pk=stream_id, studio_id=screen.studio_id).first()


def screen_identify(raw_token: str) -> ScreenIdentity | None:
    """The paired screen a token belongs to, if the token is still valid."""
    row = (
        ScreenToken.objects.filter(
            key_hash=token_hash(raw_token), revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .values_list("pk", "studio_id")
        .first()
    )
    return ScreenIdentity(token_id=row[0], studio_id=row[1]) if row else None


def screen_tokens_for_user(user: User) -> QuerySet[ScreenToken]:
    """Screens paired in the studios this person may pair screens for, newest first."""
    tokens = ScreenToken.objects.select_related("studio").order_by("-created_at")
    if user.is_superuser:
        return tokens
    # As the `rooms.pair_screen` rule: producers and room operators of the studio.
    if not has_any_role(user, (Role.PRODUCER, Role.ROOM_OPERATOR)):
        return tokens.none()
    return tokens.filter(studio__members=user)


def screen_access_key(screen: ScreenIdentity) -> tuple:
    return ("screen", screen.token_id)


def session_access_key(user_id: int, session_key: str | None) -> tuple:
    return ("session", user_id, session_key)


def users_who_may_view_stream(stream_id: int, user_ids: Iterable[int]) -> set[int]:
    """Which of these people may see the stream: the rule of `stream_list_for_user`, asked
    from the other side, for many people at once."""
    stream = Stream.objects.filter(pk=stream_id).values("studio_id").first()
    if stream is None:
        return set()
    return set(
        User.objects.filter(pk__in=list(user_ids), is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(
                pk__in=User.objects.filter(
                    studios=stream["studio_id"], groups__name__in=STUDIO_WIDE_ROLES
                ).values("pk")
            )
            | Q(pk__in=CrewAssignment.objects.filter(stream_id=stream_id).values("person_id"))
        )
        .values_list("pk", flat=True)
    )


def socket_access_still_valid(stream_id: int, access_keys: set[tuple]) -> set[tuple]:
    """The access keys (see `*_access_key`) that may still watch the stream, in three
    queries however many sockets share them: unrevoked, unexpired screen tokens of the
    stream's studio; live sessions; people who may still see the stream."""
    now = timezone.now()
    screens = {key[1] for key in access_keys if key[0] == "screen"}
    sessions = [key for key in access_keys if key[0] == "session"]
    valid_screens = set(
        ScreenToken.objects.filter(
            pk__in=screens,
            revoked_at__isnull=True,
            expires_at__gt=now,
            studio__streams=stream_id,
        ).values_list("pk", flat=True)
    )
    live_sessions = set(
        Session.objects.filter(
            session_key__in=[key[2] for key in sessions if key[2]], expire_date__gt=now
        ).values_list("session_key", flat=True)
    )
    viewers = users_who_may_view_stream(stream_id, {key[1] for key in sessions})
    return {("screen", token_id) for token_id in valid_screens} | {
        key for key in sessions if key[1] in viewers and (key[2] is None or key[2] in live_sessions)
    }


def channel_by_key(key: str) -> Channel | None:
    return Channel.objects.filter(key=key).first()


def channel_active_secrets(channel: Channel) -> list[str]:
    now = timezone.now()
    return list(
        ChannelSecret.objects.filter(channel=channel)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("created_at", "pk")
        .values_list("secret", flat=True)
    )


def streams_for_platform_events(channel_id: int, times: Sequence[datetime]) -> list[Stream | None]:
    """The stream each platform event of a channel belongs to, by its time.

    A live stream takes everything from an hour before it started; otherwise the stream
    whose planned (or actual) window, widened by an hour each side, holds the event; where
    several do, the one that started last before it.
    """
    if not times:
        return []
    earliest, latest = min(times), max(times)
    candidates = list(
        Stream.objects.filter(
            channel_id=channel_id,
            status__in=[StreamStatus.SCHEDULED, StreamStatus.LIVE, StreamStatus.ENDED],
        )
        .annotate(
            window_start=Coalesce("actual_start", "planned_start"),
            window_end=Coalesce("actual_end", "planned_end"),
        )
        .filter(window_start__lte=latest + ATTRIBUTION_GRACE)
        .filter(Q(status=StreamStatus.LIVE) | Q(window_end__gte=earliest - ATTRIBUTION_GRACE))
        .select_related("channel", "studio")
    )
    return [_stream_at(candidates, at) for at in times]


def _stream_at(candidates: list[Stream], at: datetime) -> Stream | None:
    def window(stream: Stream) -> tuple[datetime, datetime | None]:
        start = (stream.actual_start or stream.planned_start) - ATTRIBUTION_GRACE
        if stream.status == StreamStatus.LIVE:
            return start, None
        return start, (stream.actual_end or stream.planned_end) + ATTRIBUTION_GRACE

    holding = []
    for stream in candidates:
        start, end = window(stream)
        if start <= at and (end is None or at <= end):
            holding.append(stream)
    if not holding:
        return None
    return max(
        holding,
        key=lambda s: (s.status == StreamStatus.LIVE, s.actual_start or s.planned_start),
    )


# --- Planning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clash:
    """Another booking that a plan would overlap: the studio's, or a person's."""

    kind: str  # "studio" or "person"
    who: str
    stream_id: int
    stream_title: str
    studio_name: str
    starts: datetime
    ends: datetime
    time_zone: str

    def message(self) -> str:
        values = {
            "who": self.who,
            "title": self.stream_title,
            "studio": self.studio_name,
            "window": schedule.window_text(self.starts, self.ends, self.time_zone),
        }
        if self.kind == "studio":
            return _("%(who)s is already booked for “%(title)s”, %(window)s.") % values
        return _("%(who)s is already booked on “%(title)s” in %(studio)s, %(window)s.") % values

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "who": self.who,
            "stream": self.stream_id,
            "title": self.stream_title,
            "studio": self.studio_name,
            "starts": self.starts.isoformat(),
            "ends": self.ends.isoformat(),
            "message": self.message(),
        }


def clashes_for_viewer(viewer: User | None, clashes: list[Clash]) -> list[Clash]:
    """The clashes as this person may read them: a stream they may not see keeps its studio
    and time but not its title."""
    if viewer is None or viewer.is_superuser:
        return clashes
    ids = {clash.stream_id for clash in clashes}
    visible = set(stream_list_for_user(viewer).filter(pk__in=ids).values_list("pk", flat=True))
    return [
        clash
        if clash.stream_id in visible or not clash.stream_id
        else dataclasses.replace(clash, stream_title=_("another stream"), stream_id=0)
        for clash in clashes
    ]


def _studio_clash(stream: Stream) -> Clash:
    return Clash(
        kind="studio",
        who=stream.studio.name,
        stream_id=stream.pk,
        stream_title=stream.title,
        studio_name=stream.studio.name,
        starts=stream.booked.lower,
        ends=stream.booked.upper,
        time_zone=stream.studio.time_zone,
    )


def _person_clash(assignment: CrewAssignment) -> Clash:
    return Clash(
        kind="person",
        who=str(assignment.person),
        stream_id=assignment.stream_id,
        stream_title=assignment.stream.title,
        studio_name=assignment.stream.studio.name,
        starts=assignment.booked.lower,
        ends=assignment.booked.upper,
        time_zone=assignment.stream.studio.time_zone,
    )


def studio_clashes(
    *, studio_id: int, window: DateTimeTZRange, exclude_stream: int | None = None
) -> list[Clash]:
    streams = (
        Stream.objects.select_related("studio")
        .filter(studio_id=studio_id, booked__overlap=window)
        .exclude(pk=exclude_stream)
        .order_by("planned_start")
    )
    return [_studio_clash(stream) for stream in streams]


def crew_clashes(
    *, bookings: Sequence[tuple[int, DateTimeTZRange]], exclude_stream: int | None = None
) -> list[Clash]:
    """Other streams' crew bookings that these (person, window) pairs would overlap."""
    if not bookings:
        return []
    overlapping = Q()
    for person_id, window in bookings:
        overlapping |= Q(person_id=person_id, booked__overlap=window)
    found = (
        CrewAssignment.objects.select_related("person", "stream__studio")
        .filter(overlapping)
        .exclude(stream_id=exclude_stream)
        .order_by("booked")
    )
    unique = {}
    for assignment in found:
        unique.setdefault((assignment.person_id, assignment.stream_id), _person_clash(assignment))
    return list(unique.values())


def _availability_of(person_ids: Iterable[int]) -> tuple[dict, dict]:
    hours: dict[int, list[schedule.Hours]] = {}
    away: dict[int, list[schedule.Away]] = {}
    for row in WorkingHours.objects.filter(person_id__in=person_ids):
        hours.setdefault(row.person_id, []).append(
            schedule.Hours(row.weekday, row.starts, row.ends)
        )
    for row in TimeOff.objects.filter(person_id__in=person_ids):
        away.setdefault(row.person_id, []).append(
            schedule.Away(row.first_day, row.last_day, row.reason)
        )
    return hours, away


def availability_problems(*, person: User, window: DateTimeTZRange) -> list[str]:
    hours, away = _availability_of([person.pk])
    return schedule.availability_problems(
        name=str(person),
        time_zone=person.time_zone,
        window=window,
        hours=hours.get(person.pk, []),
        away=away.get(person.pk, []),
    )


@dataclass(frozen=True)
class Occurrence:
    starts: datetime
    ends: datetime
    clashes: list[Clash]
    warnings: list[str]


def template_preview(*, template: StreamTemplate, starts: Sequence[datetime]) -> list[Occurrence]:
    """What creating these streams from the template would run into, before saving any:
    studio and crew clashes with existing plans (and with each other), availability."""
    if not starts:
        return []
    # Each usual person once, called as early and kept as late as their earliest/latest role.
    calls: dict[int, tuple[User, timedelta, timedelta]] = {}
    for slot in template.slots.select_related("person"):
        if slot.person is None:
            continue
        before, after = schedule.CREW_CALL[slot.role]
        _person, known_before, known_after = calls.get(slot.person_id, (slot.person, before, after))
        calls[slot.person_id] = (slot.person, max(before, known_before), max(after, known_after))
    people = [person for person, _before, _after in calls.values()]
    windows = [
        (
            start,
            start + template.duration,
            schedule.booking(
                start, start + template.duration, template.setup_before, template.teardown_after
            ),
        )
        for start in sorted(starts)
    ]
    span = DateTimeTZRange(
        min(w.lower for *_x, w in windows) - timedelta(days=1),
        max(w.upper for *_x, w in windows) + timedelta(days=1),
    )
    studio_streams = list(
        Stream.objects.select_related("studio").filter(
            studio_id=template.studio_id, booked__overlap=span
        )
    )
    crew = list(
        CrewAssignment.objects.select_related("person", "stream__studio").filter(
            person__in=people, booked__overlap=span
        )
    )
    hours, away = _availability_of([person.pk for person in people])
    result = []
    for index, (start, end, window) in enumerate(windows):
        clashes = [_studio_clash(s) for s in studio_streams if _overlaps(s.booked, window)]
        person_calls = {
            person.pk: schedule.booking(start, end, before, after)
            for person, before, after in calls.values()
        }
        clashes += [
            _person_clash(a) for a in crew if _overlaps(a.booked, person_calls[a.person_id])
        ]
        if any(_overlaps(window, other) for i, (*_x, other) in enumerate(windows) if i != index):
            clashes.append(
                Clash(
                    kind="studio",
                    who=template.studio.name,
                    stream_id=0,
                    stream_title=_("another occurrence of this repeat"),
                    studio_name=template.studio.name,
                    starts=window.lower,
                    ends=window.upper,
                    time_zone=template.studio.time_zone,
                )
            )
        warnings = []
        for person in people:
            warnings += schedule.availability_problems(
                name=str(person),
                time_zone=person.time_zone,
                window=person_calls[person.pk],
                hours=hours.get(person.pk, []),
                away=away.get(person.pk, []),
            )
        result.append(Occurrence(starts=start, ends=end, clashes=clashes, warnings=warnings))
    return result


def _overlaps(a: DateTimeTZRange, b: DateTimeTZRange) -> bool:
    return a.lower < b.upper and b.lower < a.upper


@dataclass
class CalendarEntry:
    stream: Stream
    crew: list[CrewAssignment]
    unfilled: list[str]
    warnings: list[str]


def calendar_entries(
    *,
    user: User,
    starts: datetime,
    ends: datetime,
    studio_id: int | None = None,
    person_id: int | None = None,
    channel_id: int | None = None,
    platform: str | None = None,
) -> list[CalendarEntry]:
    """The streams a calendar shows between two instants, with what needs attention:
    roles still to fill and crew who may not be available. A fixed number of queries
    however many streams there are."""
    window = DateTimeTZRange(starts, ends)
    streams = stream_list_for_user(user).filter(booked__overlap=window)
    if studio_id is not None:
        streams = streams.filter(studio_id=studio_id)
    if person_id is not None:
        streams = streams.filter(
            pk__in=CrewAssignment.objects.filter(person_id=person_id).values("stream_id")
        )
    if channel_id is not None:
        streams = streams.filter(channel_id=channel_id)
    if platform:
        streams = streams.filter(channel__platform=platform)
    streams = list(
        streams.prefetch_related(
            Prefetch(
                "crew",
                queryset=CrewAssignment.objects.select_related("person").order_by("role", "pk"),
            )
        ).order_by("planned_start")
    )
    people = {a.person_id for s in streams for a in s.crew.all()}
    hours, away = _availability_of(people)
    entries = []
    for stream in streams:
        crew = list(stream.crew.all())
        filled = {a.role for a in crew}
        warnings = []
        for a in crew:
            warnings += schedule.availability_problems(
                name=str(a.person),
                time_zone=a.person.time_zone,
                window=a.booked,
                hours=hours.get(a.person_id, []),
                away=away.get(a.person_id, []),
            )
        entries.append(
            CalendarEntry(
                stream=stream,
                crew=crew,
                unfilled=[role for role in stream.required_roles if role not in filled],
                warnings=warnings,
            )
        )
    return entries


def studios_for_user(user: User) -> QuerySet[Studio]:
    studios = Studio.objects.order_by("name")
    return studios if user.is_superuser else studios.filter(members=user)


def people_for_user(user: User) -> QuerySet[User]:
    """People the user plans with: members of their studios (everyone for superusers)."""
    people = User.objects.filter(is_active=True).order_by("display_name", "username")
    if user.is_superuser:
        return people
    return people.filter(
        Q(pk=user.pk) | Q(pk__in=User.objects.filter(studios__members=user).values("pk"))
    )


def calendar_feed_person(raw_token: str) -> tuple[int, User] | None:
    """The feed id and person a secret calendar address belongs to, if it still works."""
    feed = (
        CalendarFeed.objects.select_related("person")
        .filter(key_hash=token_hash(raw_token), revoked_at__isnull=True, person__is_active=True)
        .first()
    )
    return (feed.pk, feed.person) if feed else None


def person_bookings(*, person: User, since: datetime) -> list[CrewAssignment]:
    """A person's crew bookings from a moment on, for their calendar feed."""
    return list(
        CrewAssignment.objects.select_related("stream__studio", "stream__channel")
        .filter(person=person, booked__endswith__gte=since)
        .order_by("booked")
    )


def studios_user_plans(user: User) -> set[int]:
    """Ids of the studios whose streams the user may re-plan (`rooms.change_stream`), at once."""
    if user.is_superuser:
        return set(Studio.objects.values_list("pk", flat=True))
    if not has_any_role(user, (Role.PRODUCER,)):
        return set()
    return set(Studio.objects.filter(members=user).values_list("pk", flat=True))


def templates_for_user(user: User) -> QuerySet[StreamTemplate]:
    """Templates of the studios the user belongs to (all for superusers)."""
    templates = StreamTemplate.objects.select_related(
        "studio", "channel", "lineup_set"
    ).prefetch_related("slots__person")
    return templates if user.is_superuser else templates.filter(studio__members=user)


def streams_with_crew_for_user(user: User) -> QuerySet[Stream]:
    return stream_list_for_user(user).prefetch_related(
        Prefetch("crew", queryset=CrewAssignment.objects.select_related("person").order_by("pk"))
    )


@dataclass(frozen=True)
class LiveScreens:
    """Ids of streams whose operator console a user drives, and of those they follow as crew."""

    console: frozenset[int]
    follow: frozenset[int]


def live_screens_for_user(user: User, stream_ids: Iterable[int]) -> LiveScreens:
    """Which of these streams the user may run (the rule of `rooms.run_show`, applied to many
    streams at once) and which they are crewed on, in a few queries however many streams."""
    ids = set(stream_ids)
    crew = CrewAssignment.objects.filter(person=user, stream_id__in=ids)
    follow = set(crew.values_list("stream_id", flat=True))
    if user.is_superuser:
        return LiveScreens(console=frozenset(ids), follow=frozenset(follow))
    runs_it = crew.filter(role__in=[CrewRole.ROOM_OPERATOR, CrewRole.FLOOR_CONTROLLER])
    console = set(runs_it.values_list("stream_id", flat=True))
    if has_any_role(user, (Role.PRODUCER, Role.ROOM_OPERATOR)):
        console |= set(
            Stream.objects.filter(pk__in=ids, studio__members=user).values_list("pk", flat=True)
        )
    return LiveScreens(console=frozenset(console), follow=frozenset(follow))


def stream_crew_roles(stream: Stream, user: User) -> list[str]:
    """The roles the user has on the stream's crew (a person may hold two)."""
    return list(
        CrewAssignment.objects.filter(stream=stream, person=user)
        .order_by("pk")
        .values_list("role", flat=True)
    )


def lineup_sets_for_user(user: User) -> QuerySet[LineupSet]:
    """Reusable lineups (prices, commission) are the producers' business."""
    if user.is_superuser or has_any_role(user, (Role.PRODUCER,)):
        return LineupSet.objects.all()
    return LineupSet.objects.none()


# --- Live metrics ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tiles:
    """A stream's numbers, by the metric dictionary in DESIGN.md.

    GMV counts paid orders (a refund takes its order out); placed GMV, beside it, counts
    every order placed. Conversion is paid orders over viewers who entered, because the
    platforms send no buyer id with an order; GPM is GMV per 1,000 viewers entered.
    """

    gmv: Decimal
    gmv_placed: Decimal
    orders: int
    items: int
    refunds: int
    online: int
    online_peak: int
    entered: int
    conversion: Decimal | None
    gpm: Decimal | None
    average_order: Decimal | None
    currency: str


TREND_MINUTES = 5
TREND_THRESHOLD = Decimal("0.3")


def stream_tiles(stream: Stream) -> Tiles:
    return _tiles(stream, _order_sums(stream), _minute_sums(stream))


@dataclass(frozen=True)
class Trend:
    """A metric over the last `minutes` against the `minutes` before: red when it fell by
    more than the threshold."""

    metric: str
    recent: Decimal
    before: Decimal
    change: Decimal | None
    alert: bool


def stream_trends(
    stream: Stream,
    *,
    now: datetime,
    minutes: int = TREND_MINUTES,
    threshold: Decimal = TREND_THRESHOLD,
) -> list[Trend]:
    return _trends(
        _order_sums(stream, now=now, minutes=minutes),
        _minute_sums(stream, now=now, minutes=minutes),
        threshold,
    )


def _windows(now: datetime, minutes: int) -> tuple[datetime, datetime]:
    """Where the recent window and the one before it start (both end at the next's start)."""
    return now - timedelta(minutes=minutes), now - timedelta(minutes=2 * minutes)


def _order_sums(stream: Stream, *, now: datetime | None = None, minutes: int = 0) -> dict:
    """The stream's order totals in one aggregate; with `now`, also paid GMV in the recent
    window and the one before it."""
    windows = {}
    if now is not None:
        recent_from, before_from = _windows(now, minutes)
        paid = Q(status="paid")
        windows = {
            "gmv_recent": Coalesce(
                Sum("amount", filter=paid & Q(paid_at__gt=recent_from, paid_at__lte=now)),
                Decimal(0),
            ),
            "gmv_before": Coalesce(
                Sum("amount", filter=paid & Q(paid_at__gt=before_from, paid_at__lte=recent_from)),
                Decimal(0),
            ),
        }
    return StreamOrder.objects.filter(stream=stream).aggregate(
        gmv=Coalesce(Sum("amount", filter=Q(status="paid")), Decimal(0)),
        placed=Coalesce(Sum("amount"), Decimal(0)),
        paid=Count("pk", filter=Q(status="paid")),
        items=Coalesce(Sum("quantity", filter=Q(status="paid")), 0),
        refunds=Count("pk", filter=Q(status="refunded")),
        **windows,
    )


def _minute_sums(stream: Stream, *, now: datetime | None = None, minutes: int = 0) -> dict:
    """The stream's viewer figures (latest online, peak, entered) in one aggregate; with
    `now`, also the average online in the recent window and the one before it."""
    rows = StreamMinute.objects.filter(stream=stream)
    windows = {}
    if now is not None:
        recent_from, before_from = _windows(now, minutes)
        windows = {
            "online_recent": Coalesce(
                Avg("online", filter=Q(minute__gt=recent_from, minute__lte=now)), 0.0
            ),
            "online_before": Coalesce(
                Avg("online", filter=Q(minute__gt=before_from, minute__lte=recent_from)), 0.0
            ),
        }
    return rows.aggregate(
        # The newest minute's, as a scalar subquery the aggregate carries along.
        latest_online=Max(
            Subquery(
                StreamMinute.objects.filter(stream=stream).order_by("-minute").values("online")[:1]
            )
        ),
        peak=Coalesce(Max("online_peak"), 0),
        entered=Coalesce(Max("entered_total"), 0),
        **windows,
    )


def _tiles(stream: Stream, orders: dict, viewers: dict) -> Tiles:
    entered, gmv, paid = viewers["entered"], orders["gmv"], orders["paid"]
    cent = Decimal("0.01")
    return Tiles(
        gmv=gmv.quantize(cent),
        gmv_placed=orders["placed"].quantize(cent),
        orders=paid,
        items=orders["items"],
        refunds=orders["refunds"],
        online=viewers["latest_online"] or 0,
        online_peak=viewers["peak"],
        entered=entered,
        conversion=(Decimal(paid) / entered).quantize(Decimal("0.0001")) if entered else None,
        gpm=(gmv * 1000 / entered).quantize(cent) if entered else None,
        average_order=(gmv / paid).quantize(cent) if paid else None,
        currency=stream.channel.currency,
    )


def _trends(orders: dict, viewers: dict, threshold: Decimal) -> list[Trend]:
    return [
        _trend("gmv", Decimal(orders["gmv_recent"]), Decimal(orders["gmv_before"]), threshold),
        _trend(
            "online",
            Decimal(str(viewers["online_recent"])),
            Decimal(str(viewers["online_before"])),
            threshold,
        ),
    ]


def _trend(metric: str, recent: Decimal, before: Decimal, threshold: Decimal) -> Trend:
    change = ((recent - before) / before).quantize(Decimal("0.001")) if before else None
    return Trend(metric, recent, before, change, change is not None and change < -threshold)


# --- The live picture: tiles, trend, run-of-show -----------------------------------------

# Other apps add to the wall screen and the trend chart here (questions for the host, boost
# status and boost markers), from their AppConfig.ready(): callables `(stream) -> ...`.
WALL_PANELS: list = []  # -> dict | None: {"key", "title", "items": [...]}
TREND_MARKERS: list = []  # -> list[dict]: {"at", "kind", "label"}
# Sections other apps add to the post-stream summary (ad boosts' outcome), as titled tables:
# callables `(stream, user) -> dict | None`: {"key", "title", "columns": [...], "rows":
# [[...]]}; None when the user may not see it or there is nothing to show.
SUMMARY_SECTIONS: list = []

# How much trend a live screen loads: six hours of minutes.
SERIES_MINUTES = 360


def _json_value(value):
    return str(value) if isinstance(value, Decimal) else value


def live_metrics(stream: Stream, *, now: datetime) -> dict:
    """The tiles, their rolling-window alerts and the current minute's trend point: two
    aggregates (orders, viewer minutes), for it is computed under the stream's log head."""
    orders = _order_sums(stream, now=now, minutes=TREND_MINUTES)
    viewers = _minute_sums(stream, now=now, minutes=TREND_MINUTES)
    tiles = _tiles(stream, orders, viewers)
    trends = {trend.metric: trend for trend in _trends(orders, viewers, TREND_THRESHOLD)}
    return {
        "tiles": {k: _json_value(v) for k, v in dataclasses.asdict(tiles).items()},
        "alerts": {metric: trend.alert for metric, trend in trends.items()},
        "changes": {metric: _json_value(trend.change) for metric, trend in trends.items()},
        "point": {
            "minute": now.replace(second=0, microsecond=0).isoformat(),
            "gmv": str(tiles.gmv),
            "online": tiles.online,
        },
    }


def live_series(stream: Stream) -> list[dict]:
    """Paid GMV (running total) and online viewers per minute, oldest first."""
    gmv_by_minute = dict(
        StreamOrder.objects.filter(stream=stream, status="paid")
        .annotate(minute=TruncMinute("paid_at"))
        .values("minute")
        .annotate(total=Sum("amount"))
        .values_list("minute", "total")
    )
    online_by_minute = dict(
        StreamMinute.objects.filter(stream=stream).values_list("minute", "online")
    )
    points, running, online = [], Decimal(0), 0
    for minute in sorted(gmv_by_minute.keys() | online_by_minute.keys()):
        running += gmv_by_minute.get(minute, 0)
        online = online_by_minute.get(minute, online)
        points.append({"minute": minute.isoformat(), "gmv": str(running), "online": online})
    return points[-SERIES_MINUTES:]


def live_markers(stream: Stream) -> list[dict]:
    """What happened on the show, for the trend chart: cues fired, and other apps' markers."""
    markers = [
        {
            "at": cue.go_at.isoformat(),
            "kind": cue.kind,
            "label": f"#{cue.link_number}" if cue.link_number else cue.get_kind_display(),
            "cue": cue.pk,
        }
        for cue in ShowCue.objects.filter(stream=stream, go_at__isnull=False).order_by("go_at")
    ]
    for source in TREND_MARKERS:
        markers += source(stream)
    return sorted(markers, key=lambda marker: marker["at"])


def show_snapshot(stream: Stream) -> dict:
    """The run-of-show: the plan, where the operator stands, and every cue called so far.

    Before the show is set up (the stream has not gone live) this is the plan it would run.
    """
    show = Show.objects.filter(stream=stream).select_related("operator").first()
    if show is None:
        plan = show_module.plan_for(stream)
        source, label, segments = plan.source, plan.label, plan.as_rows()
        position = {
            "position": -1,
            "moves": 0,
            "started_at": None,
            "segment_started_at": None,
            "pinned": [],
            "operator_online": False,
            "operator": None,
        }
    else:
        source, label, segments = show.source, show.source_label, show.segments
        position = show_module.position_data(show)
    cues = ShowCue.objects.filter(stream=stream).select_related("standby_by", "go_by", "done_by")
    return {
        "source": source,
        "label": label,
        "segments": segments,
        **position,
        "cues": [show_module.cue_data(cue) for cue in cues.order_by("standby_at", "pk")],
    }


def live_snapshot(stream: Stream, *, now: datetime | None = None) -> dict:
    """Everything a live screen shows, with the log id it is current to.

    The head is read first: an event landing while the rest is read is then applied again
    by the socket, and every live event carries absolute values, so that changes nothing.
    """
    now = now or timezone.now()
    head = eventlog.head(stream.pk)
    return {
        "head": head,
        "server_now": now.isoformat(),
        "stream": {
            "id": stream.pk,
            "title": stream.title,
            "status": stream.status,
            "planned_start": stream.planned_start.isoformat(),
            "planned_end": stream.planned_end.isoformat(),
            "actual_start": stream.actual_start.isoformat() if stream.actual_start else None,
            "actual_end": stream.actual_end.isoformat() if stream.actual_end else None,
            "currency": stream.channel.currency,
            "time_zone": stream.studio.time_zone,
        },
        "metrics": live_metrics(stream, now=now),
        "series": live_series(stream),
        "markers": live_markers(stream),
        "show": show_snapshot(stream),
        "panels": live_panels(stream),
    }


def live_panels(stream: Stream) -> list[dict]:
    return [panel for source in WALL_PANELS if (panel := source(stream))]


def studio_current_stream(studio_id: int, *, now: datetime | None = None) -> Stream | None:
    """What a studio's wall screen shows: the live stream, else the next one today, else the
    one that ended last."""
    now = now or timezone.now()
    streams = Stream.objects.filter(studio_id=studio_id).select_related("channel", "studio")
    live = streams.filter(status=StreamStatus.LIVE).order_by("-actual_start").first()
    if live is not None:
        return live
    upcoming = (
        streams.filter(status=StreamStatus.SCHEDULED, planned_end__gte=now)
        .order_by("planned_start")
        .first()
    )
    if upcoming is not None and upcoming.planned_start - now < timedelta(hours=12):
        return upcoming
    return (
        streams.filter(status__in=[StreamStatus.ENDED, StreamStatus.REVIEWED])
        .order_by("-actual_end")
        .first()
        or upcoming
    )


# --- Post-stream summary (复盘) -------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSummary:
    """A planned segment (环节) as it went on air, all its runs added up: going back to a
    segment opens another run of it, and what sold in each run counts for the segment.

    GMV and orders are the orders paid inside the runs' windows, start included, end not.
    `entered` is how far the platform's running count of viewers who entered rose across
    the runs. Viewer samples are kept per minute, so the count at an instant is read as the
    highest count of the minutes up to and including that instant's minute: viewers who
    entered in the minute a segment changed count for the segment that was on before. As
    one segment ends exactly where the next starts, no one is counted twice and the
    segments add up to the whole show.
    """

    index: int
    key: str
    title: str
    planned_seconds: int
    actual_seconds: int
    runs: int
    gmv: Decimal
    orders: int
    items: int
    entered: int
    gpm: Decimal | None

    @property
    def over_seconds(self) -> int | None:
        """How far the segment ran over its plan (negative: under); None if never on air."""
        return self.actual_seconds - self.planned_seconds if self.runs else None


@dataclass(frozen=True)
class ProductSummary:
    """Sales of one SKU, with its place in the lineup; a SKU the lineup does not list keeps
    its orders under the SKU alone (no link number, no name)."""

    sku: str
    link_number: int | None
    name: str
    kind: str
    kind_label: str
    gmv: Decimal
    orders: int
    items: int
    refunds: int
    # The product's GMV per 1,000 viewers who entered the stream (platforms send no
    # per-product impressions with orders).
    gpm: Decimal | None


@dataclass(frozen=True)
class CueLogEntry:
    cue: ShowCue  # with standby_by, go_by and done_by loaded
    segment_title: str


@dataclass(frozen=True)
class StreamSummary:
    """The first look back at a stream (复盘): totals, viewers, each segment, each product,
    and every cue called, with who did what when.

    Average viewers is the mean of the online counts of the minutes the stream was live
    that have a viewer sample (a minute with no sample is unknown, not empty); the peak is
    over the same minutes. `outside_segments_*` is what was paid while no segment was on
    air (before the first, after the show was ended), so the segments and it add up to the
    totals.
    """

    stream: Stream
    currency: str
    time_zone: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    tiles: Tiles
    online_peak: int
    online_average: int | None
    segments: list[SegmentSummary]
    outside_segments_gmv: Decimal
    outside_segments_orders: int
    products: list[ProductSummary]
    cues: list[CueLogEntry]


def stream_summary(stream: Stream, *, now: datetime | None = None) -> StreamSummary:
    """A stream's numbers after the show (or so far, while it is live), in a fixed number
    of queries however many orders it took: sums are made by the database."""
    now = now or timezone.now()
    until = stream.actual_end or now
    plan = Show.objects.filter(stream=stream).values_list("segments", flat=True).first() or []
    segments = _segment_summaries(stream, plan, until=until)
    tiles = stream_tiles(stream)
    peak, average = _viewers_while_live(stream)
    return StreamSummary(
        stream=stream,
        currency=stream.channel.currency,
        time_zone=stream.studio.time_zone,
        started_at=stream.actual_start,
        ended_at=stream.actual_end,
        duration_seconds=(
            int((until - stream.actual_start).total_seconds()) if stream.actual_start else None
        ),
        tiles=tiles,
        online_peak=peak,
        online_average=average,
        segments=segments,
        outside_segments_gmv=tiles.gmv - sum((s.gmv for s in segments), Decimal(0)),
        outside_segments_orders=tiles.orders - sum(s.orders for s in segments),
        products=_product_summaries(stream, entered=tiles.entered),
        cues=_cue_log(stream, plan),
    )


def _segment_summaries(
    stream: Stream, plan: list[dict], *, until: datetime
) -> list[SegmentSummary]:
    runs = list(
        ShowSegmentRun.objects.filter(stream=stream)
        .order_by("started_at", "pk")
        .values("index", "key", "title", "started_at", "ended_at")
    )
    for run in runs:
        run["ended_at"] = run["ended_at"] or until  # the segment on air now
    sales = _paid_per_segment(stream, runs)
    entered_at = _entered_reader(stream)
    on_air: dict[str, dict] = {}
    for run in runs:
        seen = on_air.setdefault(
            run["key"],
            {"index": run["index"], "title": run["title"], "seconds": 0, "runs": 0, "entered": 0},
        )
        seen["seconds"] += max(0, int((run["ended_at"] - run["started_at"]).total_seconds()))
        seen["runs"] += 1
        seen["entered"] += max(0, entered_at(run["ended_at"]) - entered_at(run["started_at"]))
    rows = [
        (index, segment["key"], segment["title"], segment["planned_seconds"])
        for index, segment in enumerate(plan)
    ]
    # A run whose segment the plan no longer names still shows what it sold.
    planned_keys = {segment["key"] for segment in plan}
    rows += [
        (seen["index"], key, seen["title"], 0)
        for key, seen in on_air.items()
        if key not in planned_keys
    ]
    result = []
    for index, key, title, planned_seconds in rows:
        seen = on_air.get(key, {"seconds": 0, "runs": 0, "entered": 0})
        sold = sales.get(key, {"gmv": Decimal(0), "orders": 0, "items": 0})
        result.append(
            SegmentSummary(
                index=index,
                key=key,
                title=title,
                planned_seconds=planned_seconds,
                actual_seconds=seen["seconds"],
                runs=seen["runs"],
                gmv=sold["gmv"],
                orders=sold["orders"],
                items=sold["items"],
                entered=seen["entered"],
                gpm=_per_thousand(sold["gmv"], seen["entered"]),
            )
        )
    return result


def _paid_per_segment(stream: Stream, runs: list[dict]) -> dict[str, dict]:
    """Paid orders summed per segment over its runs' windows (start included, end not), in
    one pass over the stream's orders: `width_bucket` places each payment between two
    consecutive run boundaries, and each such stretch belongs to at most one run. (A join
    of runs to orders on the time range would read every order once per run.)"""
    boundaries = sorted({run["started_at"] for run in runs} | {run["ended_at"] for run in runs})
    if len(boundaries) < 2:
        return {}
    place = {moment: number for number, moment in enumerate(boundaries)}
    # width_bucket numbers the stretch [boundaries[n - 1], boundaries[n]) as n.
    owner: dict[int, str] = {}
    for run in runs:
        for bucket in range(place[run["started_at"]] + 1, place[run["ended_at"]] + 1):
            owner.setdefault(bucket, run["key"])
    rows = (
        StreamOrder.objects.filter(
            stream=stream,
            status="paid",
            paid_at__gte=boundaries[0],
            paid_at__lt=boundaries[-1],
        )
        .annotate(
            bucket=Func(
                F("paid_at"),
                Value(boundaries, output_field=ArrayField(DateTimeField())),
                function="width_bucket",
                output_field=IntegerField(),
            )
        )
        .values("bucket")
        .annotate(gmv=Sum("amount"), orders=Count("pk"), items=Sum("quantity"))
        .order_by()
    )
    sales: dict[str, dict] = {}
    for row in rows:  # one row per stretch between boundaries, not per order
        key = owner.get(row["bucket"])
        if key is None:
            continue  # paid while no segment was on air
        total = sales.setdefault(key, {"gmv": Decimal(0), "orders": 0, "items": 0})
        total["gmv"] += row["gmv"]
        total["orders"] += row["orders"]
        total["items"] += row["items"]
    return sales


def _entered_reader(stream: Stream):
    """`(instant) -> viewers entered by then`, to the minute (see `SegmentSummary`).

    Reads the stream's minutes once (a few hundred rows for a long stream); the running
    maximum guards against a platform's count that dips for a minute."""
    minutes, highest, running = [], [], 0
    for minute, entered in (
        StreamMinute.objects.filter(stream=stream)
        .order_by("minute")
        .values_list("minute", "entered_total")
    ):
        running = max(running, entered)
        minutes.append(minute)
        highest.append(running)

    def entered_at(moment: datetime) -> int:
        found = bisect_right(minutes, moment)
        return highest[found - 1] if found else 0

    return entered_at


def _per_thousand(gmv: Decimal, entered: int) -> Decimal | None:
    return (gmv * 1000 / entered).quantize(Decimal("0.01")) if entered else None


def _viewers_while_live(stream: Stream) -> tuple[int, int | None]:
    minutes = StreamMinute.objects.filter(stream=stream)
    if stream.actual_start is not None:
        minutes = minutes.filter(minute__gte=stream.actual_start.replace(second=0, microsecond=0))
    if stream.actual_end is not None:
        minutes = minutes.filter(minute__lt=stream.actual_end)
    found = minutes.aggregate(peak=Coalesce(Max("online_peak"), 0), average=Avg("online"))
    average = found["average"]
    if average is not None:
        average = int(Decimal(str(average)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return found["peak"], average


def _product_summaries(stream: Stream, *, entered: int) -> list[ProductSummary]:
    paid, refunded = Q(status="paid"), Q(status="refunded")
    sales = {
        row["sku"]: row
        for row in StreamOrder.objects.filter(stream=stream)
        .values("sku")
        .annotate(
            gmv=Coalesce(Sum("amount", filter=paid), Decimal(0)),
            orders=Count("pk", filter=paid),
            items=Coalesce(Sum("quantity", filter=paid), 0),
            refunds=Count("pk", filter=refunded),
        )
        .order_by()
    }
    lineup = {}
    for item in stream.lineup.exclude(sku="").order_by("position"):
        lineup.setdefault(item.sku, item)  # a SKU listed twice sells under its first link
    nothing = {"gmv": Decimal(0), "orders": 0, "items": 0, "refunds": 0}
    products = []
    for sku in lineup.keys() | sales.keys():
        item, sold = lineup.get(sku), sales.get(sku, nothing)
        products.append(
            ProductSummary(
                sku=sku,
                link_number=item.link_number if item else None,
                name=item.name if item else "",
                kind=item.kind if item else "",
                kind_label=str(ProductKind(item.kind).label) if item else "",
                gmv=sold["gmv"],
                orders=sold["orders"],
                items=sold["items"],
                refunds=sold["refunds"],
                gpm=_per_thousand(sold["gmv"], entered),
            )
        )
    # Best sellers first; among equals, the lineup's order, then SKUs it does not list.
    return sorted(
        products,
        key=lambda p: (-p.gmv, p.link_number is None, p.link_number or 0, p.sku),
    )


def _cue_log(stream: Stream, plan: list[dict]) -> list[CueLogEntry]:
    cues = (
        ShowCue.objects.filter(stream=stream)
        .select_related("standby_by", "go_by", "done_by")
        .order_by("standby_at", "pk")
    )
    titles = {index: segment["title"] for index, segment in enumerate(plan)}
    return [CueLogEntry(cue=cue, segment_title=titles.get(cue.segment_index, "")) for cue in cues]
