"""The planning API: studios, channels, streams, crews, lineups, templates, availability."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rooms import services
from rooms.models import (
    Channel,
    ChannelSecret,
    CrewRole,
    Role,
    Stream,
    StreamStatus,
    StreamTemplate,
    Studio,
    User,
)
from tests.factories import (
    ChannelFactory,
    CrewAssignmentFactory,
    StreamFactory,
    StudioFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Tuesday evening show, far enough ahead that nothing about "now" matters.
TUESDAY_7PM = datetime(2027, 3, 2, 19, 0, tzinfo=SHANGHAI)


def _at(text: str) -> datetime:
    """An instant from the API; it answers in the requester's time zone, with the offset."""
    return datetime.fromisoformat(text)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, path: str, body: object):
    return client.post(f"/api/v1/{path}", body, content_type="application/json")


def _patch(client: Client, path: str, body: object):
    return client.patch(f"/api/v1/{path}", body, content_type="application/json")


def _put(client: Client, path: str, body: object):
    return client.put(f"/api/v1/{path}", body, content_type="application/json")


@dataclass
class Planning:
    producer: User
    studio: Studio
    channel: Channel


@pytest.fixture
def planning() -> Planning:
    producer = UserFactory(roles=[Role.PRODUCER])
    return Planning(
        producer=producer, studio=StudioFactory(members=[producer]), channel=ChannelFactory()
    )


def _plan(planning: Planning, **overrides) -> dict:
    return {
        "title": "美妆专场",
        "channel": planning.channel.key,
        "studio": planning.studio.pk,
        "planned_start": "2027-03-02T19:00:00+08:00",
        "planned_end": "2027-03-02T22:00:00+08:00",
        **overrides,
    }


def _template(planning: Planning, *, host: User | None = None) -> StreamTemplate:
    return services.template_save(
        actor=None,
        studio=planning.studio,
        channel=planning.channel,
        name="Tuesday beauty",
        title="周二美妆",
        start_time=time(19, 0),
        duration=timedelta(hours=2),
        slots=[(CrewRole.HOST, host), (CrewRole.ROOM_OPERATOR, None)],
    )


def _add_product(stream: Stream, sku: str) -> None:
    services.lineup_item_add(
        actor=None,
        stream=stream,
        sku=sku,
        name="精华",
        kind="hero",
        regular_price=Decimal("199.00"),
    )


# --- streams: planning and rescheduling ---------------------------------------------------


def test_a_producer_plans_a_stream_with_its_studio_booking_window(planning):
    client = _client(planning.producer)

    response = _post(
        client,
        "streams/",
        _plan(planning, setup_minutes=45, required_roles=["host", "cs_agent"]),
    )

    body = response.json()
    assert response.status_code == 201
    assert body["status"] == StreamStatus.DRAFT
    assert (_at(body["booked_start"]), _at(body["booked_end"])) == (
        TUESDAY_7PM - timedelta(minutes=45),
        TUESDAY_7PM + timedelta(hours=3, minutes=15),
    )
    assert (body["setup_minutes"], body["teardown_minutes"]) == (45, 15)
    assert body["required_roles"] == ["host", "cs_agent"]
    assert (body["studio_id"], body["time_zone"], body["crew"]) == (
        planning.studio.pk,
        "Asia/Shanghai",
        [],
    )
    assert Stream.objects.get(pk=body["id"]).created_at is not None


def test_planning_over_another_stream_in_the_studio_is_a_409_naming_that_stream(planning):
    other = StreamFactory(
        studio=planning.studio, title="早场", planned_start=TUESDAY_7PM - timedelta(hours=3)
    )
    client = _client(planning.producer)

    # The new stream's 30-minute set-up runs into the other one's 15-minute teardown.
    response = _post(
        client,
        "streams/",
        _plan(
            planning,
            planned_start="2027-03-02T17:00:00+08:00",
            planned_end="2027-03-02T19:00:00+08:00",
        ),
    )

    body = response.json()
    assert response.status_code == 409
    assert body["code"] == "clash"
    assert "早场" in body["detail"]
    assert [(c["kind"], c["stream"], c["title"]) for c in body["clashes"]] == [
        ("studio", other.pk, "早场")
    ]
    assert Stream.objects.filter(studio=planning.studio).count() == 1


