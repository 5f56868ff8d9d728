"""Every write in the rooms app: people, studios, channels, streams, tokens and the inbox."""

import json
import logging
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from . import eventlog, ingest, lock_objects, selectors
from .events import orders_received, stream_status_changed, viewers_sampled
from .models import (
    ApiToken,
    Channel,
    ChannelSecret,
    CrewAssignment,
    CrewRole,
    IngestEvent,
    IngestStatus,
    Platform,
    Role,
    ScreenToken,
    Stream,
    StreamStatus,
    Studio,
    User,
)
from .tokens import token_new

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
    _require(actor, "rooms.add_studio")
    studio = Studio(name=name, time_zone=time_zone)
    studio.full_clean()
    with transaction.atomic():
        studio.save()
        studio.members.set(members)
    return studio


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
    _require(actor, "rooms.change_channel")
    channel = Channel(key=key, name=name, platform=platform, currency=currency, time_zone=time_zone)
    channel.full_clean()
    channel.save()
    secret = channel_secret_add(actor=actor, channel=channel)
    return channel, secret


def channel_secret_add(
    *, actor: User | None, channel: Channel, retire_others_after: timedelta | None = None
) -> str:
    """Add a signing secret; with `retire_others_after`, the current ones expire then.

    During the overlap the platform may sign with either secret, or with both (several `v1=`
    values in one header).
    """
    _require(actor, "rooms.change_channel")
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


def _require(actor: User | None, perm: str, obj: object = None) -> None:
    """Check the acting person's permission; `None` is the system itself (seeding, ingest)."""
    if actor is not None and not actor.has_perm(perm, obj):
        raise PermissionDenied(_("You don't have permission to do this."))


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
) -> Stream:
    _require(actor, "rooms.add_stream", studio)
    stream = Stream(
        channel=channel,
        studio=studio,
        title=title,
        planned_start=planned_start,
        planned_end=planned_end,
        status=status,
    )
    stream.full_clean()
    stream.save()
    return stream


def stream_transition(
    *, actor: User | None, stream: Stream, to: StreamStatus, at: datetime | None = None
) -> Stream:
    """Move a stream along its lifecycle, recording the change in its event log."""
    _require(actor, "rooms.change_stream", stream)
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
        previous = stream.status
        stream.status = to
        if to == StreamStatus.LIVE and stream.actual_start is None:
            stream.actual_start = at
        if to == StreamStatus.ENDED:
            stream.actual_end = at
        stream.save(update_fields=["status", "actual_start", "actual_end"])
        stream_status_changed(stream=stream, previous=previous, by=actor)
    return stream


@transaction.atomic
def crew_assign(
    *, actor: User | None, stream: Stream, person: User, role: CrewRole
) -> CrewAssignment:
    _require(actor, "rooms.change_crew", stream)
    assignment, _created = CrewAssignment.objects.get_or_create(
        stream=stream, person=person, role=role
    )
    return assignment


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
            for (stream_id, event_type), group in groupby(
                routed, key=lambda row: (row.stream_id, row.type)
            ):
                group_rows = list(group)
                status, error = _ingest_handle(event_type, group_rows)
                outcomes[(status, stream_id, error)] += [row.pk for row in group_rows]
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


def orders_ingest(*, stream: Stream, events: list[IngestEvent]) -> None:
    orders_received(stream=stream, orders=events)
