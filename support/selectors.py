"""Reads of the support queue, scoped to what the requester may see."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import (
    Case,
    Count,
    FloatField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from rooms.models import Show, Stream, StreamStatus, User
from rooms.selectors import stream_list_for_user

from .events import group_data
from .models import Agent, GroupStatus, Question, QuestionGroup, SupportPolicy

# === The queue: priority, filters, askers, the host's panel (helper "intake") ============

# A group's priority, in points (higher is answered first):
#   COUNT_POINTS × ln(askers)            20 askers ≈ 30 points; one asker 0
# + VIP_POINTS   if a VIP viewer asked
# + PINNED_POINTS if its product is pinned on screen now (Show.pinned): its buyers are
#                 deciding this minute
# + URGENCY_POINTS × how much of the reply window is used up (0 when just asked, all of it
#                 at the deadline and after)
# + one point per minute waited since first asked, at most AGE_POINTS_MAX: among groups
#   past their deadline, the longest-waiting goes first.
# Ties: the earlier deadline, then the older group. Weights chosen so that urgency dominates
# near the deadline (a group about to breach outranks a pinned product's fresh question),
# and a crowd of askers outranks a lone VIP.
COUNT_POINTS = 10.0
VIP_POINTS = 25.0
PINNED_POINTS = 20.0
URGENCY_POINTS = 40.0
AGE_POINTS_MAX = 10.0
QUEUE_ORDER = ("-priority", "deadline", "pk")
QUEUE_LIMIT = 200
# The host's panel on the wall: a few lines, read from across the studio.
HOST_PANEL_SIZE = 5


_G = QuestionGroup._meta.db_table

# The formula above in SQL, over the question-group table's own columns, in double precision
# (date_part, not EXTRACT, whose numeric arithmetic sorts three times slower). Its
# parameters are `priority_params`. The queue's reads use it through the ORM
# (`queue_priority`); claiming the next group uses it in a statement of its own.
PRIORITY_SQL = (
    f"%s * ln(greatest({_G}.count, 1)::float8)"
    f" + CASE WHEN {_G}.vip THEN %s ELSE 0.0 END"
    f" + CASE WHEN {_G}.link_number = ANY(%s::integer[]) THEN %s ELSE 0.0 END"
    f" + %s * least(1.0, greatest(0.0,"
    f" 1.0 - date_part('epoch', {_G}.deadline - %s::timestamptz) / %s))"
    f" + least(%s, greatest(0.0,"
    f" date_part('epoch', %s::timestamptz - {_G}.first_asked_at) / 60.0))"
)


def priority_params(*, pinned: object, policy_sla: timedelta | None, now: datetime) -> list:
    """`PRIORITY_SQL`'s parameters: the show's pinned link numbers (as `Show.pinned` holds
    them), the channel's reply window (the default without a policy), and the time."""
    pinned_numbers = [number for number in (pinned or []) if isinstance(number, int)]
    window = max((policy_sla or SupportPolicy._meta.get_field("sla").default).total_seconds(), 1.0)
    return [
        COUNT_POINTS,
        VIP_POINTS,
        pinned_numbers,
        PINNED_POINTS,
        URGENCY_POINTS,
        now,
        window,
        AGE_POINTS_MAX,
        now,
    ]


def queue_priority(stream: Stream, *, now: datetime | None = None) -> RawSQL:
    """The priority expression above, for one stream's groups (annotate with it)."""
    pinned = Show.objects.filter(stream=stream).values_list("pinned", flat=True).first()
    policy_sla = (
        SupportPolicy.objects.filter(channel_id=stream.channel_id)
        .values_list("sla", flat=True)
        .first()
    )
    params = priority_params(pinned=pinned, policy_sla=policy_sla, now=now or timezone.now())
    return RawSQL(PRIORITY_SQL, params, output_field=FloatField())