def test_rescheduling_a_stream_moves_its_crews_call_times_with_it(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    CrewAssignmentFactory(stream=stream)
    client = _client(planning.producer)

    response = _patch(
        client,
        f"streams/{stream.pk}/",
        {"planned_start": "2027-03-03T20:00:00+08:00", "planned_end": "2027-03-03T22:00:00+08:00"},
    )

    body = response.json()
    assert response.status_code == 200
    assert _at(body["planned_start"]) == datetime(2027, 3, 3, 20, 0, tzinfo=SHANGHAI)
    assert _at(body["crew"][0]["call_start"]) == datetime(2027, 3, 3, 19, 30, tzinfo=SHANGHAI)


def test_a_clash_on_a_stream_the_producer_may_not_see_says_when_but_not_what(planning):
    host = UserFactory(roles=[Role.HOST], display_name="小美")
    planning.studio.members.add(host)
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    secret = StreamFactory(title="B secret launch", planned_start=TUESDAY_7PM)
    CrewAssignmentFactory(stream=secret, person=host)

    response = _post(
        _client(planning.producer),
        f"streams/{stream.pk}/crew/",
        {"person": host.pk, "role": "host"},
    )

    body = response.json()
    assert response.status_code == 409
    assert [(c["who"], c["stream"], c["title"]) for c in body["clashes"]] == [
        ("小美", 0, "another stream")
    ]
    assert "B secret launch" not in response.content.decode()


def test_only_members_of_the_streams_studio_can_be_put_on_its_crew(planning):
    outsider = UserFactory(roles=[Role.HOST], display_name="Victim Host")
    StudioFactory(members=[outsider])
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)

    response = _post(
        _client(planning.producer),
        f"streams/{stream.pk}/crew/",
        {"person": outsider.pk, "role": "host"},
    )

    assert response.status_code == 400
    assert "is not a member of" in response.json()["detail"]
    assert not stream.crew.exists()


def test_rescheduling_onto_a_crew_members_other_stream_is_a_409_naming_person_and_stream(
    planning,
):
    host = UserFactory(roles=[Role.HOST], display_name="小美")
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    CrewAssignmentFactory(stream=stream, person=host)
    elsewhere = StreamFactory(
        title="晚场",
        planned_start=TUESDAY_7PM + timedelta(days=1),
        studio=StudioFactory(members=[planning.producer]),
    )
    CrewAssignmentFactory(stream=elsewhere, person=host)
    client = _client(planning.producer)

    response = _patch(
        client,
        f"streams/{stream.pk}/",
        {
            "planned_start": elsewhere.planned_start.isoformat(),
            "planned_end": elsewhere.planned_end.isoformat(),
        },
    )

    body = response.json()
    assert response.status_code == 409
    assert body["code"] == "clash"
    assert [(c["kind"], c["who"], c["stream"], c["title"]) for c in body["clashes"]] == [
        ("person", "小美", elsewhere.pk, "晚场")
    ]
    assert "小美" in body["detail"] and "晚场" in body["detail"]
    stream.refresh_from_db()
    assert stream.planned_start == TUESDAY_7PM


def test_a_stream_that_never_went_live_can_be_deleted(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)

    response = _client(planning.producer).delete(f"/api/v1/streams/{stream.pk}/")

    assert response.status_code == 204
    assert not Stream.objects.filter(pk=stream.pk).exists()


def test_listing_streams_with_their_crews_takes_the_same_queries_for_more_streams(planning):
    client = _client(planning.producer)

    def queries_to_list(streams: int) -> int:
        for day in range(streams):
            CrewAssignmentFactory(
                stream__studio=planning.studio,
                stream__planned_start=TUESDAY_7PM + timedelta(days=day + 10 * streams),
            )
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/streams/").status_code == 200
        return len(queries)

    assert queries_to_list(2) == queries_to_list(6)


# --- readiness and going live -------------------------------------------------------------


