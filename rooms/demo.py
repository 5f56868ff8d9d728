"""Demo data: a studio team, channels, a week of streams and one stream scheduled for now.

Idempotent: running it again resets the demo passwords and makes sure a stream is scheduled
for the present moment, so `make run` always has something to go live. Other apps add their
own demo data with `register_seeder` from `AppConfig.ready()`.
"""

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from . import services
from .models import (
    Channel,
    CrewRole,
    LineupSet,
    Platform,
    ProductKind,
    Role,
    Stream,
    StreamStatus,
    Studio,
    User,
)

DEMO_CHANNEL = "demo-douyin"
DEMO_LINEUP_SET = "秋冬护肤 Autumn skincare"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    display_name: str
    roles: tuple[Role, ...]
    crew_role: CrewRole | None = None
    language: str = "zh-hans"


PEOPLE = (
    DemoPerson("producer", "李娜 Li Na", (Role.PRODUCER,)),
    DemoPerson("operator", "张伟 Zhang Wei", (Role.ROOM_OPERATOR,), CrewRole.ROOM_OPERATOR),
    DemoPerson("floor", "王芳 Wang Fang", (Role.FLOOR_CONTROLLER,), CrewRole.FLOOR_CONTROLLER),
    DemoPerson("host", "小美 Xiao Mei", (Role.HOST,), CrewRole.HOST),
    DemoPerson("cohost", "阿杰 A Jie", (Role.HOST,), CrewRole.CO_HOST),
    DemoPerson("cs", "Siti Aminah", (Role.CS_AGENT,), CrewRole.CS_AGENT, "en"),
    DemoPerson("adbuyer", "陈强 Chen Qiang", (Role.AD_BUYER,), CrewRole.AD_BUYER),
    DemoPerson("approver", "Priya Nair", (Role.AD_APPROVER,), None, "en"),
    DemoPerson("viewer", "Guest Viewer", (Role.VIEWER,), None, "en"),
    # The Kuala Lumpur studio's own crew: its shows overlap Hangzhou's prime time.
    DemoPerson("host_kl", "Nurul Huda", (Role.HOST,), CrewRole.HOST, "en"),
    DemoPerson("operator_kl", "Ahmad Faiz", (Role.ROOM_OPERATOR,), CrewRole.ROOM_OPERATOR, "en"),
)
KL_CREW = ("host_kl", "operator_kl")

# The demo lineup (排品) of the Hangzhou beauty shows.
DEMO_LINEUP = (
    (
        1,
        "HZ-MASK-10",
        "补水面膜 10 片 Hydrating mask ×10",
        ProductKind.TRAFFIC,
        "99",
        "9.9",
        2000,
        2,
    ),
    (2, "HZ-SERUM-30", "精华液 30ml Repair serum", ProductKind.HERO, "399", "259", 800, 3),
    (3, "HZ-CREAM-50", "面霜 50g Night cream", ProductKind.PROFIT, "299", "229", 500, None),
    (4, "HZ-LIP-SET", "口红礼盒 Lipstick gift set", ProductKind.FLASH, "199", "99", 300, 1),
    (5, "HZ-SPF-50", "防晒霜 SPF50 Sunscreen", ProductKind.PROFIT, "159", "129", 600, None),
)


@dataclass
class DemoWorld:
    password: str
    users: dict[str, User] = field(default_factory=dict)
    studios: dict[str, Studio] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    live_stream: Stream | None = None


Seeder = Callable[[DemoWorld], None]
_seeders: list[Seeder] = []


def register_seeder(seeder: Seeder) -> None:
    if seeder not in _seeders:
        _seeders.append(seeder)


@transaction.atomic
def seed(*, password: str) -> DemoWorld:
    world = DemoWorld(password=password)
    services.roles_ensure()
    world.users["admin"] = _person(
        DemoPerson("admin", "Admin", (), language="en"), password, is_superuser=True
    )
    for person in PEOPLE:
        world.users[person.username] = _person(person, password)
    members = list(world.users.values())
    world.studios["hz"] = _studio("杭州 A 号直播间 Hangzhou Studio A", "Asia/Shanghai", members)
    world.studios["kl"] = _studio("Kuala Lumpur Studio", "Asia/Kuala_Lumpur", members)
    world.channels["douyin"] = _channel(
        DEMO_CHANNEL,
        "美妆旗舰店 Beauty Flagship (Douyin)",
        Platform.DOUYIN,
        "CNY",
        "Asia/Shanghai",
    )
    world.channels["tiktok"] = _channel(
        "demo-tiktok-my",
        "Beauty Flagship MY (TikTok Shop)",
        Platform.TIKTOK,
        "MYR",
        "Asia/Kuala_Lumpur",
    )
    lineup_set = _lineup_set()
    _template(world, lineup_set)
    _week_of_streams(world, lineup_set)
    world.live_stream = current_demo_stream() or _stream_for_now(world, lineup_set)
    for seeder in _seeders:
        seeder(world)
    return world


def current_demo_stream() -> Stream | None:
    """The demo channel's stream that is live, or scheduled around now."""
    now = timezone.now()
    demo = Stream.objects.filter(channel__key=DEMO_CHANNEL)
    live = demo.filter(status=StreamStatus.LIVE).order_by("-actual_start").first()
    return live or (
        demo.filter(status=StreamStatus.SCHEDULED)
        .filter(planned_start__lte=now + timedelta(minutes=30), planned_end__gte=now)
        .order_by("planned_start")
        .first()
    )


