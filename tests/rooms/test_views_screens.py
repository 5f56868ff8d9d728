import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from rooms import services
from rooms.auth import SCREEN_COOKIE
from rooms.models import Role, ScreenToken, StreamStatus
from tests.factories import StreamFactory, StudioFactory, UserFactory

pytestmark = pytest.mark.django_db


def _signed_in(role: Role = Role.ROOM_OPERATOR) -> tuple[Client, object]:
    person = UserFactory(roles=[role], display_name="Li Na")
    client = Client()
    client.force_login(person)
    return client, person


def _tv_asks_for_a_code(tv: Client) -> dict:
    response = tv.post("/api/v1/screens/pairings")
    assert response.status_code == 201
    return response.json()


def _paired_tv(studio, *, name: str = "Studio A wall") -> tuple[Client, ScreenToken]:
    raw = services.screen_token_issue(actor=None, studio=studio, name=name, ttl=timedelta(days=1))
    tv = Client()
    tv.cookies[SCREEN_COOKIE] = raw
    return tv, ScreenToken.objects.get(studio=studio, name=name)


def _wall_data(response) -> dict:
    content = response.content.decode()
    start = content.index('<script id="wall-data" type="application/json">')
    body = content[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)


# --- pairing, the person's side ----------------------------------------------------------


def test_a_wrong_code_is_refused_on_the_code_field_and_the_input_is_kept():
    client, person = _signed_in()
    studio = StudioFactory(members=[person], name="Studio A")
    _tv_asks_for_a_code(Client())

    response = client.post(
        "/screens/pair/",
        {"code": "zzzz-zzzz", "studio": studio.pk, "name": "Studio A wall", "lifetime": "7d"},
    )

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["code"] == ["No screen is showing that code. Check it, or restart pairing."]
    content = response.content.decode()
    assert 'value="zzzz-zzzz"' in content
    assert 'value="Studio A wall"' in content
    assert not ScreenToken.objects.exists()


def test_a_code_in_lower_case_without_its_dash_pairs_the_screen_which_collects_its_token_once():
    client, person = _signed_in()
    studio = StudioFactory(members=[person], name="Studio A")
    tv = Client()
    code = _tv_asks_for_a_code(tv)

    response = client.post(
        "/screens/pair/",
        {
            "code": code["user_code"].replace("-", "").lower(),
            "studio": studio.pk,
            "name": "Studio A wall",
            "lifetime": "7d",
        },
        follow=True,
    )
    collected = tv.post(
        "/api/v1/screens/pairings/token",
        {"device_code": code["device_code"]},
        content_type="application/json",
    )
    again = tv.post(
        "/api/v1/screens/pairings/token",
        {"device_code": code["device_code"]},
        content_type="application/json",
    )

    assert response.redirect_chain == [("/screens/", 302)]
    assert "Studio A wall is paired." in response.content.decode()
    assert collected.status_code == 200
    assert tv.cookies[SCREEN_COOKIE].value == collected.json()["token"]
    token = ScreenToken.objects.get()
    assert (token.studio, token.name, token.created_by) == (studio, "Studio A wall", person)
    assert token.expires_at - timezone.now() > timedelta(days=6, hours=23)
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_grant"


def test_the_pair_form_offers_only_the_studios_the_person_may_pair_screens_for():
    client, person = _signed_in()
    own = StudioFactory(members=[person], name="Studio A")
    StudioFactory(name="Someone else's studio")

    response = client.get("/screens/pair/")

    assert list(response.context["form"].fields["studio"].queryset) == [own]


def test_a_host_may_not_pair_screens():
    client, person = _signed_in(Role.HOST)
    StudioFactory(members=[person])

    assert client.get("/screens/pair/").status_code == 403


def test_the_list_shows_the_studios_screens_and_revoking_one_marks_it_revoked():
    client, person = _signed_in()
    studio = StudioFactory(members=[person], name="Studio A")
    _tv, wall = _paired_tv(studio, name="Studio A wall")
    _tv, desk = _paired_tv(studio, name="Control desk")
    _paired_tv(StudioFactory(name="Studio B"), name="Studio B wall")

    listed = client.get("/screens/")
    response = client.post("/screens/", {"revoke": wall.pk}, follow=True)

    assert list(listed.context["tokens"]) == [desk, wall]
    assert "Studio B wall" not in listed.content.decode()
    wall.refresh_from_db()
    desk.refresh_from_db()
    assert wall.revoked_at is not None
    assert desk.revoked_at is None
    content = response.content.decode()
    assert "Studio A wall is unpaired" in content
    row = content[content.index(f'data-screen="{wall.pk}"') :].split("</tr>", 1)[0]
    assert "Revoked" in row
    assert 'name="revoke"' not in row


def test_nobody_revokes_a_screen_of_a_studio_they_are_not_in():
    client, person = _signed_in()
    StudioFactory(members=[person])
    _tv, other = _paired_tv(StudioFactory(), name="Not yours")

    response = client.post("/screens/", {"revoke": other.pk})

    other.refresh_from_db()
    assert response.status_code == 404
    assert other.revoked_at is None


