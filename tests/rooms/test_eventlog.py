import asyncio
import threading
from datetime import timedelta

import psycopg
import pytest
from channels.layers import get_channel_layer
from django.db import DatabaseError, IntegrityError, connection, transaction

from rooms import eventlog
from rooms.eventlog import NewEvent
from rooms.models import Stream, StreamEvent
from tests.factories import StreamFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _append(stream_id: int, count: int, type_: str = "note") -> list[dict]:
    with transaction.atomic():
        return eventlog.append(
            stream_id, [NewEvent(type_, "added", {"i": i}) for i in range(count)]
        )


def test_ids_start_at_one_per_stream_and_have_no_gaps():
    first, second = StreamFactory(), StreamFactory()

    a = _append(first.pk, 3)
    b = _append(second.pk, 2)
    c = _append(first.pk, 2)

    assert [e["id"] for e in a + c] == [1, 2, 3, 4, 5]
    assert [e["id"] for e in b] == [1, 2]


def test_a_rolled_back_append_leaves_no_gap():
    stream = StreamFactory()
    _append(stream.pk, 2)

    with pytest.raises(RuntimeError), transaction.atomic():
        eventlog.append(stream.pk, [NewEvent("note", "added")])
        raise RuntimeError("the service failed after writing its event")
    after = _append(stream.pk, 1)

    assert after[0]["id"] == 3


def test_append_outside_a_transaction_is_refused():
    stream = StreamFactory()

    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        eventlog.append(stream.pk, [NewEvent("note", "added")])


def test_concurrent_writers_become_visible_in_id_order():
    """A reader following the log never sees an id before all smaller ids are visible."""
    stream = StreamFactory()
    writers, per_writer = 4, 40
    done = threading.Event()
    seen: list[int] = []
    gaps: list[tuple[int, int]] = []

    def write(n: int) -> None:
        try:
            for i in range(per_writer):
                _append(stream.pk, 1 + (i + n) % 3)
        finally:
            connection.close()

    def read() -> None:
        last = 0
        try:
            while True:
                finished = done.is_set()
                for event in eventlog.read_after(stream.pk, last, limit=1000):
                    if event["id"] != last + 1:
                        gaps.append((last, event["id"]))
                    last = event["id"]
                    seen.append(last)
                if finished:
                    return
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()

    expected = sum(1 + (i + n) % 3 for n in range(writers) for i in range(per_writer))
    assert gaps == []
    assert seen == list(range(1, expected + 1))


def test_resume_is_possible_while_the_log_holds_the_next_event():
    stream = StreamFactory()
    _append(stream.pk, 5)

    assert eventlog.can_resume(stream.pk, 0) == (True, 5)
    assert eventlog.can_resume(stream.pk, 5) == (True, 5)


def test_resume_after_an_unknown_id_or_a_pruned_gap_needs_a_resync():
    stream = StreamFactory()
    _append(stream.pk, 5)
    StreamEvent.objects.filter(stream=stream, seq__lte=3).delete()

    assert eventlog.can_resume(stream.pk, 2) == (False, 5)
    assert eventlog.can_resume(stream.pk, 3) == (True, 5)
    assert eventlog.can_resume(stream.pk, 9) == (False, 5)


def test_prune_deletes_old_events_but_keeps_each_streams_newest():
    stream = StreamFactory()
    _append(stream.pk, 4)
    StreamEvent.objects.filter(stream=stream).update(
        at=StreamEvent.objects.get(stream=stream, seq=1).at - timedelta(days=30)
    )

    deleted = eventlog.prune(older_than=timedelta(days=7))

    assert deleted == 3
    assert list(StreamEvent.objects.filter(stream=stream).values_list("seq", flat=True)) == [4]
    assert eventlog.can_resume(stream.pk, 4) == (True, 4)
    assert eventlog.can_resume(stream.pk, 2) == (False, 4)


def test_deferred_appends_are_written_when_the_block_ends_in_stream_order():
    """Events whose data is computed with the head locked are written as the block ends."""
    first, second = StreamFactory(), StreamFactory()

    with transaction.atomic():
        with eventlog.deferred():
            returned = eventlog.append(second.pk, [NewEvent("note", "a", lambda: {})])
            eventlog.append(first.pk, [NewEvent("note", "b", lambda: {})])
            eventlog.append(second.pk, [NewEvent("note", "c", lambda: {})])
            held_during_block = StreamEvent.objects.count()
        written = list(StreamEvent.objects.order_by("pk").values_list("stream_id", "seq", "op"))

    assert returned == []
    assert held_during_block == 0
    assert written == [(first.pk, 1, "b"), (second.pk, 1, "a"), (second.pk, 2, "c")]


