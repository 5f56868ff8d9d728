"""The support queue over REST: the queue, claims, answers, escalation, presence, canned
replies and statistics, with the planning endpoints' error shape and 409 conflicts."""

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from rooms import eventlog
from rooms.models import CrewRole, Role
from support.models import Agent, CannedReply, QuestionGroup, ReplyOutbox
from tests.factories import (
    CannedReplyFactory,
    CrewAssignmentFactory,
    QuestionFactory,
    QuestionGroupFactory,
    StreamFactory,
    UserFactory,
)
from tests.rooms.test_show import live_stream, room_operator
from tests.support.test_claims import cs_agent

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, path: str, body: dict | None = None):
    return client.post(f"/api/v1/support/{path}", body or {}, content_type="application/json")


def _claimed(stream=None):
    stream = stream or StreamFactory()
    group = QuestionGroupFactory(stream=stream)
    agent = cs_agent(stream)
    client = _client(agent)
    claimed = _post(client, f"groups/{group.pk}/claim").json()
    return agent, client, group, claimed


# --- The queue -------------------------------------------------------------------------------


def test_the_queue_lists_open_groups_most_pressing_first_with_the_logs_head():
    stream = StreamFactory()
    now = timezone.now()
    later = QuestionGroupFactory(stream=stream, deadline=now + timedelta(minutes=3))
    sooner = QuestionGroupFactory(stream=stream, deadline=now + timedelta(minutes=1))
    QuestionFactory(group=sooner, user_name="阿花")
    QuestionGroupFactory(stream=stream, status="answered")
    agent = cs_agent(stream)

    response = _client(agent).get(f"/api/v1/support/streams/{stream.pk}/queue")

    body = response.json()
    assert response.status_code == 200
    assert body["head"] == eventlog.head(stream.pk)
    assert [group["id"] for group in body["groups"]] == [sooner.pk, later.pk]
    assert body["groups"][0]["askers"] == ["阿花"]


def test_the_queue_is_filtered_by_category():
    stream = StreamFactory()
    QuestionGroupFactory(stream=stream, category="price")
    size = QuestionGroupFactory(stream=stream, category="size")

    response = _client(cs_agent(stream)).get(
        f"/api/v1/support/streams/{stream.pk}/queue?category=size"
    )

    assert [group["id"] for group in response.json()["groups"]] == [size.pk]


def test_someone_who_cannot_see_the_stream_gets_no_queue():
    stream = StreamFactory()
    stranger = cs_agent(StreamFactory())

    response = _client(stranger).get(f"/api/v1/support/streams/{stream.pk}/queue")

    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_a_host_on_the_crew_sees_the_stream_but_not_its_queue():
    stream = StreamFactory()
    host = UserFactory(roles=[Role.HOST])
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)

    response = _client(host).get(f"/api/v1/support/streams/{stream.pk}/queue")

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


# --- Claims --------------------------------------------------------------------------------------


def test_a_claim_answers_with_the_group_and_a_second_claim_is_a_conflict():
    agent, _, group, claimed = _claimed()
    other = _client(cs_agent(group.stream))

    response = _post(other, f"groups/{group.pk}/claim", {"seen_version": 0})

    assert (claimed["claimed_by"], claimed["version"]) == (agent.pk, 1)
    body = response.json()
    assert (response.status_code, body["code"]) == (409, "conflict")
    assert (body["current"]["id"], body["current"]["claimed_by"]) == (group.pk, agent.pk)
    assert str(agent) in body["detail"]


def test_the_next_group_is_handed_out_or_none():
    stream = StreamFactory()
    group = QuestionGroupFactory(stream=stream)
    client = _client(cs_agent(stream))

    first = _post(client, f"streams/{stream.pk}/claims/next").json()
    second = _post(client, f"streams/{stream.pk}/claims/next").json()

    assert first["group"]["id"] == group.pk
    assert second == {"group": None}


