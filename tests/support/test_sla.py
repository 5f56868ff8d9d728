"""SLA: a sweep over the indexed deadlines of open groups warns before the deadline and
alerts at the breach, once each, for any number of open questions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import StreamEvent
from support import services
from support.models import GroupStatus, QuestionGroup
from support.tasks import sla_sweep_task
from tests.factories import (
    ChannelFactory,
    QuestionGroupFactory,
    StreamFactory,
    SupportPolicyFactory,
)
from tests.support.test_claims import cs_agent, question_events

pytestmark = pytest.mark.django_db


def sla_events(stream) -> list[dict]:
    events = StreamEvent.objects.filter(stream=stream, type="sla").order_by("seq")
    return [{"op": event.op, **event.data} for event in events]


def test_a_group_near_its_deadline_is_warned_once():
    now = timezone.now()
    group = QuestionGroupFactory(deadline=now + timedelta(seconds=50))
    QuestionGroupFactory(stream=group.stream, deadline=now + timedelta(seconds=70))

    first = services.sla_sweep(now=now)
    second = services.sla_sweep(now=now + timedelta(seconds=5))

    assert (first, second) == ((1, 0), (0, 0))
    assert sla_events(group.stream) == [{"op": "flagged", "warned": [group.pk], "breached": []}]
    assert question_events(group.stream) == []


def test_a_group_past_its_deadline_is_breached_once():
    now = timezone.now()
    group = QuestionGroupFactory(deadline=now - timedelta(seconds=1), warned=True)

    first = services.sla_sweep(now=now)
    second = services.sla_sweep(now=now + timedelta(minutes=5))

    assert (first, second) == ((0, 1), (0, 0))
    assert sla_events(group.stream) == [{"op": "flagged", "warned": [], "breached": [group.pk]}]
    assert QuestionGroup.objects.get(pk=group.pk).breached is True


def test_a_group_the_sweep_first_sees_past_its_deadline_is_breached_not_warned():
    now = timezone.now()
    group = QuestionGroupFactory(deadline=now - timedelta(seconds=1))

    warned, breached = services.sla_sweep(now=now)

    assert (warned, breached) == (0, 1)
    assert sla_events(group.stream) == [{"op": "flagged", "warned": [], "breached": [group.pk]}]
    assert QuestionGroup.objects.get(pk=group.pk).warned is False


def test_the_channels_own_warning_time_applies():
    now = timezone.now()
    channel = ChannelFactory()
    SupportPolicyFactory(channel=channel, warn_before=timedelta(minutes=2))
    early = QuestionGroupFactory(
        stream=StreamFactory(channel=channel), deadline=now + timedelta(seconds=100)
    )
    elsewhere = QuestionGroupFactory(deadline=now + timedelta(seconds=100))

    services.sla_sweep(now=now)

    assert QuestionGroup.objects.get(pk=early.pk).warned is True
    assert QuestionGroup.objects.get(pk=elsewhere.pk).warned is False


def test_groups_answered_or_with_the_host_are_not_flagged():
    now = timezone.now()
    stream = StreamFactory()
    for status in (GroupStatus.ANSWERED, GroupStatus.ESCALATED, GroupStatus.DISMISSED):
        QuestionGroupFactory(stream=stream, status=status, deadline=now - timedelta(seconds=5))

    assert services.sla_sweep(now=now) == (0, 0)
    assert sla_events(stream) == []


def test_a_warning_does_not_turn_the_agents_reply_into_a_conflict():
    now = timezone.now()
    group = QuestionGroupFactory(deadline=now + timedelta(seconds=30))
    agent = cs_agent(group.stream)
    claimed = services.group_claim(actor=agent, group=group, now=now)

    services.sla_sweep(now=now)
    answered = services.group_answer(
        actor=agent, group=group, seen_version=claimed.version, text="有的", now=now
    )

    assert (answered.status, answered.warned) == ("answered", True)


def test_ten_thousand_open_questions_are_swept_in_one_pass():
    now = timezone.now()
    stream = StreamFactory()
    QuestionGroup.objects.bulk_create(
        [
            *QuestionGroupFactory.build_batch(
                9_000, stream=stream, deadline=now + timedelta(minutes=2)
            ),
            *QuestionGroupFactory.build_batch(
                600, stream=stream, deadline=now + timedelta(seconds=30)
            ),
            *QuestionGroupFactory.build_batch(
                400, stream=stream, deadline=now - timedelta(seconds=10)
            ),
        ]
    )

    warned, breached = services.sla_sweep(now=now)

    assert (warned, breached) == (600, 400)
    assert QuestionGroup.objects.filter(warned=True, breached=False).count() == 600
    assert QuestionGroup.objects.filter(breached=True).count() == 400
    [event] = sla_events(stream)
    assert (len(event["warned"]), len(event["breached"])) == (600, 400)
    assert set(event["warned"] + event["breached"]) == set(
        QuestionGroup.objects.filter(stream=stream)
        .exclude(deadline__gt=now + timedelta(minutes=1))
        .values_list("pk", flat=True)
    )
    assert services.sla_sweep(now=now) == (0, 0)
    assert len(sla_events(stream)) == 1


def test_the_sla_sweep_task_flags_what_is_due():
    group = QuestionGroupFactory(deadline=timezone.now() - timedelta(seconds=1))

    sla_sweep_task.apply()

    assert QuestionGroup.objects.get(pk=group.pk).breached is True


def test_each_stream_gets_one_event_naming_only_its_own_groups():
    now = timezone.now()
    one, other = StreamFactory(), StreamFactory()
    late = QuestionGroupFactory(stream=one, deadline=now - timedelta(seconds=3))
    near = QuestionGroupFactory(stream=one, deadline=now + timedelta(seconds=20))
    elsewhere = QuestionGroupFactory(stream=other, deadline=now + timedelta(seconds=40))

    assert services.sla_sweep(now=now) == (2, 1)

    assert sla_events(one) == [{"op": "flagged", "warned": [near.pk], "breached": [late.pk]}]
    assert sla_events(other) == [{"op": "flagged", "warned": [elsewhere.pk], "breached": []}]