def queue_for_stream(
    stream: Stream,
    *,
    user: User,
    category: str | None = None,
    language: str | None = None,
    link_number: int | None = None,
    statuses: Sequence[str] = (GroupStatus.OPEN,),
    limit: int = QUEUE_LIMIT,
    now: datetime | None = None,
) -> QuerySet[QuestionGroup]:
    """A stream's question groups by priority (see above), narrowed by the screen's filters;
    empty for a stream the user may not see. Each group carries its `priority`."""
    groups = (
        QuestionGroup.objects.filter(
            stream=stream,
            stream__in=stream_list_for_user(user).values("pk"),
            status__in=list(statuses),
            merged_into__isnull=True,
        )
        .select_related("claimed_by", "answered_by")
        .annotate(priority=queue_priority(stream, now=now))
    )
    if category:
        groups = groups.filter(category=category)
    if language:
        groups = groups.filter(language=language)
    if link_number is not None:
        groups = groups.filter(link_number=link_number)
    return groups.order_by(*QUEUE_ORDER)[:limit]


def group_askers(group: QuestionGroup, *, limit: int | None = None) -> list[dict]:
    """Everyone who asked in a group, first asked first: who a reply goes to, and what an
    agent picks from to split a group."""
    questions = group.questions.order_by("asked_at", "pk").values(
        "pk", "user_id", "user_name", "text", "asked_at"
    )
    if limit is not None:
        questions = questions[:limit]
    return [
        {
            "id": question["pk"],
            "user_id": question["user_id"],
            "user_name": question["user_name"],
            "text": question["text"],
            "asked_at": question["asked_at"].isoformat(),
        }
        for question in questions
    ]


def host_questions_panel(stream: Stream) -> dict | None:
    """The wall screen's panel (rooms.selectors.WALL_PANELS): questions for the host to
    answer on air, the ones handed to them first, then the most asked."""
    groups = list(
        QuestionGroup.objects.filter(
            stream=stream,
            status__in=[GroupStatus.ESCALATED, GroupStatus.OPEN],
            merged_into__isnull=True,
        )
        .annotate(
            handed_over=Case(When(status=GroupStatus.ESCALATED, then=Value(0)), default=Value(1))
        )
        .order_by("handed_over", "-count", "first_asked_at", "pk")
        .values("pk", "text", "count", "status", "link_number")[:HOST_PANEL_SIZE]
    )
    if not groups:
        return None
    return {
        "key": "support.host_questions",
        "title": _("Questions for the host"),
        "items": [
            {
                "label": f"#{group['link_number']} {group['text']}"
                if group["link_number"]
                else group["text"],
                "detail": f"×{group['count']}",
                "group": group["pk"],
                "escalated": group["status"] == GroupStatus.ESCALATED,
                # The operator confirms on the console once the host has answered on air.
                "action": {
                    "url": reverse("api-support-answered-on-air", args=[group["pk"]]),
                    "label": _("Answered on air"),
                }
                if group["status"] == GroupStatus.ESCALATED
                else None,
            }
            for group in groups
        ],
    }


# === Groups as screens see them, agents, supervisor statistics (helper "work") ============

# The agent's screen says it is there this often (`services.agent_heartbeat`); a claim is
# a lease of CLAIM_LEASE from the last one: one missed heartbeat is forgiven, 30 s of
# silence loses the group. (Here rather than in services, which reads from this module.)
AGENT_HEARTBEAT = timedelta(seconds=10)
CLAIM_LEASE = timedelta(seconds=25)

# At most this many askers' names travel with a group (in its events and the API).
ASKERS_SHOWN = 20
# They are the newest among the group's last ASKERS_SHOWN × ASKERS_WINDOW questions.
ASKERS_WINDOW = 10


