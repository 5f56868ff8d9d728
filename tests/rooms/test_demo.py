import pytest
from django.core.management import call_command

from rooms import demo
from rooms.models import IngestEvent, IngestStatus, Stream, StreamEvent, StreamStatus, User
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_one_login_per_role_and_a_stream_for_now(capsys):
    call_command("seed_demo", password="pass-for-demo")

    output = capsys.readouterr().out
    stream = demo.current_demo_stream()
    assert stream.status == StreamStatus.SCHEDULED
    assert stream.crew.count() == 6
    for username in (
        "admin",
        "producer",
        "operator",
        "floor",
        "host",
        "cs",
        "adbuyer",
        "approver",
        "viewer",
    ):
        assert username in output
        assert User.objects.get(username=username).check_password("pass-for-demo")
    assert f"/streams/{stream.pk}/events/" in output


def test_seed_demo_can_run_again_without_duplicating_anything():
    call_command("seed_demo", password="first")
    counts = (User.objects.count(), Stream.objects.count())

    call_command("seed_demo", password="second")

    assert (User.objects.count(), Stream.objects.count()) == counts
    assert User.objects.get(username="host").check_password("second")


@pytest.mark.django_db(transaction=True)
def test_simulate_stream_drives_a_stream_through_the_signed_webhook(asgi_server, celery_worker):
    call_command("seed_demo", password="pass-for-demo")
    stream = demo.current_demo_stream()

    call_command(
        "simulate_stream",
        str(stream.pk),
        "--rate",
        "20",
        "--duration",
        "3",
        "--seed",
        "1",
        "--base-url",
        asgi_server.url,
    )
    wait_until(lambda: not IngestEvent.objects.filter(status=IngestStatus.PENDING).exists())

    stream.refresh_from_db()
    types = set(StreamEvent.objects.filter(stream=stream).values_list("type", flat=True))
    assert stream.status == StreamStatus.ENDED
    assert {"stream", "comment", "viewers", "order", "ad_metrics"} <= types
    assert set(IngestEvent.objects.values_list("status", flat=True)) == {"processed"}
    texts = list(
        StreamEvent.objects.filter(stream=stream, type="comment").values_list(
            "data__text", flat=True
        )
    )
    assert any("号" in text for text in texts)
    assert any(text.isascii() and "?" in text for text in texts)
