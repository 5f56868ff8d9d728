import json
import re

import pytest
from django.test import Client

from rooms import eventlog, services
from rooms.models import CrewRole, Role, StreamStatus
from tests.factories import (
    CrewAssignmentFactory,
    LineupItemFactory,
    StreamFactory,
    StudioFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _client(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


def _page_data(response) -> dict:
    """The data the page's script starts from (`json_script`)."""
    found = re.search(
        rb'<script id="live-data" type="application/json">(.*?)</script>', response.content, re.S
    )
    assert found, "no live-data in the page"
    return json.loads(found.group(1))


def _live_stream(**fields):
    """A live stream with a three-product lineup, its show set up as going live does."""
    stream = StreamFactory(**fields)
    for number, name in enumerate(("Hydrating mask", "Repair serum", "Night cream"), start=1):
        LineupItemFactory(stream=stream, name=name, position=number, link_number=number)
    return services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)


def test_the_live_screens_need_a_login():
    stream = StreamFactory()

    console = Client().get(f"/streams/{stream.pk}/console/")
    follow = Client().get(f"/streams/{stream.pk}/follow/")

    assert console.status_code == 302 and console["Location"].startswith("/login/")
    assert follow.status_code == 302 and follow["Location"].startswith("/login/")


def test_someone_off_the_crew_and_outside_the_studio_is_not_told_the_stream_exists():
    stream = _live_stream()
    CrewAssignmentFactory(stream=stream, role=CrewRole.HOST)
    outsider = _client(UserFactory(roles=[Role.HOST]))

    console = outsider.get(f"/streams/{stream.pk}/console/")
    follow = outsider.get(f"/streams/{stream.pk}/follow/")

    assert console.status_code == 404
    assert follow.status_code == 404


def test_an_operator_gets_the_controls_and_the_live_snapshot_in_the_page():
    operator = UserFactory(roles=[Role.ROOM_OPERATOR])
    stream = _live_stream(studio=StudioFactory(members=[operator]), title="Autumn Skincare")
    services.show_move(actor=operator, stream=stream, to=1, seen_moves=0)

    response = _client(operator).get(f"/streams/{stream.pk}/console/")

    assert response.status_code == 200
    data = _page_data(response)
    assert data["canRun"] is True
    assert data["snapshot"]["head"] == eventlog.head(stream.pk)
    assert data["snapshot"]["stream"]["status"] == "live"
    show = data["snapshot"]["show"]
    assert show["position"] == 1 and show["moves"] == 1
    assert [segment["link_number"] for segment in show["segments"]] == [1, 2, 3]
    assert [item["name"] for item in data["lineup"]] == [
        "Hydrating mask",
        "Repair serum",
        "Night cream",
    ]
    assert data["urls"]["moves"] == f"/api/v1/streams/{stream.pk}/show/moves"
    assert data["urls"]["cueState"] == f"/api/v1/streams/{stream.pk}/cues/0/state"
    assert data["csrfToken"]
    assert b'id="next"' in response.content
    assert b'id="adhoc"' in response.content
    assert b"#2 Repair serum" in response.content  # the ad hoc product picker


def test_a_crew_member_without_run_show_sees_the_console_read_only():
    host = UserFactory(roles=[Role.HOST])
    stream = _live_stream()
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)

    response = _client(host).get(f"/streams/{stream.pk}/console/")

    assert response.status_code == 200
    assert _page_data(response)["canRun"] is False
    assert b'data-testid="read-only"' in response.content
    assert b'id="next"' not in response.content
    assert b'id="adhoc"' not in response.content
    assert f'href="/streams/{stream.pk}/follow/"'.encode() in response.content


def test_the_follow_screen_shows_the_crew_members_own_roles():
    floor = UserFactory(roles=[Role.FLOOR_CONTROLLER])
    stream = _live_stream()
    CrewAssignmentFactory(stream=stream, person=floor, role=CrewRole.FLOOR_CONTROLLER)
    CrewAssignmentFactory(stream=stream, person=floor, role=CrewRole.CHEER)

    response = _client(floor).get(f"/streams/{stream.pk}/follow/")

    assert response.status_code == 200
    data = _page_data(response)
    assert data["roles"] == ["floor_controller", "cheer"]
    assert data["snapshot"]["show"]["segments"][0]["title"].endswith("Hydrating mask")
    assert b"Follow screen \xc2\xb7 Floor controller, Cheer crew" in response.content


def test_a_producer_previews_another_roles_screen_and_a_host_cannot():
    producer = UserFactory(roles=[Role.PRODUCER])
    host = UserFactory(roles=[Role.HOST])
    stream = _live_stream(studio=StudioFactory(members=[producer]))
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)

    previewed = _client(producer).get(f"/streams/{stream.pk}/follow/?role=cheer")
    ignored = _client(host).get(f"/streams/{stream.pk}/follow/?role=room_operator")

    assert _page_data(previewed)["roles"] == ["cheer"]
    assert b'class="role-picker"' in previewed.content
    assert _page_data(ignored)["roles"] == ["host"]
    assert b'class="role-picker"' not in ignored.content


def test_the_stream_list_links_the_console_for_operators_and_the_follow_screen_for_crew():
    operator = UserFactory(roles=[Role.ROOM_OPERATOR])
    host = UserFactory(roles=[Role.HOST])
    stream = _live_stream(studio=StudioFactory(members=[operator]))
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)
    console = f'href="/streams/{stream.pk}/console/"'.encode()
    follow = f'href="/streams/{stream.pk}/follow/"'.encode()

    operator_home = _client(operator).get("/")
    host_home = _client(host).get("/")
    host_events = _client(host).get(f"/streams/{stream.pk}/events/")
    operator_events = _client(operator).get(f"/streams/{stream.pk}/events/")

    assert console in operator_home.content and follow not in operator_home.content
    assert follow in host_home.content and console not in host_home.content
    assert follow in host_events.content and console not in host_events.content
    assert console in operator_events.content


def test_the_streams_floor_controller_gets_both_the_console_and_the_follow_screen():
    floor = UserFactory(roles=[Role.FLOOR_CONTROLLER])
    stream = _live_stream()
    CrewAssignmentFactory(stream=stream, person=floor, role=CrewRole.FLOOR_CONTROLLER)
    client = _client(floor)

    home = client.get("/")
    console = client.get(f"/streams/{stream.pk}/console/")

    assert f'href="/streams/{stream.pk}/console/"'.encode() in home.content
    assert f'href="/streams/{stream.pk}/follow/"'.encode() in home.content
    assert _page_data(console)["canRun"] is True
