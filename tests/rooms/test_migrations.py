from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_BOOKINGS = [("rooms", "0004_channel_secret_length")]
WITH_BOOKINGS = [("rooms", "0006_booked_required")]


@pytest.fixture
def at_schema_before_bookings():
    """The database as it was before double-booking was refused; restored afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_BOOKINGS)
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _sql(statement: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def test_upgrading_plans_that_overlap_keeps_each_person_on_their_earlier_stream(
    at_schema_before_bookings,
):
    eight_pm = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    (studio_a,), (studio_b,) = (
        _sql(
            "INSERT INTO rooms_studio (name, time_zone) VALUES (%s, 'Asia/Shanghai') RETURNING id",
            [name],
        )[0]
        for name in ("A", "B")
    )
    (channel,) = _sql(
        "INSERT INTO rooms_channel (key, name, platform, currency, time_zone) "
        "VALUES ('c', 'C', 'douyin', 'CNY', 'Asia/Shanghai') RETURNING id"
    )[0]
    (person,) = _sql(
        "INSERT INTO rooms_user (password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined, display_name, language, time_zone) VALUES "
        "('', false, 'host', '', '', '', false, true, now(), 'Host', 'en', 'Asia/Shanghai') "
        "RETURNING id"
    )[0]
    streams = []
    for studio, start in ((studio_a, eight_pm), (studio_b, eight_pm - timedelta(minutes=30))):
        (stream,) = _sql(
            "INSERT INTO rooms_stream (channel_id, studio_id, title, status, planned_start, "
            "planned_end, created_at) VALUES (%s, %s, 'Show', 'scheduled', %s, %s, now()) "
            "RETURNING id",
            [channel, studio, start, start + timedelta(hours=2)],
        )[0]
        _sql(
            "INSERT INTO rooms_crewassignment (stream_id, person_id, role) VALUES (%s, %s, 'host')",
            [stream, person],
        )
        streams.append(stream)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(WITH_BOOKINGS)

    assert _sql("SELECT stream_id FROM rooms_crewassignment") == [(streams[1],)]
    assert _sql("SELECT count(*) FROM rooms_stream WHERE booked IS NULL") == [(0,)]
