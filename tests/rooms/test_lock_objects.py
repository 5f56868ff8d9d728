import threading

import pytest
from django.db import connection, transaction

from rooms import eventlog, lock_objects
from rooms.eventlog import NewEvent
from rooms.models import StreamEvent
from tests.factories import StreamFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stream_locked_for_a_change_does_not_block_its_event_log_writers():
    """The deadlock this prevents: a status change holding the stream row while another
    worker, having created the log head, waits on the stream row for its foreign key."""
    stream = StreamFactory()
    locked, written = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def change_stream() -> None:
        try:
            with transaction.atomic():
                lock_objects.stream_for_update(stream.pk)
                locked.set()
                written.wait(timeout=5)
                eventlog.append(stream.pk, [NewEvent("stream", "status_changed")])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def write_log() -> None:
        try:
            locked.wait(timeout=5)
            with transaction.atomic():
                eventlog.append(stream.pk, [NewEvent("comment", "received")])
            written.set()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=change_stream), threading.Thread(target=write_log)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert written.is_set()
    assert list(StreamEvent.objects.order_by("seq").values_list("seq", "type")) == [
        (1, "comment"),
        (2, "stream"),
    ]