def test_a_claim_at_capacity_is_refused_with_its_reason():
    stream = StreamFactory()
    first, second = QuestionGroupFactory.create_batch(2, stream=stream)
    client = _client(cs_agent(stream, capacity=1))
    _post(client, f"groups/{first.pk}/claim")

    response = _post(client, f"groups/{second.pk}/claim")

    assert (response.status_code, response.json()["code"]) == (400, "capacity")


def test_a_released_group_is_free_again():
    _, client, group, _ = _claimed()

    response = _post(client, f"groups/{group.pk}/release")

    assert (response.status_code, response.json()["claimed_by"]) == (200, None)


# --- Answers -------------------------------------------------------------------------------------


def test_an_answer_with_stacked_canned_replies_goes_to_the_outbox():
    stream = live_stream(products=1)
    group = QuestionGroupFactory(stream=stream, link_number=1)
    agent = cs_agent(stream)
    client = _client(agent)
    claimed = _post(client, f"groups/{group.pk}/claim").json()
    price = CannedReplyFactory(channel=stream.channel, text="直播价{price}")
    stock = CannedReplyFactory(channel=stream.channel, text="还有{stock}件")

    response = _post(
        client,
        f"groups/{group.pk}/answer",
        {"seen_version": claimed["version"], "canned_replies": [price.pk, stock.pk]},
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["reply"]) == ("answered", "直播价¥59 还有100件")
    assert ReplyOutbox.objects.get().text == "直播价¥59 还有100件"


def test_an_answer_from_a_stale_screen_is_a_conflict_showing_the_group_now():
    _, client, group, claimed = _claimed()
    QuestionGroup.objects.filter(pk=group.pk).update(version=claimed["version"] + 1)

    response = _post(
        client, f"groups/{group.pk}/answer", {"seen_version": claimed["version"], "text": "有"}
    )

    body = response.json()
    assert (response.status_code, body["code"]) == (409, "conflict")
    assert body["current"]["version"] == claimed["version"] + 1
    assert ReplyOutbox.objects.count() == 0


def test_a_canned_reply_with_a_missing_value_is_refused_with_its_reason():
    _, client, group, claimed = _claimed()
    coupon = CannedReplyFactory(channel=group.stream.channel, text="领{coupon}券")

    response = _post(
        client,
        f"groups/{group.pk}/answer",
        {"seen_version": claimed["version"], "canned_replies": [coupon.pk]},
    )

    body = response.json()
    assert (response.status_code, body["code"]) == (400, "missing_value")
    assert "{coupon}" in body["detail"]


def test_an_empty_answer_is_refused():
    _, client, group, claimed = _claimed()

    response = _post(client, f"groups/{group.pk}/answer", {"seen_version": claimed["version"]})

    assert (response.status_code, response.json()["code"]) == (400, "invalid")


def test_the_screen_previews_canned_replies_for_a_group():
    _, client, group, _ = _claimed()
    reply = CannedReplyFactory(channel=group.stream.channel, shortcut=3, text="{shipping}")

    response = client.get(f"/api/v1/support/groups/{group.pk}/replies")

    [preview] = response.json()
    assert (preview["id"], preview["shortcut"], preview["filled"]) == (reply.pk, 3, None)
    assert "shipping" in preview["missing"]


# --- Split and merge ----------------------------------------------------------------------------


def test_an_agent_merges_groups_into_one_and_splits_askers_off():
    stream = StreamFactory()
    into, other = QuestionGroupFactory.create_batch(2, stream=stream)
    QuestionFactory(group=into)
    moved = QuestionFactory(group=other)
    client = _client(cs_agent(stream))

    merged = _post(client, f"groups/{into.pk}/merge", {"group_ids": [other.pk]})
    split = _post(client, f"groups/{into.pk}/split", {"question_ids": [moved.pk]})

    assert (merged.status_code, merged.json()["count"]) == (200, 2)
    assert QuestionGroup.objects.get(pk=other.pk).merged_into_id == into.pk
    assert (split.status_code, split.json()["count"]) == (201, 1)
    assert QuestionGroup.objects.get(pk=into.pk).count == 1


