"""Calendar: a producer opens a studio's week with 500 streams and 3,000 crew in the database.

The studio holds 500 streams (four a day for 125 days, each with six crew drawn from a pool
of 40 people, some with working hours and days off) and so 3,000 crew bookings; other
studios add unrelated rows. The page is rendered in this process through Django's test
client (server time: URL routing, middleware, queries, template; no network), first for a
busy week (28 streams, 168 crew), then for a quiet one (one stream) as the baseline: the
query counts must be equal, and the time ratio shows what 27 more streams cost.
"""

import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rooms import services
from rooms.models import CrewAssignment, CrewRole, Role, Stream, StreamStatus, TimeOff, WorkingHours
from rooms.schedule import CREW_CALL, booking

from .harness import PYTHON, ROOT, emit, log
from .stats import percentiles_ms, ratio

DAYS = 125
PER_DAY = 4
CREW = (
    CrewRole.HOST,
    CrewRole.CO_HOST,
    CrewRole.ROOM_OPERATOR,
    CrewRole.FLOOR_CONTROLLER,
    CrewRole.CS_AGENT,
    CrewRole.AD_BUYER,
)
PEOPLE = 40
SHANGHAI = ZoneInfo("Asia/Shanghai")


def run(env: dict[str, str], *, requests: int) -> dict:
    # Pages are rendered as in production, with hashed static file names.
    subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=sys.stderr,
    )
    run_id = uuid.uuid4().hex[:8]
    producer, studio, first_day = _fill(run_id)
    busy_day = first_day + timedelta(days=DAYS // 2)
    busy_week = busy_day - timedelta(days=busy_day.weekday())
    quiet_week = first_day - timedelta(days=first_day.weekday() + 7)
    _one_stream(studio, quiet_week + timedelta(days=2))
    client = Client(SERVER_NAME="localhost")
    client.force_login(producer)
    urls = {
        "busy_week": f"/plan/?studio={studio.pk}&date={busy_week.isoformat()}",
        "quiet_week": f"/plan/?studio={studio.pk}&date={quiet_week.isoformat()}",
        "busy_day": f"/plan/?studio={studio.pk}&view=day&date={busy_day.isoformat()}",
    }
    figures = {
        "benchmark": "calendar",
        "streams_in_studio": Stream.objects.filter(studio=studio).count(),
        "crew_in_studio": CrewAssignment.objects.filter(stream__studio=studio).count(),
        "streams_in_database": Stream.objects.count(),
        "crew_in_database": CrewAssignment.objects.count(),
        "requests": requests,
    }
    for name, url in urls.items():
        shown, queries = _probe(client, url)
        samples = []
        for _ in range(3):
            client.get(url)
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        figures[name] = {"streams_shown": shown, "queries": queries, **percentiles_ms(samples)}
        log(f"calendar: {name} {figures[name]}")
    figures["queries_constant"] = (
        figures["busy_week"]["queries"] == figures["quiet_week"]["queries"]
    )
    figures["ratio_busy_vs_quiet_week_p95"] = ratio(
        figures["busy_week"]["p95_ms"], figures["quiet_week"]["p95_ms"]
    )
    emit(figures)
    return figures


def _probe(client: Client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode().count('class="calendar-stream '), len(queries)


def _fill(run_id: str):
    log(f"calendar: planning {DAYS * PER_DAY} streams with {len(CREW)} crew each")
    producer = services.user_create(
        username=f"bench-{run_id}-producer", password="x", roles=[Role.PRODUCER]
    )
    people = [
        services.user_create(username=f"bench-{run_id}-p{i}", password="x", roles=[Role.HOST])
        for i in range(PEOPLE)
    ]
    studio = services.studio_create(
        actor=None, name=f"bench-{run_id}", time_zone="Asia/Shanghai", members=[producer, *people]
    )
    channel, _secret = services.channel_create(
        actor=None,
        key=f"bench-{run_id}-calendar",
        name=f"bench {run_id}",
        platform="douyin",
        currency="CNY",
        time_zone="Asia/Shanghai",
    )
    first_day = timezone.localdate() + timedelta(days=7)
    streams = []
    for day in range(DAYS):
        for slot in range(PER_DAY):
            # 06:00, 10:30, 15:00, 19:30: three-hour shows, buffers and calls never overlap.
            start = datetime.combine(
                first_day + timedelta(days=day), datetime.min.time(), SHANGHAI
            ) + timedelta(hours=6 + 4.5 * slot)
            end = start + timedelta(hours=3)
            streams.append(
                Stream(
                    channel=channel,
                    studio=studio,
                    title=f"Show {day}-{slot}",
                    status=StreamStatus.SCHEDULED,
                    planned_start=start,
                    planned_end=end,
                    booked=booking(start, end, timedelta(minutes=30), timedelta(minutes=15)),
                    required_roles=[*CREW, CrewRole.CHEER],
                )
            )
    # Fixtures in bulk for speed; the exclusion constraints still check every row.
    with transaction.atomic():
        Stream.objects.bulk_create(streams, batch_size=500)
        crew = []
        for index, stream in enumerate(streams):
            for offset, role in enumerate(CREW):
                person = people[(index * len(CREW) + offset) % PEOPLE]
                before, after = CREW_CALL[role]
                crew.append(
                    CrewAssignment(
                        stream=stream,
                        person=person,
                        role=role,
                        buffer_before=before,
                        buffer_after=after,
                        booked=booking(stream.planned_start, stream.planned_end, before, after),
                    )
                )
        CrewAssignment.objects.bulk_create(crew, batch_size=1000)
        WorkingHours.objects.bulk_create(
            WorkingHours(person=person, weekday=weekday, starts=_t(10), ends=_t(23))
            for person in people[::2]
            for weekday in range(7)
        )
        TimeOff.objects.bulk_create(
            TimeOff(person=person, first_day=first_day, last_day=first_day + timedelta(days=DAYS))
            for person in people[::7]
        )
    return producer, studio, first_day


def _one_stream(studio, day: date) -> None:
    start = datetime.combine(day, datetime.min.time(), SHANGHAI) + timedelta(hours=20)
    stream = services.stream_create(
        actor=None,
        channel=studio.streams.first().channel,
        studio=studio,
        title="Quiet week show",
        planned_start=start,
        planned_end=start + timedelta(hours=3),
    )
    services.crew_assign(
        actor=None, stream=stream, person=studio.members.order_by("pk").last(), role=CrewRole.HOST
    )


def _t(hour: int):
    return datetime.min.time().replace(hour=hour)
