"""Answers: canned replies filled from live data and stacked, refused rather than sent with
a hole in them; escalation to the host and the operator's confirmation; canned replies kept
by supervisors."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rooms import services as room_services
from rooms.models import Role
from support import replies, services
from support.models import CannedReply, GroupStatus, QuestionGroup, ReplyOutbox
from tests.factories import (
    AgentFactory,
    CannedReplyFactory,
    QuestionGroupFactory,
    SupportPolicyFactory,
    UserFactory,
)
from tests.rooms.test_show import live_stream, room_operator
from tests.support.test_claims import BOTH_PATHS, cs_agent, question_events

pytestmark = pytest.mark.django_db


def claimed_on_live_stream(link_number: int | None = 1):
    """A group about link 1 (¥59 live, ¥99 regular, 100 left) of a live stream, claimed."""
    stream = live_stream(products=2)
    group = QuestionGroupFactory(stream=stream, link_number=link_number)
    agent = cs_agent(stream)
    claimed = services.group_claim(actor=agent, group=group)
    return agent, claimed


def answer(agent, group, *canned, text: str = ""):
    return services.group_answer(
        actor=agent,
        group=group,
        seen_version=group.version,
        text=text,
        canned_reply_ids=[reply.pk for reply in canned],
    )


# --- Filling and stacking ----------------------------------------------------------------------


@BOTH_PATHS
def test_product_variables_come_from_the_lineup_as_it_is_now(path):
    agent, group = claimed_on_live_stream()
    item = group.stream.lineup.get(link_number=1)
    item.live_price, item.stock = Decimal("49.90"), 7
    item.save()
    reply = CannedReplyFactory(
        channel=group.stream.channel,
        text="{link}号链接{product}：直播价{price}（日常{regular_price}），还剩{stock}件",
    )

    answered = answer(agent, group, reply)

    assert answered.reply == f"1号链接{item.name}：直播价¥49.90（日常¥99），还剩7件"
    assert ReplyOutbox.objects.get().text == answered.reply


@BOTH_PATHS
def test_the_coupon_is_the_newest_one_fired_on_the_stream(path):
    agent, group = claimed_on_live_stream()
    operator = room_operator(group.stream)
    room_services.cue_call(
        actor=operator,
        stream=group.stream,
        kind="coupon",
        link_number=1,
        params={"value": "5"},
        go=True,
    )
    room_services.cue_call(
        actor=operator,
        stream=group.stream,
        kind="coupon",
        link_number=2,
        params={"value": "10"},
        go=True,
    )
    room_services.cue_call(
        actor=operator,
        stream=group.stream,
        kind="coupon",
        link_number=2,
        params={"value": "20"},
    )  # on standby: not out yet
    reply = CannedReplyFactory(channel=group.stream.channel, text="领{coupon}券再下单")

    assert answer(agent, group, reply).reply == "领¥10券再下单"


@BOTH_PATHS
def test_canned_replies_stack_in_the_order_chosen_before_the_agents_words(path):
    agent, group = claimed_on_live_stream()
    SupportPolicyFactory(channel=group.stream.channel, shipping_time="48小时内发货")
    price = CannedReplyFactory(channel=group.stream.channel, text="直播价{price}")
    shipping = CannedReplyFactory(channel=group.stream.channel, text="{shipping}")

    answered = answer(agent, group, shipping, price, text="亲")

    assert answered.reply == "48小时内发货 直播价¥59 亲"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("领{coupon}券", "no coupon has been issued"),
        ("{shipping}", "no shipping time"),
        ("售价{colour}", "not a variable"),
    ],
)
@BOTH_PATHS
def test_a_variable_with_no_value_refuses_the_reply(text, why, path):
    agent, group = claimed_on_live_stream()
    reply = CannedReplyFactory(channel=group.stream.channel, text=text)

    with pytest.raises(ValidationError) as refused:
        answer(agent, group, reply)

    assert refused.value.code == "missing_value"
    assert why in refused.value.messages[0]
    assert ReplyOutbox.objects.count() == 0
    assert QuestionGroup.objects.get().status == "open"


@BOTH_PATHS
def test_product_variables_need_a_product(path):
    agent, group = claimed_on_live_stream(link_number=None)
    reply = CannedReplyFactory(channel=group.stream.channel, text="直播价{price}")

    with pytest.raises(ValidationError) as refused:
        answer(agent, group, reply)

    assert "{price}" in refused.value.messages[0]
    assert "names no product" in refused.value.messages[0]


@BOTH_PATHS
def test_another_channels_canned_reply_is_refused(path):
    agent, group = claimed_on_live_stream()
    foreign = CannedReplyFactory(text="你好")

    with pytest.raises(ValidationError):
        answer(agent, group, foreign)

    assert ReplyOutbox.objects.count() == 0


@BOTH_PATHS
def test_a_reply_longer_than_platforms_take_is_refused(path):
    agent, group = claimed_on_live_stream()

    with pytest.raises(ValidationError):
        answer(agent, group, text="好" * 501)


def test_the_screen_previews_each_canned_reply_filled_or_why_not():
    _agent, group = claimed_on_live_stream()
    price = CannedReplyFactory(channel=group.stream.channel, shortcut=1, text="直播价{price}")
    coupon = CannedReplyFactory(channel=group.stream.channel, shortcut=2, text="{coupon}")

    previews = {preview["id"]: preview for preview in replies.filled_for_group(group)}

    assert (previews[price.pk]["filled"], previews[price.pk]["missing"]) == ("直播价¥59", "")
    assert previews[coupon.pk]["filled"] is None
    assert "no coupon" in previews[coupon.pk]["missing"]


# --- Who may answer ------------------------------------------------------------------------------


@BOTH_PATHS
def test_an_agent_without_the_claim_cannot_answer(path):
    _agent, group = claimed_on_live_stream()
    other = cs_agent(group.stream)

    with pytest.raises(services.GroupConflict):
        answer(other, group, text="有的")

    assert QuestionGroup.objects.get().status == "open"


@BOTH_PATHS
def test_an_answer_logs_the_reply_and_who_answered(path):
    agent, group = claimed_on_live_stream()

    answer(agent, group, text="有的")

    event = question_events(group.stream)[-1]
    assert (event["op"], event["status"], event["reply"], event["answered_by"]) == (
        "answered",
        "answered",
        "有的",
        str(agent),
    )
    assert (event["claimed_by"], event["version"]) == (None, group.version + 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["crewed CS agent", "producer of the studio"])
def test_an_answer_stands_when_ringing_for_its_delivery_fails(monkeypatch, who):
    """The reply is committed in the outbox, whose sweep sends it; the agent is not told
    their answer failed because the broker was away. A crewed agent's answer is one
    message to the database, a producer's a transaction with a hook after its commit."""
    if who == "crewed CS agent":
        agent, group = claimed_on_live_stream()
    else:
        stream = live_stream(products=2)
        agent = AgentFactory(user=UserFactory(roles=[Role.PRODUCER])).user
        stream.studio.members.add(agent)
        group = services.group_claim(actor=agent, group=QuestionGroupFactory(stream=stream))

    def broker_away(stream_id):
        raise ConnectionError("the broker is away")

    monkeypatch.setattr(services, "replies_ring", broker_away)
    answered = answer(agent, group, text="有的")

    assert answered.status == GroupStatus.ANSWERED
    assert QuestionGroup.objects.get().status == GroupStatus.ANSWERED
    assert ReplyOutbox.objects.get().status == "pending"


