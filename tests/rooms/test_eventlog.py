import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction

from rooms import eventlog
from rooms.eventlog import NewEvent
from rooms.models import StreamEvent
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
    first, second = StreamFactory(), StreamFactory()

    with transaction.atomic():
        with eventlog.deferred():
            returned = eventlog.append(second.pk, [NewEvent("note", "a")])
            eventlog.append(first.pk, [NewEvent("note", "b")])
            eventlog.append(second.pk, [NewEvent("note", "c")])
            held_during_block = StreamEvent.objects.count()
        written = list(StreamEvent.objects.order_by("pk").values_list("stream_id", "seq", "op"))

    assert returned == []
    assert held_during_block == 0
    assert written == [(first.pk, 1, "b"), (second.pk, 1, "a"), (second.pk, 2, "c")]


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
        _append(stream.pk, 1, "first")  # holds the head row until this block commits
        writer = threading.Thread(target=second_writer)
        writer.start()
        wait_until(lambda: locks_awaited() > 0)
        released = timezone.now()
    writer.join()

    stored = StreamEvent.objects.get(stream=stream, seq=2)
    assert stored.at >= released
    assert written["payload"]["at"] == stored.at.isoformat()