def test_the_readiness_checklist_lists_what_is_missing_and_blocks_going_live(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    client = _client(planning.producer)

    checklist = client.get(f"/api/v1/streams/{stream.pk}/readiness").json()
    live = _post(client, f"streams/{stream.pk}/transition", {"to": "live"})

    assert {item["key"]: item["done"] for item in checklist["items"]} == {
        "crew:host": False,
        "crew:room_operator": False,
        "lineup:products": False,
        "lineup:prices": False,
        "lineup:stock": False,
    }
    assert checklist["overrides"] == []
    assert live.status_code == 400
    assert live.json()["code"] == "not_ready"
    assert "Host assigned" in live.json()["detail"]


def test_an_overridden_checklist_lets_the_producer_take_the_stream_live(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    client = _client(planning.producer)

    override = _post(
        client, f"streams/{stream.pk}/readiness/override", {"reason": "Host is on the way"}
    )
    live = _post(client, f"streams/{stream.pk}/transition", {"to": "live"})

    assert override.status_code == 201
    assert override.json()["reason"] == "Host is on the way"
    assert live.status_code == 200
    assert live.json()["status"] == StreamStatus.LIVE


# --- crew and availability ----------------------------------------------------------------


def test_assigning_someone_on_a_day_off_is_a_409_warning_and_assigns_nobody(planning):
    host = UserFactory(roles=[Role.HOST], display_name="小美")
    planning.studio.members.add(host)
    services.time_off_add(
        actor=None, person=host, first_day=date(2027, 3, 2), last_day=date(2027, 3, 2)
    )
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)

    response = _post(
        _client(planning.producer),
        f"streams/{stream.pk}/crew/",
        {"person": host.pk, "role": "host"},
    )

    body = response.json()
    assert response.status_code == 409
    assert body["code"] == "availability"
    assert body["warnings"] == ["小美 is off Tue 2 Mar – Tue 2 Mar."]
    assert not stream.crew.exists()


def test_an_accepted_availability_warning_assigns_and_keeps_the_warning(planning):
    host = UserFactory(roles=[Role.HOST], display_name="小美")
    planning.studio.members.add(host)
    services.time_off_add(
        actor=None, person=host, first_day=date(2027, 3, 2), last_day=date(2027, 3, 2)
    )
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)

    response = _post(
        _client(planning.producer),
        f"streams/{stream.pk}/crew/",
        {
            "person": host.pk,
            "role": "host",
            "buffer_before_minutes": 90,
            "accept_availability": True,
        },
    )

    body = response.json()
    assert response.status_code == 201
    assert (body["person"], body["role"], body["buffer_before_minutes"]) == (host.pk, "host", 90)
    assert body["availability_note"] == "小美 is off Tue 2 Mar – Tue 2 Mar."
    assert stream.crew.get().person == host


def test_a_person_booked_elsewhere_cannot_be_assigned(planning):
    host = UserFactory(roles=[Role.HOST])
    planning.studio.members.add(host)
    elsewhere = CrewAssignmentFactory(
        person=host,
        stream__planned_start=TUESDAY_7PM,
        stream__studio=StudioFactory(members=[planning.producer]),
    ).stream
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)

    response = _post(
        _client(planning.producer),
        f"streams/{stream.pk}/crew/",
        {"person": host.pk, "role": "host", "accept_availability": True},
    )

    assert response.status_code == 409
    assert [c["stream"] for c in response.json()["clashes"]] == [elsewhere.pk]
    assert not stream.crew.exists()


def test_a_crew_member_is_taken_off_a_stream(planning):
    assignment = CrewAssignmentFactory(stream__studio=planning.studio)

    response = _client(planning.producer).delete(
        f"/api/v1/streams/{assignment.stream_id}/crew/{assignment.pk}/"
    )

    assert response.status_code == 204
    assert not assignment.stream.crew.exists()


def test_working_hours_are_replaced_and_read_back(planning):
    host = UserFactory(roles=[Role.HOST])
    planning.studio.members.add(host)
    client = _client(planning.producer)

    saved = _put(
        client,
        f"people/{host.pk}/working-hours",
        {"hours": [{"weekday": 1, "starts": "20:00", "ends": "02:00"}]},
    )
    read = client.get(f"/api/v1/people/{host.pk}/working-hours")

    assert saved.status_code == 200
    assert read.json() == {
        "time_zone": "Asia/Shanghai",
        "hours": [{"weekday": 1, "starts": "20:00:00", "ends": "02:00:00"}],
    }