def _person(person: DemoPerson, password: str, *, is_superuser: bool = False) -> User:
    user = User.objects.filter(username=person.username).first()
    if user is None:
        return services.user_create(
            username=person.username,
            password=password,
            roles=list(person.roles),
            display_name=person.display_name,
            language=person.language,
            is_superuser=is_superuser,
        )
    return services.user_password_set(user=user, password=password)


def _studio(name: str, time_zone: str, members: list[User]) -> Studio:
    studio = Studio.objects.filter(name=name).first()
    if studio is None:
        return services.studio_create(actor=None, name=name, time_zone=time_zone, members=members)
    studio.members.add(*members)
    return studio


def _channel(key: str, name: str, platform: Platform, currency: str, time_zone: str) -> Channel:
    channel = Channel.objects.filter(key=key).first()
    if channel is None:
        channel, _secret = services.channel_create(
            actor=None,
            key=key,
            name=name,
            platform=platform,
            currency=currency,
            time_zone=time_zone,
        )
    return channel


def _lineup_set() -> LineupSet:
    existing = LineupSet.objects.filter(name=DEMO_LINEUP_SET).first()
    if existing is not None:
        return existing
    return services.lineup_set_save(
        actor=None,
        name=DEMO_LINEUP_SET,
        rows=[
            {
                "link_number": link,
                "sku": sku,
                "name": name,
                "kind": kind,
                "regular_price": Decimal(regular),
                "live_price": Decimal(live),
                "stock": stock,
                "per_buyer_limit": limit,
                "commission_rate": Decimal("20"),
            }
            for link, sku, name, kind, regular, live, stock, limit in DEMO_LINEUP
        ],
    )


def _template(world: DemoWorld, lineup_set: LineupSet) -> None:
    studio = world.studios["hz"]
    if studio.templates.exists():
        return
    users = world.users
    services.template_save(
        actor=None,
        studio=studio,
        channel=world.channels["douyin"],
        name="晚八点美妆专场 Beauty Night",
        title="晚八点美妆专场 Beauty Night",
        start_time=time(20, 0),
        duration=timedelta(hours=3),
        slots=[
            (CrewRole.HOST, users["host"]),
            (CrewRole.CO_HOST, users["cohost"]),
            (CrewRole.ROOM_OPERATOR, users["operator"]),
            (CrewRole.FLOOR_CONTROLLER, None),
            (CrewRole.CS_AGENT, users["cs"]),
            (CrewRole.AD_BUYER, users["adbuyer"]),
        ],
        lineup_set=lineup_set,
    )


def _week_of_streams(world: DemoWorld, lineup_set: LineupSet) -> None:
    """Evening shows for the coming week, at local prime time in each studio."""
    shows = (
        ("hz", "douyin", "晚八点美妆专场 Beauty Night", time(20, 0), 3),
        ("kl", "tiktok", "Mega Sale Live", time(19, 30), 2),
    )
    for studio_key, channel_key, title, start_at, hours in shows:
        studio = world.studios[studio_key]
        tz = zoneinfo.ZoneInfo(studio.time_zone)
        today = timezone.now().astimezone(tz).date()
        for day in range(1, 8):
            start = datetime.combine(today + timedelta(days=day), start_at, tzinfo=tz)
            exists = Stream.objects.filter(
                channel=world.channels[channel_key], planned_start=start
            ).exists()
            if not exists:
                stream = services.stream_create(
                    actor=None,
                    channel=world.channels[channel_key],
                    studio=studio,
                    title=f"{title} {start:%m-%d}",
                    planned_start=start,
                    planned_end=start + timedelta(hours=hours),
                    status=StreamStatus.SCHEDULED,
                )
                _crew(world, stream)
                if studio_key == "hz":
                    services.lineup_set_apply(actor=None, stream=stream, lineup_set=lineup_set)


def _stream_for_now(world: DemoWorld, lineup_set: LineupSet) -> Stream:
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=5)
    # A show that just ended keeps the studio for its teardown; start after it.
    held_until = (
        Stream.objects.filter(studio=world.studios["hz"], booked__overlap=(start, None))
        .exclude(status__in=[StreamStatus.DRAFT, StreamStatus.SCHEDULED])
        .aggregate(until=Max("booked__endswith"))["until"]
    )
    if held_until is not None:
        start = max(start, held_until + timedelta(minutes=60))
    # A show planned by an earlier run may hold the studio now; the demo needs this one.
    Stream.objects.filter(
        studio=world.studios["hz"],
        status__in=[StreamStatus.DRAFT, StreamStatus.SCHEDULED],
        booked__overlap=(start - timedelta(hours=1), start + timedelta(hours=4)),
    ).delete()
    stream = services.stream_create(
        actor=None,
        channel=world.channels["douyin"],
        studio=world.studios["hz"],
        title="现在直播：秋冬护肤专场 Live now: Autumn Skincare Special",
        planned_start=start,
        planned_end=start + timedelta(hours=3),
        status=StreamStatus.SCHEDULED,
    )
    _crew(world, stream)
    services.lineup_set_apply(actor=None, stream=stream, lineup_set=lineup_set)
    return stream


def _crew(world: DemoWorld, stream: Stream) -> None:
    in_kl = stream.studio_id == world.studios["kl"].pk
    for person in PEOPLE:
        if person.crew_role is not None and (person.username in KL_CREW) == in_kl:
            services.crew_assign(
                actor=None,
                stream=stream,
                person=world.users[person.username],
                role=person.crew_role,
            )