# --- Escalation ----------------------------------------------------------------------------------


def test_an_escalated_group_goes_to_the_host_until_the_operator_confirms():
    agent, group = claimed_on_live_stream()
    operator = room_operator(group.stream)

    escalated = services.group_escalate(actor=agent, group=group, seen_version=group.version)
    answered = services.group_answered_on_air(actor=operator, group=group)

    assert (escalated.status, escalated.claimed_by) == ("escalated", None)
    assert (answered.status, answered.answered_by_id) == ("answered", operator.pk)
    assert [event["op"] for event in question_events(group.stream)] == [
        "claimed",
        "escalated",
        "answered",
    ]
    assert ReplyOutbox.objects.count() == 0


def test_a_group_another_agent_holds_cannot_be_escalated():
    _agent, group = claimed_on_live_stream()
    other = cs_agent(group.stream)

    with pytest.raises(services.GroupConflict):
        services.group_escalate(actor=other, group=group)

    assert QuestionGroup.objects.get().status == "open"


def test_only_the_room_operator_confirms_an_answer_on_air():
    agent, group = claimed_on_live_stream()
    services.group_escalate(actor=agent, group=group)

    with pytest.raises(PermissionDenied):
        services.group_answered_on_air(actor=agent, group=group)

    assert QuestionGroup.objects.get().status == GroupStatus.ESCALATED


def test_an_open_group_cannot_be_confirmed_as_answered_on_air():
    _, group = claimed_on_live_stream()

    with pytest.raises(services.GroupConflict) as refused:
        services.group_answered_on_air(actor=room_operator(group.stream), group=group)

    assert refused.value.current["status"] == "open"


# --- Canned replies ------------------------------------------------------------------------------


def test_a_supervisor_writes_a_canned_reply_with_known_variables_only():
    producer = UserFactory(roles=[Role.PRODUCER])
    channel = CannedReplyFactory(shortcut=1).channel

    with pytest.raises(ValidationError) as unknown:
        services.canned_reply_create(actor=producer, channel=channel, title="颜色", text="{colour}")
    with pytest.raises(ValidationError) as taken:
        services.canned_reply_create(
            actor=producer, channel=channel, title="价格", text="{price}", shortcut=1
        )
    made = services.canned_reply_create(
        actor=producer, channel=channel, title="价格", text="直播价{price}", shortcut=2
    )

    assert "{colour}" in unknown.value.message_dict["text"][0]
    assert "shortcut" in taken.value.message_dict
    assert (made.channel, made.shortcut) == (channel, 2)


def test_an_agent_cannot_write_canned_replies():
    agent = UserFactory(roles=[Role.CS_AGENT])
    reply = CannedReplyFactory()

    with pytest.raises(PermissionDenied):
        services.canned_reply_update(actor=agent, reply=reply, text="随便")

    assert CannedReply.objects.get().text == reply.text
