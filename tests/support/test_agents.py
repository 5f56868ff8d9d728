"""Agents' presence: online, on a break or offline; nobody leaves holding questions
without handing them back; a silent screen goes offline and its questions return."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rooms.models import Role
from support import services
from support.models import Agent, AgentStatus, QuestionGroup
from support.tasks import agents_sweep_task
from tests.factories import AgentFactory, QuestionGroupFactory, StreamFactory, UserFactory
from tests.support.test_claims import cs_agent, question_events

pytestmark = pytest.mark.django_db


def agent_holding(count: int, **agent_fields):
    stream = StreamFactory()
    groups = QuestionGroupFactory.create_batch(count, stream=stream)
    user = cs_agent(stream, **agent_fields)
    for group in groups:
        services.group_claim(actor=user, group=group)
    return user, stream


def test_going_online_records_the_agent_as_seen():
    user = UserFactory(roles=[Role.CS_AGENT])
    now = timezone.now()

    agent = services.agent_set_status(actor=user, status=AgentStatus.ONLINE, now=now)

    assert (agent.status, agent.last_seen_at) == ("online", now)
    assert Agent.objects.get(user=user).status == "online"


@pytest.mark.parametrize("status", [AgentStatus.OFFLINE, AgentStatus.BREAK])
def test_leaving_with_questions_in_hand_is_refused(status):
    user, _ = agent_holding(2)

    with pytest.raises(ValidationError) as refused:
        services.agent_set_status(actor=user, status=status)

    assert refused.value.code == "holding_claims"
    assert "2 questions" in refused.value.messages[0]
    assert Agent.objects.get(user=user).status == "online"
    assert QuestionGroup.objects.filter(claimed_by=user).count() == 2


def test_handing_questions_back_returns_them_to_the_queue():
    user, stream = agent_holding(2)

    agent = services.agent_set_status(actor=user, status=AgentStatus.BREAK, hand_back=True)

    assert agent.status == "break"
    assert not QuestionGroup.objects.filter(claimed_by__isnull=False).exists()
    released = question_events(stream, "released")
    assert sorted(event["id"] for event in released) == sorted(
        QuestionGroup.objects.values_list("pk", flat=True)
    )


def test_an_agent_on_a_break_gets_no_questions():
    user, stream = agent_holding(0)
    QuestionGroupFactory(stream=stream)
    services.agent_set_status(actor=user, status=AgentStatus.BREAK)

    with pytest.raises(ValidationError) as refused:
        services.group_claim_next(actor=user, stream=stream)

    assert refused.value.code == "not_online"


def test_a_silent_agent_goes_offline_and_their_questions_return():
    start = timezone.now()
    silent, stream = agent_holding(1, last_seen_at=start)
    present = AgentFactory(last_seen_at=start + timedelta(seconds=40))

    gone = services.agents_sweep(now=start + services.AGENT_SILENCE + timedelta(seconds=1))

    assert gone == 1
    assert Agent.objects.get(user=silent).status == "offline"
    assert Agent.objects.get(pk=present.pk).status == "online"
    assert not QuestionGroup.objects.filter(claimed_by__isnull=False).exists()
    assert [event["op"] for event in question_events(stream)] == ["claimed", "released"]


def test_the_heartbeat_keeps_an_agent_present():
    start = timezone.now()
    user, _ = agent_holding(0, last_seen_at=start)
    services.agent_heartbeat(actor=user, now=start + timedelta(seconds=50))

    gone = services.agents_sweep(now=start + services.AGENT_SILENCE + timedelta(seconds=1))

    assert gone == 0
    assert Agent.objects.get(user=user).status == "online"


def test_a_supervisor_sets_an_agents_capacity_and_skills():
    agent = AgentFactory()
    producer = UserFactory(roles=[Role.PRODUCER])

    services.agent_update(
        actor=producer, agent=agent, capacity=5, languages=["EN", "zh"], categories=["size"]
    )

    agent.refresh_from_db()
    assert (agent.capacity, agent.languages, agent.categories) == (5, ["en", "zh"], ["size"])


def test_an_agent_cannot_change_their_own_capacity():
    agent = AgentFactory()

    with pytest.raises(PermissionDenied):
        services.agent_update(actor=agent.user, agent=agent, capacity=50)

    assert Agent.objects.get(pk=agent.pk).capacity == 3


def test_capacity_is_bounded():
    agent = AgentFactory()

    with pytest.raises(ValidationError):
        services.agent_update(actor=None, agent=agent, capacity=0)


def test_the_presence_sweep_task_takes_silent_agents_offline():
    silent = AgentFactory(last_seen_at=timezone.now() - timedelta(minutes=5))

    agents_sweep_task.apply()

    assert Agent.objects.get(pk=silent.pk).status == "offline"