def askers_sql(group_id: str) -> str:
    """SQL for an array of the newest askers' names of the group whose id is the SQL
    expression `group_id`: one name per viewer, newest first, at most ASKERS_SHOWN.

    Only the group's latest questions are read (an index walk), however large it grows: a
    hot group has tens of thousands of questions and is read on every change.
    """
    return f"""ARRAY(
        SELECT user_name FROM (
            SELECT DISTINCT ON (user_id) user_id, user_name, asked_at AS newest
            FROM (
                SELECT user_id, user_name, asked_at FROM {Question._meta.db_table}
                WHERE group_id = {group_id}
                ORDER BY asked_at DESC LIMIT {ASKERS_SHOWN * ASKERS_WINDOW:d}
            ) latest
            ORDER BY user_id, asked_at DESC
        ) per_viewer
        ORDER BY newest DESC, user_id LIMIT {ASKERS_SHOWN:d}
    )"""


def askers_by_group(group_ids: Sequence[int]) -> dict[int, list[str]]:
    """The newest askers' names of each group (`askers_sql`), in one query."""
    if not group_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT g.id, {askers_sql('g.id')} FROM unnest(%s::bigint[]) AS g(id)",
            [list(group_ids)],
        )
        return dict(cursor.fetchall())


def groups_data(groups: Sequence[QuestionGroup]) -> list[dict]:
    """Groups in the shape of their "question" events (claimed_by and answered_by loaded)."""
    askers = askers_by_group([group.pk for group in groups])
    return [group_data(group, askers=askers.get(group.pk, [])) for group in groups]


def groups_for_user(user: User):
    """Groups of the streams the user may see."""
    return QuestionGroup.objects.filter(stream__in=stream_list_for_user(user)).select_related(
        "stream__channel", "stream__studio", "claimed_by", "answered_by"
    )


