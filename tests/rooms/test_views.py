import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import Client

from rooms import eventlog
from rooms.auth import SignInGuard
from rooms.eventlog import NewEvent
from rooms.models import Role
from tests.factories import PASSWORD, StreamFactory, StudioFactory, UserFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _signed_in(**user_fields) -> tuple[Client, object]:
    person = UserFactory(**{"roles": [Role.ROOM_OPERATOR], **user_fields})
    client = Client()
    client.force_login(person)
    return client, person


def test_screens_need_a_login():
    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_with_a_password_lands_on_the_stream_list():
    person = UserFactory()
    client = Client()

    response = client.post(
        "/login/", {"username": person.username, "password": PASSWORD}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/"
    assert b"Live now" in response.content


def test_a_wrong_password_says_so_and_keeps_the_username():
    person = UserFactory()

    response = Client().post("/login/", {"username": person.username, "password": "nope"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert person.username.encode() in response.content


def test_repeated_failed_sign_ins_lock_the_username_even_with_the_right_password():
    person = UserFactory()
    client = Client()
    for _ in range(SignInGuard.PER_USERNAME):
        client.post("/login/", {"username": person.username, "password": "guess"})

    locked = client.post("/login/", {"username": person.username, "password": PASSWORD})

    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session


def test_a_successful_sign_in_clears_the_failures_counted_against_the_username():
    person = UserFactory()
    client = Client()
    for _ in range(SignInGuard.PER_USERNAME - 1):
        client.post("/login/", {"username": person.username, "password": "guess"})
    client.post("/login/", {"username": person.username, "password": PASSWORD})
    client.post("/logout/")

    client.post("/login/", {"username": person.username, "password": "guess"})
    response = client.post("/login/", {"username": person.username, "password": PASSWORD})

    assert response.status_code == 302


def test_the_admin_signs_in_through_the_guarded_sign_in_page():
    response = Client().get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/"


def test_logout_is_a_post_and_ends_the_session():
    client, _person = _signed_in()

    client.post("/logout/")

    assert client.get("/").status_code == 302


def test_the_stream_list_shows_planned_times_in_the_studios_time_zone():
    client, person = _signed_in(time_zone="Europe/London")
    StreamFactory(
        studio=StudioFactory(members=[person], time_zone="Asia/Shanghai"),
        title="Night show",
        planned_start=datetime(2026, 12, 1, 20, 0, tzinfo=SHANGHAI),
        planned_end=datetime(2026, 12, 1, 23, 0, tzinfo=SHANGHAI),
    )

    response = client.get("/")

    assert "Tue December 1 20:00–23:00 UTC+8" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_events_page_carries_the_recent_log_and_the_studio_time_zone():
    client, person = _signed_in()
    stream = StreamFactory(studio=StudioFactory(members=[person], time_zone="Asia/Kuala_Lumpur"))
    with transaction.atomic():
        eventlog.append(stream.pk, [NewEvent("note", "added", {"n": n}) for n in range(3)])

    response = client.get(f"/streams/{stream.pk}/events/")
    page = response.content.decode()
    script = page.split('<script id="feed-snapshot" type="application/json">')[1]
    snapshot = json.loads(script.split("</script>")[0])

    assert response.status_code == 200
    assert snapshot["head"] == 3
    assert [e["id"] for e in snapshot["events"]] == [1, 2, 3]
    assert snapshot["timeZone"] == "Asia/Kuala_Lumpur"


def test_the_events_page_of_a_stream_one_may_not_see_is_not_found():
    client, _person = _signed_in()

    assert client.get(f"/streams/{StreamFactory().pk}/events/").status_code == 404


def test_switching_language_is_saved_on_the_person_and_speaks_chinese():
    client, person = _signed_in()

    response = client.post(
        "/preferences/language/", {"language": "zh-hans", "next": "/"}, follow=True
    )

    person.refresh_from_db()
    assert person.language == "zh-hans"
    assert "正在直播" in response.content.decode()


def test_switching_language_before_login_uses_a_cookie():
    client = Client()

    client.post("/preferences/language/", {"language": "zh-hans", "next": "/login/"})
    response = client.get("/login/")

    assert "登录" in response.content.decode()


def test_the_language_switch_never_redirects_off_site():
    client, _person = _signed_in()

    response = client.post(
        "/preferences/language/", {"language": "en", "next": "https://evil.example/"}
    )

    assert response["Location"] == "/"


def test_preferences_reject_an_unknown_time_zone_and_keep_the_old_one():
    client, person = _signed_in()

    response = client.post("/preferences/", {"language": "en", "time_zone": "Mars/Olympus"})

    person.refresh_from_db()
    assert response.status_code == 200
    assert person.time_zone == "Asia/Shanghai"
    assert response.context["form"].errors["time_zone"]


def test_navigation_follows_the_persons_roles():
    staff_client, _ = _signed_in(is_staff=True)
    client, _ = _signed_in()

    assert b'href="/admin/"' in staff_client.get("/").content
    assert b'href="/admin/"' not in client.get("/").content
