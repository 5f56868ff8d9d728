import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from rooms import eventlog, fanout
from rooms.eventlog import NewEvent
from tests.factories import StreamFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TIMEOUT = 5


class Screen:
    """A subscriber that records what its feed hands it."""

    def __init__(self) -> None:
        self.access_key = ("screen", 1)
        self.batches: list[list[int]] = []
        self.arrived = asyncio.Event()

    def deliver(self, item) -> None:
        if isinstance(item, fanout.Batch):
            self.batches.append([event["id"] for event in item.events])
            self.arrived.set()


@database_sync_to_async
def _append_silently(stream_id: int, count: int) -> list[dict]:
    """Write events whose doorbells the test rings itself."""
    with transaction.atomic(), eventlog.deferred():
        eventlog.append(stream_id, [NewEvent("note", "added")] * count)
    return eventlog.read_after(stream_id, 0, limit=count)


async def _feed_with(screens: list[Screen]):
    stream = await database_sync_to_async(StreamFactory)()
    for screen in screens:
        await fanout.join(stream.pk, screen)
    return stream, fanout._feeds[(asyncio.get_running_loop(), stream.pk)]


async def test_a_run_after_a_gap_is_held_until_the_late_doorbell_then_sent_in_order(
    monkeypatch,
):
    monkeypatch.setattr(fanout, "GAP_HOLD_SECONDS", 10)
    screen = Screen()
    stream, feed = await _feed_with([screen])
    monkeypatch.setattr(eventlog, "broadcast", lambda *args: None)
    events = await _append_silently(stream.pk, 4)
    reads = _count_log_reads(monkeypatch)

    feed._on_events(events[2:])
    held = list(screen.batches)
    feed._on_events(events[:2])
    await asyncio.wait_for(screen.arrived.wait(), TIMEOUT)
    await fanout.leave(stream.pk, screen)

    assert held == []
    assert screen.batches == [[1, 2, 3, 4]]
    assert reads == []  # the late doorbell filled the gap; the log was not needed


def _count_log_reads(monkeypatch) -> list:
    reads = []
    read_after = eventlog.read_after
    monkeypatch.setattr(
        eventlog,
        "read_after",
        lambda *args, **kwargs: reads.append(args) or read_after(*args, **kwargs),
    )
    return reads


async def test_a_gap_whose_doorbell_never_comes_is_read_from_the_log_once_for_all(
    monkeypatch,
):
    screens = [Screen() for _ in range(3)]
    stream, feed = await _feed_with(screens)
    monkeypatch.setattr(eventlog, "broadcast", lambda *args: None)
    events = await _append_silently(stream.pk, 4)
    reads = _count_log_reads(monkeypatch)

    feed._on_events(events[3:])
    for screen in screens:
        await asyncio.wait_for(screen.arrived.wait(), TIMEOUT)
    for screen in screens:
        await fanout.leave(stream.pk, screen)

    assert [screen.batches for screen in screens] == [[[1, 2, 3, 4]]] * 3
    assert len(reads) == 1
