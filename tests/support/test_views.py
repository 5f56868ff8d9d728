"""The support screens: who may open them, the agent screen's snapshot, the support page's
numbers, and the supervisor's policy and canned-reply forms."""

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from rooms import eventlog
from rooms.models import CrewRole, Role
from support import services
from support.models import CannedReply, SupportPolicy
from tests.factories import (
    AgentFactory,
    CannedReplyFactory,
    CrewAssignmentFactory,
    QuestionFactory,
    QuestionGroupFactory,
    ShowFactory,
    StreamFactory,
    SupportPolicyFactory,
    UserFactory,
)
from tests.support.test_claims import cs_agent

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page_data(response) -> dict:
    found = re.search(
        r'<script id="agent-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert found, "the page carries no snapshot"
    return json.loads(found.group(1))


def _producer(stream=None):
    person = UserFactory(roles=[Role.PRODUCER])
    if stream is not None:
        stream.studio.members.add(person)
    return person


# --- Who may open what ------------------------------------------------------------------------


def test_signed_out_people_are_sent_to_sign_in():
    stream = StreamFactory()

    for path in ("/support/", f"/support/streams/{stream.pk}/", "/support/channels/1/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_a_cs_agent_crewed_on_the_stream_gets_the_keyboard_screen():
    stream = StreamFactory(title="Autumn Skincare")
    agent = cs_agent(stream)

    response = _client(agent).get(f"/support/streams/{stream.pk}/")

    assert response.status_code == 200
    assert _page_data(response)["canWork"] is True
    assert b'id="reply"' in response.content
    assert b'data-testid="read-only"' not in response.content


def test_the_floor_controller_watches_the_queue_read_only():
    stream = StreamFactory()
    floor = UserFactory(roles=[Role.FLOOR_CONTROLLER])
    CrewAssignmentFactory(stream=stream, person=floor, role=CrewRole.FLOOR_CONTROLLER)

    response = _client(floor).get(f"/support/streams/{stream.pk}/")

    assert response.status_code == 200
    assert _page_data(response)["canWork"] is False
    assert b'data-testid="read-only"' in response.content
    assert b'id="reply"' not in response.content


def test_a_host_on_the_crew_may_see_the_stream_but_not_its_questions():
    stream = StreamFactory()
    host = UserFactory(roles=[Role.HOST])
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)

    response = _client(host).get(f"/support/streams/{stream.pk}/")

    assert response.status_code == 403


def test_another_studios_stream_does_not_exist_for_an_agent():
    agent = cs_agent(StreamFactory())
    elsewhere = StreamFactory()

    response = _client(agent).get(f"/support/streams/{elsewhere.pk}/")

    assert response.status_code == 404


def test_the_navigation_offers_support_to_agents_producers_and_operators_only():
    stream = StreamFactory()
    agent = cs_agent(stream)
    operator = UserFactory(roles=[Role.ROOM_OPERATOR])
    host = UserFactory(roles=[Role.HOST])

    for person, shown in ((agent, True), (_producer(), True), (operator, True), (host, False)):
        page = _client(person).get("/").content.decode()
        assert ('href="/support/"' in page) is shown, person.groups.first()


# --- The agent screen's snapshot --------------------------------------------------------------


def test_the_snapshot_holds_the_queue_in_priority_order_after_the_logs_head():
    stream = StreamFactory()
    ShowFactory(stream=stream, pinned=[3])
    SupportPolicyFactory(channel=stream.channel, sla=timedelta(minutes=2))
    now = timezone.now()
    calm = QuestionGroupFactory(stream=stream, text="什么时候发货", category="shipping")
    pinned_product = QuestionGroupFactory(stream=stream, text="3号多少钱", link_number=3)
    QuestionFactory(group=pinned_product, user_name="阿花")
    due = QuestionGroupFactory(
        stream=stream,
        text="还有货吗",
        category="stock",
        first_asked_at=now - timedelta(minutes=2),
        deadline=now - timedelta(seconds=5),
        breached=True,
    )
    escalated = QuestionGroupFactory(stream=stream, text="主播能试穿吗", status="escalated")
    QuestionGroupFactory(stream=stream, status="answered")
    CannedReplyFactory(channel=stream.channel, shortcut=1, title="Price")
    agent = cs_agent(stream)
    head = eventlog.head(stream.pk)

    data = _page_data(_client(agent).get(f"/support/streams/{stream.pk}/"))

    assert data["head"] == head
    assert [group["id"] for group in data["groups"]] == [due.pk, pinned_product.pk, calm.pk]
    assert data["groups"][1]["askers"] == ["阿花"]
    assert [group["id"] for group in data["withHost"]] == [escalated.pk]
    assert data["priority"]["pinned"] == [3]
    assert data["priority"]["windowSeconds"] == 120
    assert [reply["title"] for reply in data["cannedReplies"]] == ["Price"]
    assert data["me"]["id"] == agent.pk
    assert data["agent"]["status"] == "online"
    assert data["agent"]["heartbeat_seconds"] == 10
    assert data["urls"]["answer"] == "/api/v1/support/groups/0/answer"


def test_someone_who_never_went_online_starts_offline_with_the_default_capacity():
    stream = StreamFactory()
    producer = _producer(stream)

    data = _page_data(_client(producer).get(f"/support/streams/{stream.pk}/"))

    assert data["canWork"] is True
    assert data["agent"]["status"] == "offline"
    assert data["agent"]["capacity"] == 3
    assert data["agent"]["holding"] == []


# --- The support page -------------------------------------------------------------------------


def test_an_agent_sees_the_streams_they_answer_live_first_with_their_queues():
    live = StreamFactory(title="Live now", status="live")
    later = StreamFactory(
        title="Tomorrow",
        planned_start=timezone.now() + timedelta(days=1),
        planned_end=timezone.now() + timedelta(days=1, hours=2),
    )
    StreamFactory(title="Not mine", status="live")
    agent = cs_agent(live)
    CrewAssignmentFactory(stream=later, person=agent, role=CrewRole.CS_AGENT)
    QuestionGroupFactory(stream=live)
    QuestionGroupFactory(stream=live, breached=True, deadline=timezone.now())
    QuestionGroupFactory(stream=live, status="escalated")

    page = _client(agent).get("/support/").content.decode()

    assert page.index("Live now") < page.index("Tomorrow")
    assert "Not mine" not in page
    assert f'href="/support/streams/{live.pk}/"' in page
    row = re.search(rf'<tr data-stream="{live.pk}">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r">(\d+)</td>", row) == ["2", "0", "1", "1"]
    assert "Response times and SLA" not in page


def test_a_supervisor_sees_response_times_sla_and_agents_with_a_csv_link():
    stream = StreamFactory(status="live", title="Autumn Skincare")
    producer = _producer(stream)
    agent = cs_agent(stream, capacity=4)
    asked = timezone.now() - timedelta(minutes=5)
    for seconds in (90, 240):
        QuestionGroupFactory(
            stream=stream,
            status="answered",
            first_asked_at=asked,
            deadline=asked + timedelta(minutes=3),
            answered_at=asked + timedelta(seconds=seconds),
            answered_by=agent,
            reply="ok",
        )

    response = _client(producer).get("/support/?range=1h")
    page = unescape(response.content.decode())

    assert response.status_code == 200
    assert "Response times and SLA" in page
    stream_row = re.search(rf'<tr data-stats-stream="{stream.pk}">(.*?)</tr>', page, re.S)[1]
    assert "50%" in stream_row  # one answer in time, one late
    assert "2:45" in stream_row  # p50 of 1:30 and 4:00
    csv_link = re.search(r'href="([^"]*format=csv[^"]*)" download data-testid', page).group(1)
    assert csv_link.startswith("/api/v1/support/stats?")
    assert _client(producer).get(csv_link).status_code == 200
    agents = re.search(r'data-testid="agent-stats">(.*?)</table>', page, re.S).group(1)
    assert str(agent) in agents
    assert "0 / 4" in agents


# --- The channel's policy and canned replies --------------------------------------------------


def test_only_supervisors_open_a_channels_support_page():
    stream = StreamFactory()
    agent = cs_agent(stream)

    assert _client(agent).get(f"/support/channels/{stream.channel.pk}/").status_code == 403
    assert _client(_producer()).get(f"/support/channels/{stream.channel.pk}/").status_code == 200


def _policy_post(**changes) -> dict:
    fields = {
        "action": "policy",
        "policy-sla_seconds": "120",
        "policy-warn_before_seconds": "30",
        "policy-blocked_words": "加微信, 私聊",
        "policy-muted_users": "spam-1\nspam-2",
        "policy-vip_users": "vip-9",
        "policy-shipping_time": "48小时内发货",
        "policy-keywords_size": "码数，尺码",
    }
    return {**fields, **changes}


def test_a_supervisor_sets_the_channels_policy():
    stream = StreamFactory()
    client = _client(_producer())

    response = client.post(f"/support/channels/{stream.channel.pk}/", _policy_post())

    assert response.status_code == 302
    policy = SupportPolicy.objects.get(channel=stream.channel)
    assert policy.sla == timedelta(seconds=120)
    assert policy.warn_before == timedelta(seconds=30)
    assert policy.blocked_words == ["加微信", "私聊"]
    assert policy.muted_users == ["spam-1", "spam-2"]
    assert policy.vip_users == ["vip-9"]
    assert policy.keywords == {"size": ["码数", "尺码"]}
    assert policy.shipping_time == "48小时内发货"
    page = client.get(response["Location"]).content.decode()
    assert "加微信, 私聊" in page


def test_a_refused_policy_shows_the_field_error_and_keeps_what_was_typed():
    stream = StreamFactory()
    client = _client(_producer())

    response = client.post(
        f"/support/channels/{stream.channel.pk}/",
        _policy_post(**{"policy-warn_before_seconds": "120", "policy-blocked_words": "加V信"}),
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "less than the reply time" in page
    assert "加V信" in page
    assert not SupportPolicy.objects.filter(channel=stream.channel).exists()


def test_a_supervisor_adds_edits_and_deletes_canned_replies():
    stream = StreamFactory()
    client = _client(_producer())
    url = f"/support/channels/{stream.channel.pk}/"

    added = client.post(
        url,
        {
            "action": "reply-add",
            "new-shortcut": "2",
            "new-title": "Shipping",
            "new-text": "{shipping}哦",
            "new-category": "shipping",
        },
    )
    reply = CannedReply.objects.get(channel=stream.channel)
    edited = client.post(
        url,
        {
            "action": f"reply-{reply.pk}",
            f"reply-{reply.pk}-shortcut": "3",
            f"reply-{reply.pk}-title": "Shipping time",
            f"reply-{reply.pk}-text": "亲，{shipping}",
            f"reply-{reply.pk}-category": "shipping",
        },
    )
    reply.refresh_from_db()
    after_edit = (reply.shortcut, reply.title, reply.text)
    deleted = client.post(url, {"action": f"reply-delete-{reply.pk}"})

    assert [added.status_code, edited.status_code, deleted.status_code] == [302, 302, 302]
    assert after_edit == (3, "Shipping time", "亲，{shipping}")
    assert not CannedReply.objects.filter(channel=stream.channel).exists()


def test_a_refused_canned_reply_shows_the_services_reason_on_its_field_and_keeps_the_text():
    stream = StreamFactory()
    CannedReplyFactory(channel=stream.channel, shortcut=1, title="Price")
    client = _client(_producer())

    unknown_variable = client.post(
        f"/support/channels/{stream.channel.pk}/",
        {"action": "reply-add", "new-shortcut": "2", "new-title": "Oops", "new-text": "{colour}"},
    )
    taken_key = client.post(
        f"/support/channels/{stream.channel.pk}/",
        {"action": "reply-add", "new-shortcut": "1", "new-title": "Again", "new-text": "在的亲"},
    )

    assert unknown_variable.status_code == 400
    first = unescape(unknown_variable.content.decode())
    assert "Unknown variable {colour}" in first
    assert re.search(r'name="new-text"[^>]*>\s*\{colour\}</textarea>', first)
    assert taken_key.status_code == 400
    assert "Key 1 is taken by another reply." in unescape(taken_key.content.decode())
    assert "在的亲" in taken_key.content.decode()
    assert CannedReply.objects.filter(channel=stream.channel).count() == 1


def test_policy_update_refuses_a_reply_window_out_of_range():
    stream = StreamFactory()

    with pytest.raises(services.ValidationError) as refused:
        services.support_policy_update(
            actor=_producer(),
            channel=stream.channel,
            sla=timedelta(seconds=5),
            warn_before=timedelta(0),
            keywords={},
            blocked_words=[],
            muted_users=[],
            vip_users=[],
        )

    assert "sla" in refused.value.message_dict


def test_agents_may_not_change_a_policy():
    stream = StreamFactory()
    agent = AgentFactory().user

    response = _client(agent).post(f"/support/channels/{stream.channel.pk}/", _policy_post())

    assert response.status_code == 403
    assert not SupportPolicy.objects.filter(channel=stream.channel).exists()