def test_time_off_is_added_listed_and_removed(planning):
    host = UserFactory(roles=[Role.HOST])
    client = _client(host)

    added = _post(
        client,
        f"people/{host.pk}/time-off",
        {"first_day": "2027-03-01", "last_day": "2027-03-03", "reason": "婚礼"},
    ).json()
    listed = client.get(f"/api/v1/people/{host.pk}/time-off").json()
    removed = client.delete(f"/api/v1/people/{host.pk}/time-off/{added['id']}/")

    assert listed == [
        {"id": added["id"], "first_day": "2027-03-01", "last_day": "2027-03-03", "reason": "婚礼"}
    ]
    assert removed.status_code == 204
    assert not host.time_off.exists()


def test_the_schedule_of_someone_outside_ones_studios_is_not_found(planning):
    stranger = UserFactory(roles=[Role.HOST])

    response = _client(planning.producer).get(f"/api/v1/people/{stranger.pk}/working-hours")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_colleague_may_not_read_a_persons_hours_but_their_producer_may():
    host = UserFactory(roles=[Role.HOST])
    colleague = UserFactory(roles=[Role.HOST])
    producer = UserFactory(roles=[Role.PRODUCER])
    StudioFactory(members=[host, colleague, producer])

    by_colleague = _client(colleague).get(f"/api/v1/people/{host.pk}/working-hours")
    changed_by_colleague = _put(
        _client(colleague), f"people/{host.pk}/working-hours", {"hours": []}
    )
    by_producer = _client(producer).get(f"/api/v1/people/{host.pk}/working-hours")

    assert by_colleague.status_code == 404
    assert changed_by_colleague.status_code == 404
    assert by_producer.status_code == 200


# --- lineup -------------------------------------------------------------------------------

GOOD_SHEET = (
    "链接号,货号,商品名称,类型,日常价,直播价,库存\n"
    "1,SKU-1,精华,主推,199,99,100\n"
    "2,SKU-2,面霜,利润款,299,199,50\n"
)
BAD_SHEET = (
    "链接号,货号,商品名称,类型,日常价,直播价,库存\n"
    "1,SKU-1,精华,主推,199,99,100\n"
    "2,SKU-2,面霜,利润款,abc,199,50\n"
)


def _upload(client: Client, stream: Stream, content: str, name: str = "lineup.csv"):
    return client.post(
        f"/api/v1/streams/{stream.pk}/lineup/import",
        {"file": SimpleUploadedFile(name, content.encode(), content_type="text/csv")},
    )


def test_a_lineup_sheet_with_a_bad_cell_is_refused_by_row_and_column_and_nothing_changes(
    planning,
):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    _add_product(stream, "OLD-1")

    response = _upload(_client(planning.producer), stream, BAD_SHEET)

    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "rows"
    assert body["errors"] == [
        {"row": 3, "column": "regular price", "message": "“abc” is not a number."}
    ]
    assert list(stream.lineup.values_list("sku", flat=True)) == ["OLD-1"]


