"""Reads for the rooms app, scoped to what the requester may see."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.sessions.models import Session
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Channel, ChannelSecret, ScreenToken, Stream, StreamStatus, User
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
    return streams.filter(Q(studio__members=user) | Q(crew__person=user)).distinct()


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
            | Q(studios=stream["studio_id"])
            | Q(crew_assignments__stream_id=stream_id)
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