def test_events_are_written_as_the_transaction_commits_streams_in_id_order(monkeypatch):
    first, second = StreamFactory(), StreamFactory()
    broadcasts: list[tuple[object, list[dict]]] = []
    monkeypatch.setattr(
        eventlog, "broadcast", lambda stream_id, payloads: broadcasts.append((stream_id, payloads))
    )

    with transaction.atomic():
        a = eventlog.append(second.pk, [NewEvent("note", "a", {"n": 1})])
        with eventlog.deferred():
            eventlog.append(first.pk, [NewEvent("note", "b")])
        c = eventlog.append(second.pk, [NewEvent("note", "c")])
        rows_before_commit = StreamEvent.objects.count()
        payloads_before_commit = a + c
        transaction.on_commit(lambda: broadcasts.append(("hooks run", [])))

    stored = list(StreamEvent.objects.order_by("pk").values_list("stream_id", "seq", "op", "data"))
    assert rows_before_commit == 0
    assert payloads_before_commit == []
    assert stored == [
        (first.pk, 1, "b", {}),
        (second.pk, 1, "a", {"n": 1}),
        (second.pk, 2, "c", {}),
    ]
    assert [(e["id"], e["op"], e["data"]) for e in a + c] == [(1, "a", {"n": 1}), (2, "c", {})]
    assert [stream_id for stream_id, _payloads in broadcasts] == [first.pk, second.pk, "hooks run"]
    assert broadcasts[1][1] == a + c