def test_screens_is_in_the_navigation_of_room_operators_and_producers_only():
    operator, _person = _signed_in(Role.ROOM_OPERATOR)
    producer, _person = _signed_in(Role.PRODUCER)
    host, _person = _signed_in(Role.HOST)

    def labels(client):
        return [item["label"] for item in client.get("/").context["nav_items"]]

    assert "Screens" in labels(operator)
    assert "Screens" in labels(producer)
    assert "Screens" not in labels(host)


# --- the TV ------------------------------------------------------------------------------


def test_a_screen_without_a_token_shows_the_pairing_code_page():
    response = Client().get("/screen/")

    assert response.status_code == 200
    assert "rooms/screen_pairing.html" in [t.name for t in response.templates]
    assert "Pair this screen" in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_paired_screen_shows_its_studios_live_stream():
    studio = StudioFactory(name="Studio A")
    StreamFactory(studio=studio, title="Earlier show", status=StreamStatus.ENDED)
    live = StreamFactory(
        studio=studio,
        title="Autumn Skincare",
        status=StreamStatus.LIVE,
        actual_start=timezone.now(),
        planned_start=timezone.now() + timedelta(hours=3),
    )
    tv, _token = _paired_tv(studio)

    response = tv.get("/screen/")

    assert "rooms/wall.html" in [t.name for t in response.templates]
    data = _wall_data(response)
    assert data["mode"] == "screen"
    assert data["snapshot"]["stream"]["id"] == live.pk
    assert data["snapshot"]["stream"]["title"] == "Autumn Skincare"
    assert data["urls"]["live"] == f"/api/v1/streams/{live.pk}/live"


def test_a_paired_screen_of_a_studio_with_nothing_on_says_so():
    studio = StudioFactory(name="Studio A")
    tv, _token = _paired_tv(studio)

    response = tv.get("/screen/")

    content = response.content.decode()
    assert "No stream scheduled" in content
    assert "Studio A" in content
    assert _wall_data(response)["snapshot"] is None


def test_a_revoked_screen_goes_back_to_pairing_and_loses_its_cookie():
    studio = StudioFactory()
    StreamFactory(studio=studio, status=StreamStatus.LIVE, actual_start=timezone.now())
    tv, token = _paired_tv(studio)
    services.screen_token_revoke(actor=None, token=token)

    response = tv.get("/screen/")

    assert "rooms/screen_pairing.html" in [t.name for t in response.templates]
    assert response.cookies[SCREEN_COOKIE].value == ""
    assert response.cookies[SCREEN_COOKIE]["max-age"] == 0


def test_the_screen_asks_which_stream_is_current_and_learns_when_it_is_unpaired():
    studio = StudioFactory()
    live = StreamFactory(studio=studio, status=StreamStatus.LIVE, actual_start=timezone.now())
    tv, token = _paired_tv(studio)

    current = tv.get("/screen/current")
    services.screen_token_revoke(actor=None, token=token)
    unpaired = tv.get("/screen/current")

    assert current.json() == {"studio": studio.pk, "stream": live.pk}
    token.refresh_from_db()
    assert token.last_seen_at is not None
    assert unpaired.status_code == 403


def test_a_screen_reads_its_own_studios_stream_and_not_another_studios():
    studio = StudioFactory()
    own = StreamFactory(studio=studio, status=StreamStatus.LIVE, actual_start=timezone.now())
    elsewhere = StreamFactory(status=StreamStatus.LIVE, actual_start=timezone.now())
    tv, _token = _paired_tv(studio)

    assert tv.get(f"/api/v1/streams/{own.pk}/live").status_code == 200
    assert tv.get(f"/api/v1/streams/{elsewhere.pk}/live").status_code == 404


def test_the_screens_language_is_chosen_once_in_its_address_and_kept():
    studio = StudioFactory()
    tv, _token = _paired_tv(studio)

    switched = tv.get("/screen/?lang=zh-hans")
    response = tv.get("/screen/")
    ignored = tv.get("/screen/?lang=klingon")

    assert switched.status_code == 302
    assert switched["Location"] == "/screen/"
    assert '<html lang="zh-hans"' in response.content.decode()
    assert _wall_data(response)["language"] == "zh-hans"
    assert ignored.status_code == 302
    assert tv.get("/screen/").context["LANGUAGE_CODE"] == "zh-hans"


def test_without_a_choice_the_screen_speaks_its_browsers_language():
    response = Client().get("/screen/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})

    assert '<html lang="zh-hans"' in response.content.decode()


# --- the signed-in preview ---------------------------------------------------------------


def test_someone_who_sees_a_stream_may_preview_its_wall_and_nobody_else():
    client, person = _signed_in(Role.ROOM_OPERATOR)
    stream = StreamFactory(studio=StudioFactory(members=[person]), title="Autumn Skincare")
    outsider, _person = _signed_in(Role.ROOM_OPERATOR)

    response = client.get(f"/streams/{stream.pk}/wall/")

    data = _wall_data(response)
    assert data["mode"] == "preview"
    assert data["snapshot"]["stream"]["id"] == stream.pk
    assert data["urls"]["current"] is None
    assert outsider.get(f"/streams/{stream.pk}/wall/").status_code == 404
    assert Client().get(f"/streams/{stream.pk}/wall/").status_code == 302