def test_a_groups_askers_are_listed_for_splitting():
    _, client, group, _ = _claimed()
    asked = QuestionFactory(group=group, user_id="v-1", user_name="阿花", text="M码有吗")

    response = client.get(f"/api/v1/support/groups/{group.pk}/questions")

    assert [(q["id"], q["user_name"], q["text"]) for q in response.json()] == [
        (asked.pk, "阿花", "M码有吗")
    ]


def test_a_group_of_another_stream_cannot_be_merged():
    stream = StreamFactory()
    into = QuestionGroupFactory(stream=stream)
    elsewhere = QuestionGroupFactory()
    client = _client(cs_agent(stream))

    response = _post(client, f"groups/{into.pk}/merge", {"group_ids": [elsewhere.pk]})

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert QuestionGroup.objects.get(pk=elsewhere.pk).merged_into is None


# --- Escalation ----------------------------------------------------------------------------------


def test_an_escalated_group_is_confirmed_by_the_room_operator_only():
    stream = live_stream(products=1)
    _agent, client, group, claimed = _claimed(stream)
    operator = _client(room_operator(stream))

    escalated = _post(client, f"groups/{group.pk}/escalate", {"seen_version": claimed["version"]})
    by_agent = _post(client, f"groups/{group.pk}/answered-on-air")
    by_operator = _post(operator, f"groups/{group.pk}/answered-on-air")

    assert escalated.json()["status"] == "escalated"
    assert by_agent.status_code == 403
    assert (by_operator.status_code, by_operator.json()["status"]) == (200, "answered")


def test_the_room_operator_lists_what_waits_for_the_host():
    stream = live_stream(products=1)
    escalated = QuestionGroupFactory(stream=stream, status="escalated")
    QuestionGroupFactory(stream=stream)

    response = _client(room_operator(stream)).get(
        f"/api/v1/support/streams/{stream.pk}/queue?status=escalated"
    )

    assert [group["id"] for group in response.json()["groups"]] == [escalated.pk]


# --- Presence ------------------------------------------------------------------------------------


def test_leaving_with_a_claim_needs_handing_it_back():
    _agent, client, _group, _ = _claimed()

    refused = _post(client, "agent/status", {"status": "offline"})
    handed_back = _post(client, "agent/status", {"status": "offline", "hand_back": True})

    assert (refused.status_code, refused.json()["code"]) == (400, "holding_claims")
    assert (handed_back.status_code, handed_back.json()["status"]) == (200, "offline")
    assert handed_back.json()["holding"] == []
    assert QuestionGroup.objects.get().claimed_by is None


def test_the_heartbeat_answers_with_the_groups_held_and_its_cadence():
    agent, client, group, _ = _claimed()

    response = _post(client, "agent/heartbeat")

    body = response.json()
    assert (response.status_code, body["holding"]) == (200, [group.pk])
    assert (body["heartbeat_seconds"], body["lease_seconds"]) == (10, 25)
    assert Agent.objects.get(user=agent).last_seen_at is not None


def test_a_supervisor_sets_an_agents_capacity_and_an_agent_cannot():
    agent = cs_agent(StreamFactory())
    row = Agent.objects.get(user=agent)
    producer = _client(UserFactory(roles=[Role.PRODUCER]))

    by_agent = _client(agent).patch(
        f"/api/v1/support/agents/{row.pk}/", {"capacity": 9}, content_type="application/json"
    )
    by_producer = producer.patch(
        f"/api/v1/support/agents/{row.pk}/",
        {"capacity": 5, "languages": ["th"]},
        content_type="application/json",
    )

    assert by_agent.status_code == 403
    assert (by_producer.json()["capacity"], by_producer.json()["languages"]) == (5, ["th"])


