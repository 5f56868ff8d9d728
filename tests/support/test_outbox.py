"""The reply outbox: an answer is written with its outbox row and delivered through the
platform adapter by a real Celery worker; a delivery that times out is retried and the
reply is posted once, whichever side of the platform the timeout fell on."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.utils import timezone

from support import services
from support.models import DemoPlatformMessage, OutboxStatus, ReplyOutbox
from support.platforms import demo
from support.tasks import outbox_sweep_task, replies_deliver_task, reply_deliver_task
from tests.conftest import wait_until
from tests.factories import QuestionFactory, QuestionGroupFactory, StreamFactory
from tests.support.test_claims import cs_agent

pytestmark = pytest.mark.django_db


def answered_group(text: str = "M码合适"):
    """A group asked by two viewers, claimed and answered by an agent."""
    group = QuestionGroupFactory()
    QuestionFactory(group=group, user_id="viewer-a")
    QuestionFactory(group=group, user_id="viewer-b")
    agent = cs_agent(group.stream)
    claimed = services.group_claim(actor=agent, group=group)
    return services.group_answer(actor=agent, group=group, seen_version=claimed.version, text=text)


def _delivered() -> ReplyOutbox | None:
    return ReplyOutbox.objects.filter(status=OutboxStatus.DELIVERED).first()


# --- Through the worker ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_reply_is_delivered_by_the_worker_to_every_asker(celery_worker):
    group = answered_group()

    row = wait_until(_delivered)

    message = DemoPlatformMessage.objects.get()
    assert (message.client_key, message.text) == (f"reply-{group.pk}-v{group.version}", "M码合适")
    assert sorted(message.to_users) == ["viewer-a", "viewer-b"]
    assert (row.platform_message_id, row.attempts) == (f"demo-{message.pk}", 1)
    assert row.delivered_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_reply_that_landed_but_whose_answer_was_lost_is_retried_and_posted_once(
    celery_worker,
):
    demo.faults_set(lost_after=1)

    answered_group()
    row = wait_until(_delivered)

    message = DemoPlatformMessage.objects.get()  # exactly one: the retry found it
    assert row.attempts == 2
    assert row.platform_message_id == f"demo-{message.pk}"


@pytest.mark.django_db(transaction=True)
def test_a_reply_lost_before_it_landed_is_retried_and_posted_once(celery_worker):
    demo.faults_set(lost_before=1)

    answered_group()
    row = wait_until(_delivered)

    message = DemoPlatformMessage.objects.get()
    assert row.attempts == 2
    assert row.platform_message_id == f"demo-{message.pk}"


@pytest.mark.django_db(transaction=True)
def test_the_sweep_sends_a_reply_whose_enqueue_was_lost(celery_worker):
    group = QuestionGroupFactory()
    ReplyOutbox.objects.create(
        group=group,
        stream=group.stream,
        idempotency_key="reply-lost-enqueue",
        text="48小时内发货",
        to_users=["viewer-a"],
        next_attempt_at=timezone.now(),
        created_at=timezone.now(),
    )

    outbox_sweep_task.delay()

    wait_until(_delivered)
    assert DemoPlatformMessage.objects.get().client_key == "reply-lost-enqueue"


# --- One delivery task per stream at a time ------------------------------------------------------


@pytest.fixture
def published() -> Iterator[list[str]]:
    """The names of the tasks sent to the broker meanwhile."""
    names: list[str] = []

    def record(sender=None, **_kwargs):
        names.append(sender)

    before_task_publish.connect(record, weak=False)
    try:
        yield names
    finally:
        before_task_publish.disconnect(record)


def test_answers_made_while_a_delivery_waits_ring_once_and_are_all_sent(
    published, django_capture_on_commit_callbacks
):
    stream = StreamFactory()
    agent = cs_agent(stream)
    for number in range(3):
        group = QuestionGroupFactory(stream=stream)
        QuestionFactory(group=group, user_id=f"viewer-{number}")
        claimed = services.group_claim(actor=agent, group=group)
        with django_capture_on_commit_callbacks(execute=True):
            services.group_answer(
                actor=agent, group=group, seen_version=claimed.version, text=f"答复{number}"
            )

    assert published == ["support.tasks.replies_deliver_task"]

    assert replies_deliver_task.apply(args=(stream.pk,)).get() == 3
    assert sorted(DemoPlatformMessage.objects.values_list("text", flat=True)) == [
        "答复0",
        "答复1",
        "答复2",
    ]
    assert set(ReplyOutbox.objects.values_list("status", flat=True)) == {"delivered"}


def test_an_answer_after_the_delivery_started_rings_again(
    published, django_capture_on_commit_callbacks
):
    stream = StreamFactory()
    agent = cs_agent(stream)
    groups = [QuestionGroupFactory(stream=stream) for _ in range(2)]
    for group in groups:
        QuestionFactory(group=group)
    first = services.group_claim(actor=agent, group=groups[0])
    with django_capture_on_commit_callbacks(execute=True):
        services.group_answer(actor=agent, group=groups[0], seen_version=first.version, text="一")
    replies_deliver_task.apply(args=(stream.pk,))

    second = services.group_claim(actor=agent, group=groups[1])
    with django_capture_on_commit_callbacks(execute=True):
        services.group_answer(actor=agent, group=groups[1], seen_version=second.version, text="二")

    assert published == ["support.tasks.replies_deliver_task"] * 2


def test_a_streams_delivery_sends_only_its_own_replies():
    mine, other = answered_group("我的"), answered_group("别人的")

    replies_deliver_task.apply(args=(mine.stream_id,))

    assert list(DemoPlatformMessage.objects.values_list("text", flat=True)) == ["我的"]
    assert ReplyOutbox.objects.get(group=other).status == "pending"


# --- The service, step by step -------------------------------------------------------------------


def _row() -> ReplyOutbox:
    return ReplyOutbox.objects.get()


def test_the_answer_and_its_outbox_row_are_written_together():
    group = answered_group()

    row = _row()

    assert (row.group_id, row.stream_id, row.status, row.attempts) == (
        group.pk,
        group.stream_id,
        "pending",
        0,
    )
    assert row.idempotency_key == f"reply-{group.pk}-v{group.version}"
    assert (row.text, sorted(row.to_users)) == ("M码合适", ["viewer-a", "viewer-b"])


def test_delivering_a_delivered_reply_again_does_nothing():
    answered_group()
    services.reply_deliver(outbox_id=_row().pk)

    again = services.reply_deliver(outbox_id=_row().pk)
    reply_deliver_task.apply(args=(_row().pk,))

    assert again is None
    assert DemoPlatformMessage.objects.count() == 1
    assert _row().attempts == 1


def test_a_timed_out_reply_waits_for_its_backoff_then_is_sent_once():
    answered_group()
    demo.faults_set(lost_after=1)
    start = timezone.now()

    first = services.reply_deliver(outbox_id=_row().pk, now=start)
    too_early = services.reply_deliver(outbox_id=_row().pk, now=start)
    second = services.reply_deliver(outbox_id=_row().pk, now=start + timedelta(seconds=1))

    assert (first.status, first.next_attempt_at) == ("pending", start + timedelta(seconds=1))
    assert "landed" in first.last_error
    assert too_early is None
    assert (second.status, second.attempts) == ("delivered", 2)
    assert DemoPlatformMessage.objects.count() == 1


def test_a_reply_being_sent_is_not_sent_by_a_second_worker_meanwhile():
    answered_group()
    start = timezone.now()
    row = _row()
    ReplyOutbox.objects.filter(pk=row.pk).update(
        status=OutboxStatus.SENDING,
        attempts=1,
        next_attempt_at=start + services.REPLY_SEND_TIMEOUT,
    )

    meanwhile = services.reply_deliver(outbox_id=row.pk, now=start)
    worker_died = services.reply_deliver(outbox_id=row.pk, now=start + services.REPLY_SEND_TIMEOUT)

    assert meanwhile is None
    assert (worker_died.status, worker_died.attempts) == ("delivered", 2)
    assert DemoPlatformMessage.objects.count() == 1


def test_a_reply_that_keeps_timing_out_fails_after_the_last_attempt():
    answered_group()
    demo.faults_set(lost_before=services.REPLY_MAX_ATTEMPTS)
    moment = timezone.now()

    for _ in range(services.REPLY_MAX_ATTEMPTS):
        row = services.reply_deliver(outbox_id=_row().pk, now=moment)
        moment = row.next_attempt_at

    assert (row.status, row.attempts) == ("failed", services.REPLY_MAX_ATTEMPTS)
    assert services.reply_deliver(outbox_id=row.pk, now=moment + timedelta(hours=1)) is None
    assert DemoPlatformMessage.objects.count() == 0


def test_a_reply_the_platform_refuses_fails_at_once():
    answered_group()
    demo.faults_set(rejected=1)

    row = services.reply_deliver(outbox_id=_row().pk)

    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        1,
        "demo platform: the comment was deleted",
    )
    assert services.replies_due(now=timezone.now() + timedelta(hours=1)) == []


def test_only_due_replies_are_swept():
    answered_group()
    start = timezone.now()
    ReplyOutbox.objects.update(next_attempt_at=start + timedelta(seconds=30))

    assert services.replies_due(now=start) == []
    assert services.replies_due(now=start + timedelta(seconds=30)) == [_row().pk]
