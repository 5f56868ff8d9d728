from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from rooms import eventlog, ingest, selectors, services
from rooms.models import IngestEvent, IngestStatus, StreamEvent, StreamStatus
from rooms.tasks import event_log_prune_task, ingest_sweep_task
from tests.conftest import post_events, wait_until
from tests.factories import IngestEventFactory, StreamFactory

pytestmark = pytest.mark.django_db(transaction=True)


# Chatter, not a question: a question would also be grouped into the support queue, with
# an event of its own, and these tests are about the log's plumbing.
CHATTER = {"user_id": "u1", "user_name": "阿花", "text": "主播好美"}


def _comment(event_id: str) -> dict:
    return {"id": event_id, "type": "comment", "at": timezone.now().isoformat(), **CHATTER}


def _log(stream) -> list[tuple[str, str]]:
    return list(StreamEvent.objects.filter(stream=stream).order_by("seq").values_list("type", "op"))


def test_webhook_events_reach_the_streams_log_through_a_real_worker(celery_worker):
    stream = StreamFactory()
    now = timezone.now().isoformat()
    events = [
        {"id": "s1", "type": "stream_status", "at": now, "status": "live"},
        _comment("c1"),
        {"id": "v1", "type": "viewers", "at": now, "online": 1200, "entered_total": 5400},
        {
            "id": "o1",
            "type": "order",
            "at": now,
            "order_id": "o1",
            "sku": "SKU-1",
            "quantity": 1,
            "amount": "129.00",
            "status": "paid",
        },
        {
            "id": "a1",
            "type": "ad_metrics",
            "at": now,
            "campaign_id": "c-1",
            "spend": "300",
            "impressions": 9000,
            "clicks": 180,
            "orders": 4,
            "gmv": "516.00",
        },
    ]

    response = post_events(Client(), stream.channel, events)
    log = wait_until(lambda: len(_log(stream)) == 6 and _log(stream))

    assert response.status_code == 202
    assert log[0] == ("stream", "status_changed")
    assert sorted(log[1:]) == [
        ("ad_metrics", "sampled"),
        ("comment", "received"),
        ("metrics", "tiles"),
        ("order", "paid"),
        ("viewers", "sampled"),
    ]
    stream.refresh_from_db()
    assert stream.status == StreamStatus.LIVE
    assert set(IngestEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_the_sweep_dispatches_rows_whose_dispatch_was_lost(celery_worker):
    stream = StreamFactory()
    IngestEventFactory.create_batch(
        3,
        channel=stream.channel,
        received_at=timezone.now() - timedelta(minutes=5),
        payload=CHATTER,
    )

    ingest_sweep_task.delay()
    wait_until(lambda: not IngestEvent.objects.exclude(status=IngestStatus.PROCESSED).exists())

    assert _log(stream) == [("comment", "received")] * 3


def test_dispatch_is_safe_to_run_twice():
    stream = StreamFactory()
    post_events(Client(), stream.channel, [_comment("c1"), _comment("c2")])
    ids = list(IngestEvent.objects.values_list("pk", flat=True))

    first = services.ingest_dispatch(inbox_ids=ids)
    second = services.ingest_dispatch(inbox_ids=ids)

    assert (first, second) == (2, 0)
    assert _log(stream) == [("comment", "received")] * 2


def test_a_failing_handler_is_retried_and_does_not_hold_back_other_types(monkeypatch):
    stream = StreamFactory()

    def broken(*, stream, events):
        raise RuntimeError("viewers handler is down")

    monkeypatch.setitem(ingest._handlers, "viewers", broken)
    now = timezone.now().isoformat()
    post_events(
        Client(),
        stream.channel,
        [
            _comment("c1"),
            {"id": "v1", "type": "viewers", "at": now, "online": 10, "entered_total": 20},
        ],
    )
    ids = list(IngestEvent.objects.values_list("pk", flat=True))

    services.ingest_dispatch(inbox_ids=ids)
    viewers = IngestEvent.objects.get(platform_event_id="v1")
    monkeypatch.undo()
    retried = services.ingest_dispatch(inbox_ids=ids)

    assert viewers.status == IngestStatus.FAILED
    assert "viewers handler is down" in viewers.error
    assert retried == 1
    # The tiles follow the viewers once their handler works again.
    assert _log(stream) == [("comment", "received"), ("viewers", "sampled"), ("metrics", "tiles")]


def test_a_handler_that_keeps_failing_is_given_up_on(monkeypatch, settings):
    settings.MCN_INGEST_MAX_ATTEMPTS = 2
    stream = StreamFactory()
    monkeypatch.setitem(ingest._handlers, "comment", lambda *, stream, events: 1 / 0)
    post_events(Client(), stream.channel, [_comment("c1")])
    ids = list(IngestEvent.objects.values_list("pk", flat=True))

    services.ingest_dispatch(inbox_ids=ids)
    services.ingest_dispatch(inbox_ids=ids)

    assert IngestEvent.objects.get().status == IngestStatus.DEAD
    assert services.ingest_dispatch(inbox_ids=ids) == 0


def test_events_for_a_channel_with_no_stream_then_are_kept_as_unrouted():
    stream = StreamFactory(
        planned_start=timezone.now() + timedelta(days=2),
        planned_end=timezone.now() + timedelta(days=2, hours=2),
    )
    post_events(Client(), stream.channel, [_comment("c1")])

    services.ingest_dispatch(inbox_ids=list(IngestEvent.objects.values_list("pk", flat=True)))

    assert IngestEvent.objects.get().status == IngestStatus.UNROUTED
    assert _log(stream) == []


def test_the_prune_task_applies_the_retention_window(celery_worker, settings):
    settings.MCN_EVENT_RETENTION_HOURS = 1
    stream = StreamFactory()
    with transaction.atomic():
        eventlog.append(stream.pk, [eventlog.NewEvent("note", "added")] * 3)
    StreamEvent.objects.update(at=timezone.now() - timedelta(hours=2))

    event_log_prune_task.delay()
    wait_until(lambda: StreamEvent.objects.count() == 1)

    assert StreamEvent.objects.get().seq == 3


def test_a_dispatch_with_backlog_takes_the_rows_waiting_behind_it_in_one_go():
    stream = StreamFactory()
    post_events(Client(), stream.channel, [_comment(f"c{i}") for i in range(5)])
    first, *waiting = IngestEvent.objects.order_by("pk").values_list("pk", flat=True)

    processed = services.ingest_dispatch(inbox_ids=[first], with_backlog=True)
    again = services.ingest_dispatch(inbox_ids=waiting, with_backlog=True)

    assert (processed, again) == (5, 0)
    assert list(StreamEvent.objects.values_list("seq", flat=True)) == [1, 2, 3, 4, 5]


def test_a_row_that_fails_outside_its_handler_is_isolated_and_counted(monkeypatch):
    healthy, poisoned = StreamFactory(), StreamFactory()
    good = IngestEventFactory.create_batch(2, channel=healthy.channel, payload=CHATTER)
    bad = IngestEventFactory(channel=poisoned.channel, payload=CHATTER)
    route = selectors.streams_for_platform_events

    def routing_that_breaks_on_one_channel(channel_id, times):
        if channel_id == poisoned.channel_id:
            raise RuntimeError("routing failed")
        return route(channel_id, times)

    monkeypatch.setattr(
        selectors, "streams_for_platform_events", routing_that_breaks_on_one_channel
    )

    processed = services.ingest_dispatch_isolating(inbox_ids=[row.pk for row in [*good, bad]])

    bad.refresh_from_db()
    assert processed == 2
    assert _log(healthy) == [("comment", "received")] * 2
    assert (bad.status, bad.attempts) == (IngestStatus.FAILED, 1)
    assert "routing failed" in bad.error
