"""The queue: groups by priority (askers, age, pinned product, VIP, deadline), filtered and
scoped to what the user may see; the askers of a group; the host's panel on the wall."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import CrewRole, Role
from rooms.selectors import WALL_PANELS, live_snapshot
from support import selectors
from support.models import Category, GroupStatus
from tests.factories import (
    CrewAssignmentFactory,
    QuestionFactory,
    QuestionGroupFactory,
    ShowFactory,
    StreamFactory,
    SupportPolicyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def asked(stream, seconds_ago=0, **fields):
    """A group first asked `seconds_ago`, due three minutes after that."""
    first = NOW - timedelta(seconds=seconds_ago)
    return QuestionGroupFactory(
        stream=stream,
        first_asked_at=first,
        last_asked_at=first,
        deadline=first + timedelta(minutes=3),
        **fields,
    )


def queue(stream, user=None, **filters):
    user = user or UserFactory(is_superuser=True)
    return list(selectors.queue_for_stream(stream, user=user, now=NOW, **filters))


# --- Priority ---------------------------------------------------------------------------------


def test_a_fresh_lone_question_scores_nothing_and_each_part_adds_its_points():
    stream = StreamFactory()
    ShowFactory(stream=stream, pinned=[3])
    fresh = asked(stream)
    crowded = asked(stream, seconds_ago=90, count=20, vip=True, link_number=3)

    by_pk = {group.pk: group.priority for group in queue(stream)}

    assert by_pk[fresh.pk] == pytest.approx(0.0)
    assert by_pk[crowded.pk] == pytest.approx(
        10 * math.log(20) + 25 + 20 + 40 * (90 / 180) + 90 / 60
    )


def test_more_askers_vip_askers_and_the_pinned_product_come_first():
    stream = StreamFactory()
    ShowFactory(stream=stream, pinned=[2])
    lone = asked(stream)
    crowd = asked(stream, count=6)
    vip = asked(stream, vip=True)
    pinned = asked(stream, link_number=2)

    assert queue(stream) == [vip, pinned, crowd, lone]


def test_a_question_near_its_deadline_outranks_a_fresh_crowd():
    stream = StreamFactory()
    crowd = asked(stream, count=10)
    due_soon = asked(stream, seconds_ago=170)

    assert queue(stream) == [due_soon, crowd]


def test_past_the_deadline_the_longest_waiting_goes_first():
    stream = StreamFactory()
    late = asked(stream, seconds_ago=200)
    later = asked(stream, seconds_ago=400)

    assert queue(stream) == [later, late]


def test_urgency_is_measured_against_the_channels_own_reply_window():
    stream = StreamFactory()
    SupportPolicyFactory(channel=stream.channel, sla=timedelta(minutes=1))
    first = NOW - timedelta(seconds=30)
    group = QuestionGroupFactory(
        stream=stream, first_asked_at=first, deadline=first + timedelta(minutes=1)
    )

    [queued] = queue(stream)

    assert queued.pk == group.pk
    assert queued.priority == pytest.approx(40 * 0.5 + 0.5)


def test_ties_go_to_the_earlier_deadline():
    stream = StreamFactory()
    later = QuestionGroupFactory(stream=stream, deadline=NOW + timedelta(minutes=5))
    sooner = QuestionGroupFactory(stream=stream, deadline=NOW + timedelta(minutes=4))

    assert queue(stream) == [sooner, later]


# --- Filters and scope -----------------------------------------------------------------------


def test_the_queue_is_narrowed_by_category_language_and_product():
    stream = StreamFactory()
    size_zh = asked(stream, category=Category.SIZE, language="zh", link_number=1)
    size_en = asked(stream, category=Category.SIZE, language="en", link_number=2)
    price_zh = asked(stream, category=Category.PRICE, language="zh", link_number=1)

    assert set(queue(stream, category=Category.SIZE)) == {size_zh, size_en}
    assert set(queue(stream, language="zh")) == {size_zh, price_zh}
    assert set(queue(stream, link_number=1)) == {size_zh, price_zh}
    assert queue(stream, category=Category.SIZE, language="en") == [size_en]


def test_only_open_groups_not_merged_away_are_queued_unless_asked_for():
    stream = StreamFactory()
    open_group = asked(stream)
    asked(stream, status=GroupStatus.ANSWERED)
    escalated = asked(stream, status=GroupStatus.ESCALATED)
    asked(stream, status=GroupStatus.DISMISSED, merged_into=open_group)

    assert queue(stream) == [open_group]
    assert queue(stream, statuses=[GroupStatus.ESCALATED]) == [escalated]


def test_the_queue_holds_at_most_the_limit():
    stream = StreamFactory()
    QuestionGroupFactory.create_batch(5, stream=stream)

    assert len(queue(stream, limit=3)) == 3


def test_each_user_sees_only_the_queues_of_streams_they_may_see():
    stream = StreamFactory()
    group = asked(stream)
    agent = UserFactory(roles=[Role.CS_AGENT])
    CrewAssignmentFactory(stream=stream, person=agent, role=CrewRole.CS_AGENT)
    producer = UserFactory(roles=[Role.PRODUCER])
    stream.studio.members.add(producer)
    other_agent = UserFactory(roles=[Role.CS_AGENT])
    CrewAssignmentFactory(person=other_agent, role=CrewRole.CS_AGENT)

    assert queue(stream, user=agent) == [group]
    assert queue(stream, user=producer) == [group]
    assert queue(stream, user=other_agent) == []


# --- Askers and the host's panel --------------------------------------------------------------


def test_a_groups_askers_are_listed_first_asked_first():
    group = asked(StreamFactory())
    second = QuestionFactory(group=group, user_id="u2", user_name="Mei", asked_at=NOW)
    first = QuestionFactory(
        group=group, user_id="u1", user_name="阿花", asked_at=NOW - timedelta(seconds=5)
    )

    askers = selectors.group_askers(group)

    assert [(a["id"], a["user_id"], a["user_name"]) for a in askers] == [
        (first.pk, "u1", "阿花"),
        (second.pk, "u2", "Mei"),
    ]
    assert len(selectors.group_askers(group, limit=1)) == 1


def test_the_hosts_panel_lists_escalated_questions_first_then_the_most_asked():
    stream = StreamFactory()
    asked(stream, text="几号发货", count=3)
    asked(stream, text="多少钱", count=9, link_number=2)
    asked(stream, text="能退吗", count=1, status=GroupStatus.ESCALATED)
    asked(stream, text="包邮吗", count=50, status=GroupStatus.ANSWERED)

    panel = selectors.host_questions_panel(stream)

    assert panel["key"] == "support.host_questions"
    assert [(item["label"], item["detail"], item["escalated"]) for item in panel["items"]] == [
        ("能退吗", "×1", True),
        ("#2 多少钱", "×9", False),
        ("几号发货", "×3", False),
    ]


def test_the_hosts_panel_is_left_out_when_nobody_asks_anything():
    assert selectors.host_questions_panel(StreamFactory()) is None


def test_the_wall_snapshot_carries_the_hosts_panel():
    stream = StreamFactory()
    asked(stream, text="什么时候开福袋", status=GroupStatus.ESCALATED)

    panels = live_snapshot(stream)["panels"]

    assert selectors.host_questions_panel in WALL_PANELS
    assert [item["label"] for item in panels[0]["items"]] == ["什么时候开福袋"]
