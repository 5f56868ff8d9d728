"""The supervisor's statistics: response-time percentiles, SLA hit rate and queue depth,
in total, per stream and per agent, over a time range, and as CSV rows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import Role
from support import selectors
from tests.factories import QuestionGroupFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


def supervisor_of(*streams):
    producer = UserFactory(roles=[Role.PRODUCER])
    for stream in streams:
        stream.studio.members.add(producer)
    return producer


def answered(stream, agent, *, asked, seconds: int, sla: int = 180, **fields):
    return QuestionGroupFactory(
        stream=stream,
        first_asked_at=asked,
        deadline=asked + timedelta(seconds=sla),
        status="answered",
        answered_by=agent,
        answered_at=asked + timedelta(seconds=seconds),
        **fields,
    )


def test_response_time_percentiles_run_from_first_asked_to_answered():
    stream = StreamFactory()
    agent = UserFactory()
    asked = timezone.now() - timedelta(hours=1)
    for seconds in range(10, 101, 10):
        answered(stream, agent, asked=asked, seconds=seconds)

    stats = selectors.support_stats(
        user=supervisor_of(stream), since=asked, until=asked + timedelta(hours=1)
    )

    total = stats["total"]
    assert (total["answered"], total["p50_seconds"], total["p90_seconds"]) == (10, 55.0, 91.0)
    assert total["p99_seconds"] == pytest.approx(99.1)


def test_the_sla_hit_rate_counts_late_answers_and_unanswered_breaches_as_missed():
    stream = StreamFactory()
    agent = UserFactory()
    now = timezone.now()
    asked = now - timedelta(minutes=30)
    answered(stream, agent, asked=asked, seconds=60)
    answered(stream, agent, asked=asked, seconds=120)
    answered(stream, agent, asked=asked, seconds=400)  # late
    QuestionGroupFactory(stream=stream, first_asked_at=asked, deadline=asked + timedelta(minutes=3))
    QuestionGroupFactory(stream=stream, first_asked_at=now, deadline=now + timedelta(minutes=3))

    stats = selectors.support_stats(
        user=supervisor_of(stream), since=asked, until=now + timedelta(seconds=1), now=now
    )

    total = stats["total"]
    assert (total["sla_met"], total["sla_missed"], total["sla_hit_rate"]) == (2, 2, 0.5)
    assert (total["groups"], total["open_now"]) == (5, 2)


def test_figures_are_per_stream_and_per_agent():
    first, second = StreamFactory(), StreamFactory()
    anna, ben = UserFactory(display_name="Anna"), UserFactory(display_name="Ben")
    asked = timezone.now() - timedelta(minutes=30)
    answered(first, anna, asked=asked, seconds=30)
    answered(first, ben, asked=asked, seconds=90)
    answered(second, ben, asked=asked, seconds=300)
    QuestionGroupFactory(stream=second, status="escalated", first_asked_at=asked)

    stats = selectors.support_stats(
        user=supervisor_of(first, second), since=asked, until=timezone.now()
    )

    streams = {line["id"]: line for line in stats["streams"]}
    assert (streams[first.pk]["answered"], streams[first.pk]["p50_seconds"]) == (2, 60.0)
    assert (streams[second.pk]["sla_hit_rate"], streams[second.pk]["with_host_now"]) == (0.0, 1)
    agents = {line["name"]: line for line in stats["agents"]}
    assert (agents["Anna"]["answered"], agents["Anna"]["p50_seconds"]) == (1, 30.0)
    assert (agents["Ben"]["answered"], agents["Ben"]["sla_met"]) == (2, 1)


def test_only_questions_first_asked_in_the_range_count():
    stream = StreamFactory()
    agent = UserFactory()
    now = timezone.now()
    answered(stream, agent, asked=now - timedelta(days=2), seconds=30)
    answered(stream, agent, asked=now - timedelta(hours=1), seconds=90)

    stats = selectors.support_stats(
        user=supervisor_of(stream), since=now - timedelta(days=1), until=now
    )

    assert (stats["total"]["answered"], stats["total"]["p50_seconds"]) == (1, 90.0)


def test_merged_and_dismissed_groups_are_left_out():
    stream = StreamFactory()
    asked = timezone.now() - timedelta(minutes=30)
    kept = QuestionGroupFactory(stream=stream, first_asked_at=asked)
    QuestionGroupFactory(stream=stream, first_asked_at=asked, merged_into=kept)
    QuestionGroupFactory(stream=stream, first_asked_at=asked, status="dismissed")

    stats = selectors.support_stats(user=supervisor_of(stream), since=asked, until=timezone.now())

    assert stats["total"]["groups"] == 1


def test_streams_the_supervisor_cannot_see_are_not_counted():
    mine, theirs = StreamFactory(), StreamFactory()
    agent = UserFactory()
    asked = timezone.now() - timedelta(minutes=30)
    answered(mine, agent, asked=asked, seconds=30)
    answered(theirs, agent, asked=asked, seconds=30)

    stats = selectors.support_stats(user=supervisor_of(mine), since=asked, until=timezone.now())

    assert [line["id"] for line in stats["streams"]] == [mine.pk]
    assert stats["total"]["answered"] == 1


def test_an_empty_range_has_no_percentiles():
    stream = StreamFactory()
    now = timezone.now()

    stats = selectors.support_stats(
        user=supervisor_of(stream), since=now - timedelta(hours=1), until=now
    )

    assert stats["total"]["answered"] == 0
    assert stats["total"]["p50_seconds"] is None
    assert stats["total"]["sla_hit_rate"] is None


def test_csv_rows_hold_the_total_each_stream_and_each_agent():
    stream = StreamFactory(title="Beauty Night")
    agent = UserFactory(display_name="Anna")
    asked = timezone.now() - timedelta(minutes=30)
    answered(stream, agent, asked=asked, seconds=45)
    stats = selectors.support_stats(user=supervisor_of(stream), since=asked, until=timezone.now())

    rows = selectors.support_stats_rows(stats)

    header = rows[0]
    column = header.index
    assert [row[0] for row in rows] == ["scope", "total", "stream", "agent"]
    assert rows[2][column("name")] == "Beauty Night"
    assert rows[3][column("name")] == "Anna"
    assert rows[3][column("p50_seconds")] == "45.0"
    assert rows[3][column("sla_hit_rate")] == "1.0000"