def test_a_large_batch_is_written_as_its_transaction_commits_too():
    """Held events beyond what the commit's message carries go by the prepared statement."""
    first, second = StreamFactory(), StreamFactory()
    text = "尺码 " * (eventlog.ONE_MESSAGE_BYTES // 4)

    with transaction.atomic():
        big = eventlog.append(second.pk, [NewEvent("note", "big", {"text": text})])
        small = eventlog.append(first.pk, [NewEvent("note", "small")])
        rows_before_commit = StreamEvent.objects.count()

    stored = list(StreamEvent.objects.order_by("pk").values_list("stream_id", "seq", "op"))
    assert rows_before_commit == 0
    assert stored == [(first.pk, 1, "small"), (second.pk, 1, "big")]
    assert [(e["id"], e["data"]) for e in big + small] == [(1, {"text": text}), (1, {})]


def test_a_rollback_to_a_savepoint_drops_the_events_appended_after_it():
    stream = StreamFactory()

    with transaction.atomic():
        eventlog.append(stream.pk, [NewEvent("note", "before")])
        with pytest.raises(ValueError), transaction.atomic():
            eventlog.append(stream.pk, [NewEvent("note", "rolled back")])
            raise ValueError("the nested work failed")
        with transaction.atomic():
            eventlog.append(stream.pk, [NewEvent("note", "in a kept savepoint")])
        eventlog.append(stream.pk, [NewEvent("note", "after")])

    assert list(StreamEvent.objects.order_by("seq").values_list("seq", "op")) == [
        (1, "before"),
        (2, "in a kept savepoint"),
        (3, "after"),
    ]


def test_an_event_computed_with_the_head_locked_is_written_at_once_after_those_before_it():
    """Written at once, after what the transaction held for its own stream (append order)
    and for streams before it (heads are locked in id order); later streams wait for the
    commit."""
    low, mid, high = StreamFactory(), StreamFactory(), StreamFactory()

    with transaction.atomic():
        eventlog.append(high.pk, [NewEvent("note", "high")])
        eventlog.append(mid.pk, [NewEvent("note", "mid held")])
        eventlog.append(low.pk, [NewEvent("note", "low")])
        eventlog.append(mid.pk, [NewEvent("tiles", "summary", lambda: {"seen": "locked"})])
        during = list(StreamEvent.objects.order_by("pk").values_list("stream_id", "seq", "op"))

    assert during == [(low.pk, 1, "low"), (mid.pk, 1, "mid held"), (mid.pk, 2, "summary")]
    assert StreamEvent.objects.get(stream=high).op == "high"


def test_a_commit_that_fails_with_its_events_keeps_nothing_of_the_transaction():
    """The events go to the server with the COMMIT; if either fails, so does the whole."""
    stream = StreamFactory()
    missing_stream = stream.pk + 1000  # its foreign key is checked as the transaction commits
    kept = _append(stream.pk, 1)

    with pytest.raises(IntegrityError), transaction.atomic():
        written = eventlog.append(stream.pk, [NewEvent("note", "with the failed commit")])
        eventlog.append(missing_stream, [NewEvent("note", "for no stream")])
    after = _append(stream.pk, 1)

    assert written == []
    assert [e["id"] for e in kept + after] == [1, 2]
    assert list(StreamEvent.objects.order_by("seq").values_list("op", flat=True)) == [
        "added",
        "added",
    ]


def test_the_commit_that_writes_events_leaves_the_connections_commit_mode_as_it_was():
    """The log's commit releases the heads before its WAL reaches the disk, then waits for
    the disk in a statement of its own; later transactions on the pooled connection commit
    as configured."""
    stream = StreamFactory()
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        configured = cursor.fetchone()[0]

    with transaction.atomic():
        eventlog.append(stream.pk, [NewEvent("note", "added")])
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        after = cursor.fetchone()[0]

    assert configured != "off"
    assert after == configured
    assert eventlog.head(stream.pk) == 1


def test_a_commit_that_fails_in_the_application_rolls_the_transaction_back(monkeypatch):
    """Django rolls back a commit's database errors only: any other failure while sending
    the events is raised as one, so the transaction does not stay open holding its locks."""
    stream = StreamFactory()

    def broken_mogrify(*args, **kwargs):
        raise RuntimeError("a defect while composing the commit")

    with monkeypatch.context() as broken:
        broken.setattr(psycopg.ClientCursor, "mogrify", broken_mogrify)
        with pytest.raises(DatabaseError, match="a defect while composing"), transaction.atomic():
            StreamFactory(title="made in the failed transaction")
            eventlog.append(stream.pk, [NewEvent("note", "lost with it")])
    after = _append(stream.pk, 1)

    assert not Stream.objects.filter(title="made in the failed transaction").exists()
    assert [e["id"] for e in after] == [1]


# A change made alone: a database function makes it and writes its events, or does nothing.
_NOTE_IF_ASKED = """
    SELECT w.seq, w.at
    FROM (SELECT %(wanted)s::boolean AS wanted) AS asked,
         LATERAL rooms_eventlog_write(
             %(stream)s, %(types)s::text[], %(ops)s::text[], %(datas)s::text[]
         ) AS w
    WHERE asked.wanted
"""


def test_a_change_made_alone_is_committed_with_its_events_in_one_message(monkeypatch):
    stream = StreamFactory()
    _append(stream.pk, 1)
    broadcasts: list[tuple[int, list[dict]]] = []
    monkeypatch.setattr(
        eventlog, "broadcast", lambda stream_id, payloads: broadcasts.append((stream_id, payloads))
    )
    events = [NewEvent("note", "alone", {"text": "尺码 'M' \\ ok"}), NewEvent("note", "too")]

    written = eventlog.commit_alone(_NOTE_IF_ASKED, {"wanted": True}, stream.pk, events)
    skipped = eventlog.commit_alone(_NOTE_IF_ASKED, {"wanted": False}, stream.pk, events)

    assert [(e["id"], e["op"], e["data"]) for e in written] == [
        (2, "alone", {"text": "尺码 'M' \\ ok"}),
        (3, "too", {}),
    ]
    assert skipped is None
    assert broadcasts == [(stream.pk, written)]
    assert eventlog.read_after(stream.pk, 1, limit=10) == written
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_change_made_alone_that_fails_leaves_nothing_and_no_transaction_open():
    stream = StreamFactory()
    # The events are written, then the statement fails.
    failing = """
        SELECT w.seq, w.at
        FROM rooms_eventlog_write(%(stream)s, %(types)s, %(ops)s, %(datas)s) AS w
        WHERE w.seq / (w.seq - w.seq) = 1
    """

    with pytest.raises(DatabaseError, match="division by zero"):
        eventlog.commit_alone(failing, {}, stream.pk, [NewEvent("note", "lost")])
    after = _append(stream.pk, 1)

    assert [e["id"] for e in after] == [1]
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_change_made_alone_needs_to_be_outside_any_transaction_and_to_say_what_changed():
    stream = StreamFactory()
    events = [NewEvent("note", "added")]
    with pytest.raises(RuntimeError), transaction.atomic():
        eventlog.commit_alone(_NOTE_IF_ASKED, {"wanted": True}, stream.pk, events)
    with pytest.raises(ValueError):
        eventlog.commit_alone(_NOTE_IF_ASKED, {"wanted": True}, stream.pk, [])
    assert eventlog.head(stream.pk) == 0


def test_data_that_is_not_json_is_refused_when_appended_not_at_commit():
    stream = StreamFactory()

    with transaction.atomic():
        with pytest.raises(TypeError):
            eventlog.append(stream.pk, [NewEvent("note", "added", {"when": object()})])
        eventlog.append(stream.pk, [NewEvent("note", "the service carries on")])

    assert list(StreamEvent.objects.values_list("seq", "op")) == [(1, "the service carries on")]


def test_a_rolled_back_transaction_hands_nothing_to_the_next_one():
    stream = StreamFactory()

    with pytest.raises(ValueError), transaction.atomic():
        eventlog.append(stream.pk, [NewEvent("note", "rolled back")])
        raise ValueError("the service failed")
    with transaction.atomic():
        StreamEvent.objects.count()  # a transaction that appends nothing

    assert StreamEvent.objects.count() == 0
    assert eventlog.head(stream.pk) == 0


def test_a_nested_deferred_block_that_fails_writes_nothing_of_its_own():
    stream = StreamFactory()

    with transaction.atomic(), eventlog.deferred():
        eventlog.append(stream.pk, [NewEvent("note", "kept")])
        with pytest.raises(ValueError), eventlog.deferred():
            eventlog.append(stream.pk, [NewEvent("note", "dropped")])
            raise ValueError("handler failed")

    assert list(StreamEvent.objects.values_list("seq", "op")) == [(1, "kept")]


def test_deferred_appends_need_the_services_transaction():
    with pytest.raises(RuntimeError, match="inside the service's transaction"), eventlog.deferred():
        pass


def test_writers_racing_for_a_new_streams_first_ids_get_one_unbroken_run():
    """The first write creates the stream's head; writers arriving together all find it,
    whoever inserts it, and later ones queue on it."""
    from django.db import connections

    stream = StreamFactory()
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            start.wait()
            for _ in range(10):
                _append(stream.pk, 2)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    seqs = list(StreamEvent.objects.filter(stream=stream).values_list("seq", flat=True))
    assert sorted(seqs) == list(range(1, 161))
    assert eventlog.head(stream.pk) == 160


def test_an_event_is_stamped_after_it_waited_for_the_head_not_before():
    """A later id never carries an earlier time: retention prunes by time and must never
    drop an event while keeping the one before it."""
    from django.db import connections
    from django.utils import timezone

    from tests.conftest import locks_awaited, wait_until

    stream = StreamFactory()
    written: dict = {}

    def second_writer() -> None:
        try:
            written["payload"] = _append(stream.pk, 1, "second")[0]
        finally:
            connections.close_all()

    with transaction.atomic():
        # Data computed with the head locked: written at once, the head held until commit.
        eventlog.append(stream.pk, [NewEvent("first", "added", lambda: {})])
        writer = threading.Thread(target=second_writer)
        writer.start()
        wait_until(lambda: locks_awaited() > 0)
        released = timezone.now()
    writer.join()

    stored = StreamEvent.objects.get(stream=stream, seq=2)
    assert stored.at >= released
    assert written["payload"]["at"] == stored.at.isoformat()


@pytest.mark.asyncio
async def test_doorbells_left_while_the_sender_is_busy_go_out_as_one_message_per_stream():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    busy, quiet = 9_000_001, 9_000_002  # no stream rows needed: only the doorbells
    await layer.group_add(eventlog.group_name(busy), channel)
    publisher = eventlog._Publisher()
    sender_free = threading.Event()
    publisher.loop.call_soon_threadsafe(sender_free.wait)  # the sender's loop is busy

    try:
        publisher.send(eventlog.group_name(busy), [{"id": 1}])
        publisher.send(eventlog.group_name(busy), [{"id": 2}, {"id": 3}])
        publisher.send(eventlog.group_name(quiet), [{"id": 1}])
        publisher.send(eventlog.group_name(busy), [{"id": 4}])
        sender_free.set()
        first = await asyncio.wait_for(layer.receive(channel), 5)
        publisher.send(eventlog.group_name(busy), [{"id": 5}])
        second = await asyncio.wait_for(layer.receive(channel), 5)
    finally:
        sender_free.set()
        publisher.loop.call_soon_threadsafe(publisher.loop.stop)
        publisher.thread.join(5)
        await layer.group_discard(eventlog.group_name(busy), channel)

    assert first == {"type": "stream.events", "events": [{"id": n} for n in (1, 2, 3, 4)]}
    assert second == {"type": "stream.events", "events": [{"id": 5}]}
    assert not publisher.thread.is_alive()