def agent_summary(agent: Agent, *, now: datetime | None = None) -> dict:
    """An agent's presence and settings, with the groups they hold right now."""
    now = now or timezone.now()
    holding = list(
        QuestionGroup.objects.filter(
            claimed_by_id=agent.user_id, status=GroupStatus.OPEN, claim_expires_at__gte=now
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return {
        "id": agent.pk,
        "user": agent.user_id,
        "name": str(agent.user),
        "status": agent.status,
        "capacity": agent.capacity,
        "languages": agent.languages,
        "categories": agent.categories,
        "last_seen_at": agent.last_seen_at,
        "holding": holding,
        "heartbeat_seconds": int(AGENT_HEARTBEAT.total_seconds()),
        "lease_seconds": int(CLAIM_LEASE.total_seconds()),
    }


PERCENTILES = (0.5, 0.9, 0.99)


def _stats_rows(key: str, stream_ids: list[int], since: datetime, until: datetime, now: datetime):
    """Per `key` (a column of the group, or a constant for the total): groups and questions
    asked in the range, answers, response-time percentiles (first asked → answered) and
    the SLA outcome of every group whose fate is known (answered, or past its deadline)."""
    groups = QuestionGroup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT {key} AS key,
                   count(*) AS groups,
                   coalesce(sum(count), 0) AS questions,
                   count(answered_at) AS answered,
                   percentile_cont(%s::float8[]) WITHIN GROUP (
                       ORDER BY extract(epoch FROM answered_at - first_asked_at)
                   ) AS seconds,
                   count(*) FILTER (WHERE answered_at <= deadline) AS met,
                   count(*) FILTER (
                       WHERE answered_at > deadline
                          OR (answered_at IS NULL AND (breached OR deadline < %s))
                   ) AS missed
            FROM {groups}
            WHERE stream_id = ANY(%s) AND first_asked_at >= %s AND first_asked_at < %s
              AND merged_into_id IS NULL AND status <> 'dismissed'
            GROUP BY 1
            """,
            [list(PERCENTILES), now, stream_ids, since, until],
        )
        return cursor.fetchall()


def _stats_line(row) -> dict:
    _, groups, questions, answered, seconds, met, missed = row
    seconds = seconds if answered else [None] * len(PERCENTILES)
    return {
        "groups": groups,
        "questions": questions,
        "answered": answered,
        "p50_seconds": seconds[0],
        "p90_seconds": seconds[1],
        "p99_seconds": seconds[2],
        "sla_met": met,
        "sla_missed": missed,
        "sla_hit_rate": met / (met + missed) if met + missed else None,
    }


_EMPTY_STATS = _stats_line((None, 0, 0, 0, None, 0, 0))


def support_stats(
    *,
    user: User,
    since: datetime,
    until: datetime,
    stream_id: int | None = None,
    now: datetime | None = None,
) -> dict:
    """The supervisor's numbers over a time range (by when questions were first asked):
    totals, per stream and per agent, plus each stream's queue as it stands now."""
    now = now or timezone.now()
    streams = stream_list_for_user(user)
    if stream_id is not None:
        streams = streams.filter(pk=stream_id)
    stream_ids = list(streams.values_list("pk", flat=True))
    total = _stats_rows("NULL::int", stream_ids, since, until, now)
    per_stream = {row[0]: row for row in _stats_rows("stream_id", stream_ids, since, until, now)}
    per_agent = {
        row[0]: row
        for row in _stats_rows("answered_by_id", stream_ids, since, until, now)
        if row[0] is not None
    }
    waiting = {
        (row["stream_id"], row["status"]): row["n"]
        for row in QuestionGroup.objects.filter(
            stream_id__in=stream_ids,
            status__in=[GroupStatus.OPEN, GroupStatus.ESCALATED],
            merged_into__isnull=True,
        )
        .values("stream_id", "status")
        .annotate(n=Count("pk"))
    }
    holding = dict(
        QuestionGroup.objects.filter(
            stream_id__in=stream_ids, status=GroupStatus.OPEN, claim_expires_at__gte=now
        )
        .values("claimed_by_id")
        .annotate(n=Count("pk"))
        .values_list("claimed_by_id", "n")
    )
    shown_streams = streams.filter(Q(pk__in=per_stream) | Q(pk__in={s for s, _ in waiting}))
    people = User.objects.filter(pk__in=set(per_agent) | set(holding)).order_by(
        "display_name", "username"
    )
    return {
        "since": since,
        "until": until,
        "total": {
            **(_stats_line(total[0]) if total else _EMPTY_STATS),
            "open_now": sum(n for (_, status), n in waiting.items() if status == "open"),
            "with_host_now": sum(n for (_, status), n in waiting.items() if status != "open"),
        },
        "streams": [
            {
                "id": stream.pk,
                "title": stream.title,
                **(_stats_line(per_stream[stream.pk]) if stream.pk in per_stream else _EMPTY_STATS),
                "open_now": waiting.get((stream.pk, GroupStatus.OPEN), 0),
                "with_host_now": waiting.get((stream.pk, GroupStatus.ESCALATED), 0),
            }
            for stream in shown_streams.order_by("planned_start", "pk")
        ],
        "agents": [
            {
                "id": person.pk,
                "name": str(person),
                **(_stats_line(per_agent[person.pk]) if person.pk in per_agent else _EMPTY_STATS),
                "holding_now": holding.get(person.pk, 0),
            }
            for person in people
        ],
    }


STATS_CSV_HEADER = [
    "scope",
    "id",
    "name",
    "groups",
    "questions",
    "answered",
    "p50_seconds",
    "p90_seconds",
    "p99_seconds",
    "sla_met",
    "sla_missed",
    "sla_hit_rate",
    "open_now",
    "with_host_now",
    "holding_now",
]


def support_stats_rows(stats: dict) -> list[list[str]]:
    """The statistics as spreadsheet rows (header first): the total, each stream, each agent."""

    def cell(column: str, value: object) -> str:
        if value is None:
            return ""
        if column == "sla_hit_rate":
            return f"{value:.4f}"
        if column.endswith("_seconds"):
            return f"{value:.1f}"
        return str(value)

    lines = [
        ("total", {"id": "", "name": "", **stats["total"]}),
        *(("stream", {**line, "name": line["title"]}) for line in stats["streams"]),
        *(("agent", line) for line in stats["agents"]),
    ]
    return [
        STATS_CSV_HEADER,
        *(
            [scope, *(cell(column, line.get(column)) for column in STATS_CSV_HEADER[1:])]
            for scope, line in lines
        ),
    ]


# === What the support screens start from (helper "screens") ================================

# The streams the support page lists: live ones, those starting within this horizon, and
# those that ended this recently (their late questions still need answers).
SUPPORT_STREAMS_AHEAD = timedelta(days=7)
SUPPORT_STREAMS_BEHIND = timedelta(days=2)


def support_streams_for_user(user: User, *, now: datetime | None = None) -> list[Stream]:
    """The streams whose queue the user may open, live first, then the next to start, then
    the most recently ended."""
    now = now or timezone.now()
    candidates = stream_list_for_user(user).filter(
        Q(status=StreamStatus.LIVE)
        | Q(
            status__in=[StreamStatus.SCHEDULED, StreamStatus.DRAFT],
            planned_end__gte=now,
            planned_start__lte=now + SUPPORT_STREAMS_AHEAD,
        )
        | Q(
            status__in=[StreamStatus.ENDED, StreamStatus.REVIEWED],
            actual_end__gte=now - SUPPORT_STREAMS_BEHIND,
        )
    )
    rank = {StreamStatus.LIVE: 0, StreamStatus.SCHEDULED: 1, StreamStatus.DRAFT: 1}

    def order(stream: Stream) -> tuple:
        place = rank.get(stream.status, 2)
        if place < 2:
            return (place, stream.planned_start.timestamp(), stream.pk)
        return (place, -(stream.actual_end or stream.planned_end).timestamp(), stream.pk)

    ordered = sorted(candidates.order_by("-planned_start")[:200], key=order)
    return [stream for stream in ordered if user.has_perm("support.view_queue", stream)]


def queue_counts(stream_ids: Sequence[int], *, now: datetime | None = None) -> dict[int, dict]:
    """Each stream's queue as it stands: open groups, those held by an agent, those past
    their deadline, and those with the host."""
    now = now or timezone.now()
    rows = (
        QuestionGroup.objects.filter(
            stream_id__in=list(stream_ids),
            status__in=[GroupStatus.OPEN, GroupStatus.ESCALATED],
            merged_into__isnull=True,
        )
        .values("stream_id")
        .annotate(
            open=Count("pk", filter=Q(status=GroupStatus.OPEN)),
            claimed=Count("pk", filter=Q(status=GroupStatus.OPEN, claim_expires_at__gte=now)),
            breached=Count(
                "pk", filter=Q(status=GroupStatus.OPEN) & (Q(breached=True) | Q(deadline__lte=now))
            ),
            escalated=Count("pk", filter=Q(status=GroupStatus.ESCALATED)),
        )
    )
    empty = {"open": 0, "claimed": 0, "breached": 0, "escalated": 0}
    found = {row.pop("stream_id"): row for row in rows}
    return {stream_id: found.get(stream_id, empty) for stream_id in stream_ids}


def queue_priority_inputs(stream: Stream) -> dict:
    """What an agent's screen needs to order the queue as `queue_priority` does while events
    arrive: the weights, the stream's reply window and what is pinned now."""
    pinned = Show.objects.filter(stream=stream).values_list("pinned", flat=True).first() or []
    policy = (
        SupportPolicy.objects.filter(channel_id=stream.channel_id)
        .values("sla", "warn_before")
        .first()
    )
    sla = policy["sla"] if policy else SupportPolicy._meta.get_field("sla").default
    warn = policy["warn_before"] if policy else SupportPolicy._meta.get_field("warn_before").default
    return {
        "countPoints": COUNT_POINTS,
        "vipPoints": VIP_POINTS,
        "pinnedPoints": PINNED_POINTS,
        "urgencyPoints": URGENCY_POINTS,
        "agePointsMax": AGE_POINTS_MAX,
        "windowSeconds": max(sla.total_seconds(), 1.0),
        "warnBeforeSeconds": warn.total_seconds(),
        "pinned": [number for number in pinned if isinstance(number, int)],
    }