# --- Canned replies ------------------------------------------------------------------------------


def test_a_supervisor_keeps_a_channels_canned_replies():
    stream = StreamFactory()
    producer = _client(UserFactory(roles=[Role.PRODUCER]))
    path = f"/api/v1/support/channels/{stream.channel_id}/canned-replies"

    created = producer.post(
        path,
        {"shortcut": 1, "title": "价格", "text": "直播价{price}", "category": "price"},
        content_type="application/json",
    )
    reply_id = created.json()["id"]
    changed = producer.patch(
        f"/api/v1/support/canned-replies/{reply_id}/",
        {"text": "到手价{price}"},
        content_type="application/json",
    )
    listed = _client(cs_agent(stream)).get(f"/api/v1/support/streams/{stream.pk}/canned-replies")
    deleted = producer.delete(f"/api/v1/support/canned-replies/{reply_id}/")

    assert created.status_code == 201
    assert changed.json()["text"] == "到手价{price}"
    assert [reply["text"] for reply in listed.json()] == ["到手价{price}"]
    assert deleted.status_code == 204
    assert not CannedReply.objects.exists()


def test_an_agent_cannot_write_canned_replies_and_unknown_variables_are_refused():
    stream = StreamFactory()
    path = f"/api/v1/support/channels/{stream.channel_id}/canned-replies"
    body = {"title": "颜色", "text": "{colour}"}

    by_agent = _client(cs_agent(stream)).post(path, body, content_type="application/json")
    by_producer = _client(UserFactory(roles=[Role.PRODUCER])).post(
        path, body, content_type="application/json"
    )

    assert by_agent.status_code == 403
    assert (by_producer.status_code, list(by_producer.json()["fields"])) == (400, ["text"])


# --- Statistics ----------------------------------------------------------------------------------


def _stats_setup():
    stream = StreamFactory()
    producer = UserFactory(roles=[Role.PRODUCER])
    stream.studio.members.add(producer)
    agent = cs_agent(stream)
    now = timezone.now()
    asked = now - timedelta(minutes=10)
    QuestionGroupFactory(
        stream=stream,
        first_asked_at=asked,
        deadline=asked + timedelta(minutes=3),
        status="answered",
        answered_by=agent,
        answered_at=asked + timedelta(seconds=60),
    )
    QuestionGroupFactory(stream=stream)
    return stream, producer, agent


def test_the_supervisor_reads_the_statistics():
    stream, producer, agent = _stats_setup()

    response = _client(producer).get("/api/v1/support/stats")

    body = response.json()
    assert response.status_code == 200
    assert (body["total"]["answered"], body["total"]["p50_seconds"]) == (1, 60.0)
    assert (body["total"]["sla_hit_rate"], body["total"]["open_now"]) == (1.0, 1)
    assert [line["id"] for line in body["streams"]] == [stream.pk]
    assert [(line["id"], line["answered"]) for line in body["agents"]] == [(agent.pk, 1)]


def test_the_statistics_download_as_csv():
    _stream, producer, agent = _stats_setup()

    response = _client(producer).get("/api/v1/support/stats?format=csv")

    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert rows[0][:3] == ["scope", "id", "name"]
    assert [row[0] for row in rows[1:]] == ["total", "stream", "agent"]
    assert rows[3][1:3] == [str(agent.pk), str(agent)]


def test_an_agent_cannot_read_the_statistics():
    response = _client(cs_agent(StreamFactory())).get("/api/v1/support/stats")

    assert response.status_code == 403


def test_the_openapi_schema_documents_the_support_endpoints():
    client = _client(UserFactory())

    schema = client.get("/api/v1/schema/?format=json").json()

    assert "/api/v1/support/groups/{id}/answer" in schema["paths"]
    assert "/api/v1/support/stats" in schema["paths"]