def test_a_lineup_sheet_replaces_the_lineup(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    _add_product(stream, "OLD-1")

    response = _upload(_client(planning.producer), stream, GOOD_SHEET)

    assert response.status_code == 200
    assert [(i["position"], i["sku"], i["kind"], i["live_price"]) for i in response.json()] == [
        (1, "SKU-1", "hero", "99.00"),
        (2, "SKU-2", "profit", "199.00"),
    ]
    assert list(stream.lineup.values_list("sku", flat=True)) == ["SKU-1", "SKU-2"]


def test_a_file_that_is_not_a_sheet_is_refused(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)

    response = _upload(_client(planning.producer), stream, GOOD_SHEET, name="lineup.txt")

    assert response.status_code == 400
    assert response.json()["errors"][0]["column"] == "file"


def test_a_product_is_added_with_the_next_link_number_and_edited(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    _add_product(stream, "OLD-1")
    client = _client(planning.producer)

    added = _post(
        client,
        f"streams/{stream.pk}/lineup/",
        {"sku": "NEW-1", "name": "口红", "kind": "flash", "regular_price": "89.00"},
    ).json()
    edited = _patch(client, f"streams/{stream.pk}/lineup/{added['id']}/", {"live_price": "9.90"})

    assert (added["position"], added["link_number"]) == (2, 2)
    assert edited.status_code == 200
    assert edited.json()["live_price"] == "9.90"


def test_the_lineup_is_reordered_and_a_product_removed(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    _add_product(stream, "A")
    _add_product(stream, "B")
    first, second = stream.lineup.order_by("position")
    client = _client(planning.producer)

    reordered = _post(client, f"streams/{stream.pk}/lineup/order", {"items": [second.pk, first.pk]})
    removed = client.delete(f"/api/v1/streams/{stream.pk}/lineup/{second.pk}/")

    assert [i["sku"] for i in reordered.json()] == ["B", "A"]
    assert removed.status_code == 204
    assert list(stream.lineup.values_list("sku", "position")) == [("A", 1)]


def test_a_lineup_set_is_saved_and_applied_to_a_stream(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    client = _client(planning.producer)

    saved = _post(
        client,
        "lineup-sets/",
        {
            "name": "春季美妆",
            "items": [
                {"link_number": 1, "sku": "S1", "name": "精华", "kind": "hero", "regular_price": 1},
                {
                    "link_number": 2,
                    "sku": "S2",
                    "name": "面霜",
                    "kind": "traffic",
                    "regular_price": 2,
                },
            ],
        },
    ).json()
    detail = client.get(f"/api/v1/lineup-sets/{saved['id']}/").json()
    applied = _post(client, f"streams/{stream.pk}/lineup/apply-set", {"lineup_set": saved["id"]})

    assert [i["sku"] for i in detail["items"]] == ["S1", "S2"]
    assert applied.status_code == 200
    assert list(stream.lineup.values_list("sku", flat=True)) == ["S1", "S2"]


def test_a_lineup_set_with_a_repeated_link_number_names_the_row(planning):
    item = {"link_number": 1, "sku": "S1", "name": "精华", "kind": "hero", "regular_price": 1}

    response = _post(
        _client(planning.producer), "lineup-sets/", {"name": "重复", "items": [item, item]}
    )

    assert response.status_code == 400
    assert [(e["row"], e["column"]) for e in response.json()["errors"]] == [(2, "link number")]


# --- templates ----------------------------------------------------------------------------


def test_a_template_is_created_with_its_crew_slots(planning):
    host = UserFactory(roles=[Role.HOST])
    planning.studio.members.add(host)

    response = _post(
        _client(planning.producer),
        "templates/",
        {
            "studio": planning.studio.pk,
            "channel": planning.channel.key,
            "name": "Tuesday beauty",
            "title": "周二美妆",
            "start_time": "19:00",
            "duration_minutes": 120,
            "slots": [{"role": "host", "person": host.pk}, {"role": "room_operator"}],
        },
    )

    body = response.json()
    assert response.status_code == 201
    assert (body["duration_minutes"], body["setup_minutes"], body["time_zone"]) == (
        120,
        30,
        "Asia/Shanghai",
    )
    assert [(s["role"], s["person"]) for s in body["slots"]] == [
        ("host", host.pk),
        ("room_operator", None),
    ]


def test_a_template_preview_shows_the_occurrence_that_clashes(planning):
    template = _template(planning)
    taken = StreamFactory(
        studio=planning.studio, title="特卖", planned_start=TUESDAY_7PM + timedelta(weeks=1)
    )

    response = _post(
        _client(planning.producer),
        f"templates/{template.pk}/preview",
        {"first_day": "2027-03-02", "rule": "FREQ=WEEKLY;COUNT=3"},
    )

    body = response.json()
    assert response.status_code == 200
    assert [_at(o["starts"]) for o in body] == [
        TUESDAY_7PM,
        TUESDAY_7PM + timedelta(weeks=1),
        TUESDAY_7PM + timedelta(weeks=2),
    ]
    assert [[(c["stream"], c["title"]) for c in o["clashes"]] for o in body] == [
        [],
        [(taken.pk, "特卖")],
        [],
    ]
    assert not Stream.objects.filter(template=template).exists()


def test_a_preview_without_a_rule_is_the_first_day_at_the_templates_time(planning):
    template = _template(planning)

    response = _post(
        _client(planning.producer), f"templates/{template.pk}/preview", {"first_day": "2027-03-02"}
    )

    assert [(_at(o["starts"]), _at(o["ends"])) for o in response.json()] == [
        (TUESDAY_7PM, TUESDAY_7PM + timedelta(hours=2))
    ]


def test_streams_from_a_template_skip_the_clashing_day_and_crew_the_usual_host(planning):
    host = UserFactory(roles=[Role.HOST])
    planning.studio.members.add(host)
    template = _template(planning, host=host)
    StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM + timedelta(weeks=1))

    response = _post(
        _client(planning.producer),
        f"templates/{template.pk}/streams",
        {
            "first_day": "2027-03-02",
            "rule": "FREQ=WEEKLY;COUNT=3",
            "skip": ["2027-03-09T19:00:00+08:00"],
        },
    )

    body = response.json()
    assert response.status_code == 201
    assert [_at(s["planned_start"]) for s in body] == [
        TUESDAY_7PM,
        TUESDAY_7PM + timedelta(weeks=2),
    ]
    assert [[(c["person"], c["role"]) for c in s["crew"]] for s in body] == [
        [(host.pk, "host")],
        [(host.pk, "host")],
    ]
    assert [s["required_roles"] for s in body] == [["host", "room_operator"]] * 2
    assert Stream.objects.filter(template=template).count() == 2


def test_streams_from_a_template_are_all_or_nothing_when_one_clashes(planning):
    template = _template(planning)
    taken = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM + timedelta(weeks=1))

    response = _post(
        _client(planning.producer),
        f"templates/{template.pk}/streams",
        {"first_day": "2027-03-02", "rule": "FREQ=WEEKLY;COUNT=3"},
    )

    assert response.status_code == 409
    assert [c["stream"] for c in response.json()["clashes"]] == [taken.pk]
    assert not Stream.objects.filter(template=template).exists()


# --- studios and channels -----------------------------------------------------------------


def test_a_producer_sets_up_a_studio_joins_it_and_lists_only_their_studios(planning):
    StudioFactory(name="Someone else's")
    client = _client(planning.producer)

    created = _post(client, "studios/", {"name": "杭州二号间", "time_zone": "Asia/Shanghai"})
    listed = client.get("/api/v1/studios/").json()["results"]

    assert created.status_code == 201
    assert created.json()["members"] == [planning.producer.pk]
    assert sorted(s["name"] for s in listed) == sorted([planning.studio.name, "杭州二号间"])


def test_a_studio_with_an_unknown_time_zone_is_refused(planning):
    response = _patch(
        _client(planning.producer), f"studios/{planning.studio.pk}/", {"time_zone": "Mars/Olympus"}
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["time_zone"]


def test_a_new_channels_ingest_secret_is_shown_once_and_never_listed(planning):
    client = _client(planning.producer)

    created = _post(
        client,
        "channels/",
        {
            "key": "douyin-beauty",
            "name": "抖音美妆",
            "platform": "douyin",
            "currency": "CNY",
            "time_zone": "Asia/Shanghai",
        },
    ).json()
    listed = client.get("/api/v1/channels/")

    stored = ChannelSecret.objects.get(channel__key="douyin-beauty").secret
    assert created["ingest_secret"] == stored
    assert stored not in listed.content.decode()
    assert "ingest_secret" not in listed.json()["results"][0]


def test_a_channels_key_stays_when_it_is_edited(planning):
    channel = planning.channel

    response = _patch(
        _client(planning.producer),
        f"channels/{channel.pk}/",
        {"key": "renamed", "name": "快手", "platform": "kuaishou"},
    )

    assert response.status_code == 200
    assert (response.json()["key"], response.json()["name"]) == (channel.key, "快手")


# --- permissions --------------------------------------------------------------------------


def test_a_host_cannot_plan_a_stream():
    host = UserFactory(roles=[Role.HOST])
    studio = StudioFactory(members=[host])
    planning = Planning(producer=host, studio=studio, channel=ChannelFactory())

    response = _post(_client(host), "streams/", _plan(planning))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not Stream.objects.exists()


def test_a_host_lists_only_the_streams_they_are_crewed_on(planning):
    host = UserFactory(roles=[Role.HOST])
    planning.studio.members.add(host)
    crewed = CrewAssignmentFactory(
        person=host, stream__studio=planning.studio, stream__planned_start=TUESDAY_7PM
    ).stream
    StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM + timedelta(days=1))

    listed = _client(host).get("/api/v1/streams/").json()["results"]

    assert [s["id"] for s in listed] == [crewed.pk]
    assert [c["person"] for c in listed[0]["crew"]] == [host.pk]


def test_a_host_crewed_on_a_stream_cannot_reschedule_it():
    host = UserFactory(roles=[Role.HOST])
    stream = CrewAssignmentFactory(person=host, stream__planned_start=TUESDAY_7PM).stream

    response = _patch(_client(host), f"streams/{stream.pk}/", {"title": "改名"})

    assert response.status_code == 403
    stream.refresh_from_db()
    assert stream.title != "改名"


def test_a_producer_of_another_studio_does_not_find_its_streams(planning):
    stream = StreamFactory(planned_start=TUESDAY_7PM)
    client = _client(planning.producer)

    responses = [
        client.get(f"/api/v1/streams/{stream.pk}/"),
        _patch(client, f"streams/{stream.pk}/", {"title": "改名"}),
        client.delete(f"/api/v1/streams/{stream.pk}/"),
        client.get(f"/api/v1/streams/{stream.pk}/lineup/"),
        _post(
            client, f"streams/{stream.pk}/crew/", {"person": planning.producer.pk, "role": "host"}
        ),
    ]

    assert [r.status_code for r in responses] == [404] * 5
    assert Stream.objects.get(pk=stream.pk).title == stream.title


def test_a_producer_cannot_plan_in_a_studio_they_are_not_a_member_of(planning):
    other_studio = StudioFactory()

    response = _post(
        _client(planning.producer), "streams/", _plan(planning, studio=other_studio.pk)
    )

    assert response.status_code == 403
    assert not Stream.objects.exists()


def test_a_producer_of_another_studio_does_not_find_its_templates(planning):
    template = _template(planning)
    outsider = UserFactory(roles=[Role.PRODUCER])
    StudioFactory(members=[outsider])

    response = _post(
        _client(outsider), f"templates/{template.pk}/preview", {"first_day": "2027-03-02"}
    )

    assert response.status_code == 404


# --- bad input is a 400, never a 500 ------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"planned_start": "2027-03-02T19:00:00"}, "planned_start"),
        ({"planned_start": "2027-02-30T19:00:00+08:00"}, "planned_start"),
        ({"planned_start": "tomorrow"}, "planned_start"),
        ({"planned_end": "9999-12-31T23:59:00+00:00"}, "planned_end"),
        ({"planned_start": "0001-01-01T00:00:00+00:00"}, "planned_start"),
        ({"studio": 999_999}, "studio"),
        ({"studio": 10**30}, "studio"),
        ({"studio": "one"}, "studio"),
        ({"channel": "no-such-channel"}, "channel"),
        ({"setup_minutes": -5}, "setup_minutes"),
        ({"setup_minutes": 10**12}, "setup_minutes"),
        ({"required_roles": ["juggler"]}, "required_roles"),
        ({"status": "live"}, "status"),
        ({"planned_end": "2027-03-02T18:00:00+08:00"}, "planned_end"),
    ],
    ids=[
        "no offset",
        "30 February",
        "not a date",
        "year 9999",
        "year 1",
        "unknown studio",
        "huge studio id",
        "studio not a number",
        "unknown channel",
        "negative set-up",
        "huge set-up",
        "unknown role",
        "created live",
        "ends before it starts",
    ],
)
def test_a_bad_stream_plan_is_a_400_naming_the_field(planning, overrides, field):
    response = _post(_client(planning.producer), "streams/", _plan(planning, **overrides))

    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [field]
    assert body["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "juggler"}, "role"),
        ({"person": 999_999}, "person"),
        ({"person": None}, "person"),
        ({"buffer_before_minutes": "lots"}, "buffer_before_minutes"),
    ],
    ids=["unknown role", "unknown person", "no person", "call time not a number"],
)
def test_a_bad_crew_assignment_is_a_400_naming_the_field(planning, body, field):
    host = UserFactory(roles=[Role.HOST])
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)

    response = _post(
        _client(planning.producer),
        f"streams/{stream.pk}/crew/",
        {"person": host.pk, "role": "host", **body},
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


@pytest.mark.parametrize(
    "body",
    [
        {"first_day": "2027-02-30"},
        {"first_day": "9999-12-31"},
        {"first_day": "2027-03-02", "rule": "every tuesday"},
        {"first_day": "2027-03-02", "rule": "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30"},
        {"first_day": "2027-03-02", "rule": "FREQ=WEEKLY;INTERVAL=0"},
        {"first_day": "2027-03-02", "rule": "DTSTART:20200101T000000Z\nRRULE:FREQ=DAILY"},
        {"first_day": "2027-03-02", "rule": "FREQ=WEEKLY;BYDAY=XX"},
        {"first_day": "2027-03-02", "rule": "FREQ=DAILY"},
    ],
    ids=[
        "30 February",
        "year 9999",
        "prose",
        "hourly",
        "interval 0",
        "own start",
        "bad weekday",
        "endless",
    ],
)
def test_a_bad_repeat_is_a_400(planning, body):
    template = _template(planning)

    response = _post(_client(planning.producer), f"templates/{template.pk}/preview", body)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_body_that_is_not_json_is_a_400(planning):
    response = _client(planning.producer).post(
        "/api/v1/streams/", b"{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_a_json_list_instead_of_an_object_is_a_400(planning):
    response = _post(_client(planning.producer), "streams/", [1, 2])

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_lineup_order_naming_another_streams_product_is_a_400(planning):
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    _add_product(stream, "A")
    other = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM + timedelta(days=1))
    _add_product(other, "B")

    response = _post(
        _client(planning.producer),
        f"streams/{stream.pk}/lineup/order",
        {"items": [other.lineup.get().pk]},
    )

    assert response.status_code == 400
    assert response.json()["messages"] == [
        "The new order must list every product of the lineup once."
    ]


# --- the schema ---------------------------------------------------------------------------


def test_the_openapi_schema_documents_the_planning_endpoints_and_their_errors(planning):
    schema = _client(planning.producer).get("/api/v1/schema/?format=json")

    paths = schema.json()["paths"]
    assert schema.status_code == 200
    assert {
        "/api/v1/studios/",
        "/api/v1/channels/",
        "/api/v1/streams/{id}/crew/",
        "/api/v1/streams/{id}/lineup/import",
        "/api/v1/templates/{id}/preview",
        "/api/v1/people/{id}/working-hours",
    } <= set(paths)
    assert paths["/api/v1/streams/"]["post"]["responses"]["409"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/ApiError"}


def test_a_producer_cannot_pull_a_stranger_into_a_studio_to_read_their_schedule(planning):
    stranger = UserFactory(roles=[Role.HOST])
    StudioFactory(members=[stranger])
    client = _client(planning.producer)

    created = _post(
        client, "studios/", {"name": "Trojan", "time_zone": "UTC", "members": [stranger.pk]}
    )
    schedule = client.get(f"/api/v1/people/{stranger.pk}/time-off")

    assert created.status_code == 400
    assert "do not work in any of your studios" in created.json()["detail"]
    assert schedule.status_code == 404


def test_a_producer_cannot_take_another_producer_off_a_studio(planning):
    colleague = UserFactory(roles=[Role.PRODUCER])
    planning.studio.members.add(colleague)

    response = _patch(
        _client(planning.producer),
        f"studios/{planning.studio.pk}/",
        {"members": [planning.producer.pk]},
    )

    assert response.status_code == 400
    assert set(planning.studio.members.all()) == {planning.producer, colleague}


def test_a_crew_member_who_may_not_change_the_lineup_gets_403_before_the_file_is_read(planning):
    agent = UserFactory(roles=[Role.CS_AGENT])
    stream = StreamFactory(studio=planning.studio, planned_start=TUESDAY_7PM)
    CrewAssignmentFactory(stream=stream, person=agent, role=CrewRole.CS_AGENT)

    response = _client(agent).post(
        f"/api/v1/streams/{stream.pk}/lineup/import",
        {"file": SimpleUploadedFile("bad.csv", BAD_SHEET.encode(), content_type="text/csv")},
    )

    assert response.status_code == 403
