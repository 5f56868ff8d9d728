import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from icalendar import Calendar

from rooms import services
from rooms.models import Channel, CrewAssignment, CrewRole, LineupItem, Role, Stream
from tests.factories import (
    ChannelFactory,
    CrewAssignmentFactory,
    LineupItemFactory,
    StreamFactory,
    StreamTemplateFactory,
    StudioFactory,
    TemplateCrewSlotFactory,
    UserFactory,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")

pytestmark = pytest.mark.django_db


def _producer(**fields):
    producer = UserFactory(roles=[Role.PRODUCER], **fields)
    client = Client()
    client.force_login(producer)
    return client, producer


def _night_show(studio, **fields):
    """A 20:00–23:00 show in the studio on 1 December 2026 (studio time)."""
    start = datetime(2026, 12, 1, 20, 0, tzinfo=SHANGHAI)
    return StreamFactory(
        studio=studio,
        planned_start=start,
        planned_end=start + timedelta(hours=3),
        **fields,
    )


# --- time zones ---------------------------------------------------------------------------


def test_a_stream_planned_at_8pm_in_shanghai_is_stored_as_noon_utc_and_shown_at_8pm_there():
    client, producer = _producer(time_zone="Asia/Shanghai")
    studio = StudioFactory(members=[producer], time_zone="Asia/Shanghai")

    response = client.post(
        "/plan/streams/new/",
        {
            "title": "Night show",
            "studio": studio.pk,
            "channel": ChannelFactory().pk,
            "planned_start": "2026-12-01T20:00",
            "planned_end": "2026-12-01T23:00",
            "setup_minutes": 30,
            "teardown_minutes": 15,
            "required_roles": [CrewRole.HOST],
        },
    )
    stream = Stream.objects.get(title="Night show")
    page = client.get(f"/plan/streams/{stream.pk}/").content.decode()

    assert response.status_code == 302
    assert stream.planned_start == datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("UTC"))
    assert "20:00–23:00 UTC+8" in page
    assert "Your time" not in page


@pytest.mark.parametrize(
    ("day", "london_time"),
    [(date(2026, 12, 1), "12:00–15:00"), (date(2026, 7, 1), "13:00–16:00")],
    ids=["winter", "british-summer-time"],
)
def test_a_person_in_london_sees_a_shanghai_stream_in_their_own_time(day, london_time):
    client, producer = _producer(time_zone="Europe/London")
    studio = StudioFactory(members=[producer], time_zone="Asia/Shanghai")
    start = datetime.combine(day, datetime.min.time().replace(hour=20), SHANGHAI)
    stream = StreamFactory(
        studio=studio, planned_start=start, planned_end=start + timedelta(hours=3)
    )

    page = client.get(f"/plan/streams/{stream.pk}/").content.decode()

    assert "20:00–23:00 UTC+8" in page
    assert "Your time (Europe/London): " in page
    assert london_time in page


# --- calendar -----------------------------------------------------------------------------


def test_the_week_view_shows_the_studios_streams_with_what_needs_attention():
    client, producer = _producer()
    studio = StudioFactory(members=[producer])
    unstaffed = _night_show(studio, title="Unstaffed show", required_roles=[CrewRole.HOST])

    page = client.get(f"/plan/?studio={studio.pk}&date=2026-12-02").content.decode()

    assert "Unstaffed show" in page
    assert f'data-stream="{unstaffed.pk}"' in page
    assert "1 role to fill" in page
    assert "20:00–23:00" in page


def test_the_week_view_filters_by_platform():
    client, producer = _producer()
    studio = StudioFactory(members=[producer])
    _night_show(studio, title="On Douyin", channel=ChannelFactory(platform="douyin"))

    page = client.get(f"/plan/?studio={studio.pk}&date=2026-12-01&platform=tiktok")

    assert "On Douyin" not in page.content.decode()


def test_the_week_view_runs_the_same_number_of_queries_for_few_and_many_streams(
    django_assert_max_num_queries,
):
    client, producer = _producer()
    studio = StudioFactory(members=[producer])
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)

    def plan_week(streams_per_day: int) -> None:
        Stream.objects.filter(studio=studio).delete()
        for day in range(7):
            for slot in range(streams_per_day):
                start = monday + timedelta(days=day, hours=2 * slot)
                stream = StreamFactory(
                    studio=studio,
                    planned_start=start,
                    planned_end=start + timedelta(minutes=90),
                    setup_before=timedelta(0),
                    teardown_after=timedelta(0),
                )
                CrewAssignmentFactory(
                    stream=stream, buffer_before=timedelta(0), buffer_after=timedelta(0)
                )

    plan_week(1)
    with django_assert_max_num_queries(100) as few:
        client.get(f"/plan/?studio={studio.pk}&date=2026-11-30")
    plan_week(6)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        client.get(f"/plan/?studio={studio.pk}&date=2026-11-30")

    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_host_sees_their_own_calendar_but_not_a_studio_they_only_belong_to():
    host = UserFactory(roles=[Role.HOST])
    studio = StudioFactory(members=[host])
    crewed = CrewAssignmentFactory(person=host, stream=_night_show(studio, title="Mine")).stream
    StreamFactory(
        studio=studio,
        title="Not mine",
        planned_start=crewed.planned_end + timedelta(hours=3),
        planned_end=crewed.planned_end + timedelta(hours=5),
    )
    client = Client()
    client.force_login(host)

    page = client.get(f"/plan/?person={host.pk}&date=2026-12-01").content.decode()

    assert "Mine" in page
    assert "Not mine" not in page


# --- crew and lineup on the plan page -----------------------------------------------------


def test_assigning_someone_booked_elsewhere_shows_the_clash_and_saves_nothing():
    client, producer = _producer()
    studio, elsewhere = (
        StudioFactory(members=[producer]),
        StudioFactory(name="Studio B", members=[producer]),
    )
    host = UserFactory(display_name="Xiao Mei")
    studio.members.add(host)
    stream = _night_show(studio)
    CrewAssignmentFactory(person=host, stream=_night_show(elsewhere, title="Other show"))

    response = client.post(
        f"/plan/streams/{stream.pk}/crew/", {"person": host.pk, "role": CrewRole.HOST}
    )

    assert response.status_code == 400
    assert "Xiao Mei is already booked on “Other show” in Studio B" in response.content.decode()
    assert not stream.crew.exists()


def test_an_availability_warning_is_shown_then_accepted():
    client, producer = _producer()
    studio = StudioFactory(members=[producer])
    host = UserFactory(display_name="A Jie", time_zone="Asia/Shanghai")
    studio.members.add(host)
    services.time_off_add(
        actor=producer, person=host, first_day=date(2026, 12, 1), last_day=date(2026, 12, 1)
    )
    stream = _night_show(studio)
    form = {"person": host.pk, "role": CrewRole.CO_HOST}

    warned = client.post(f"/plan/streams/{stream.pk}/crew/", form)
    accepted = client.post(
        f"/plan/streams/{stream.pk}/crew/", {**form, "accept_availability": "on"}
    )

    assert warned.status_code == 400
    assert "A Jie is off" in warned.content.decode()
    assert accepted.status_code == 302
    assert "A Jie is off" in stream.crew.get().availability_note


def test_importing_a_sheet_with_bad_rows_reports_them_and_keeps_the_lineup():
    client, producer = _producer()
    stream = _night_show(StudioFactory(members=[producer]))
    LineupItemFactory(stream=stream, name="Kept product")
    sheet = (
        b"link number,sku,product,type,regular price,live price,stock\n"
        b"1,A-1,Mask,traffic,99,9.9,100\n"
        b"2,A-2,Serum,hero,abc,259,10\n"
        b"3,A-3,Cream,bogus,299,229,5\n"
    )
    upload = _upload("lineup.csv", sheet)

    response = client.post(f"/plan/streams/{stream.pk}/lineup/import/", {"file": upload})
    page = response.content.decode()

    assert response.status_code == 400
    assert "Nothing was imported" in page
    assert "Row 3, regular price" in page
    assert "Row 4, type" in page
    assert list(LineupItem.objects.filter(stream=stream).values_list("name", flat=True)) == [
        "Kept product"
    ]


def test_going_live_with_the_checklist_incomplete_needs_a_recorded_reason():
    client, producer = _producer()
    stream = _night_show(StudioFactory(members=[producer]), required_roles=[CrewRole.HOST])

    refused = client.post(f"/plan/streams/{stream.pk}/status/", {"to": "live"})
    client.post(
        f"/plan/streams/{stream.pk}/readiness/override/", {"reason": "Guest host arrives late"}
    )
    allowed = client.post(f"/plan/streams/{stream.pk}/status/", {"to": "live"})
    stream.refresh_from_db()

    assert refused.status_code == 400
    assert "Not ready to go live" in refused.content.decode()
    assert allowed.status_code == 302
    assert stream.status == "live"
    assert stream.readiness_overrides.get().reason == "Guest host arrives late"


# --- templates ----------------------------------------------------------------------------


def test_a_template_preview_marks_the_clashing_day_and_creating_skips_nothing_silently():
    client, producer = _producer()
    studio = StudioFactory(members=[producer], time_zone="Asia/Shanghai")
    template = StreamTemplateFactory(studio=studio, title="Night show")
    TemplateCrewSlotFactory(template=template, role=CrewRole.HOST, person=None)
    _night_show(studio, title="Already there")  # 1 December

    preview = client.get(
        f"/plan/templates/{template.pk}/",
        {"first_day": "2026-11-30", "repeat": "FREQ=DAILY", "count": 3},
    ).content.decode()
    ticked = re.findall(r'name="start" value="([^"]+)"[^>]*checked', preview)
    created = client.post(
        f"/plan/templates/{template.pk}/",
        {
            "first_day": "2026-11-30",
            "repeat": "FREQ=DAILY",
            "count": 3,
            "create": "1",
            "start": ticked,
        },
    )

    assert "Studio" in preview and "is already booked for “Already there”" in preview
    assert len(ticked) == 2
    assert created.status_code == 302
    assert [
        s.planned_start.astimezone(SHANGHAI).day
        for s in Stream.objects.filter(template=template).order_by("planned_start")
    ] == [30, 2]


# --- calendar feed ------------------------------------------------------------------------


def test_the_ical_feed_parses_and_moves_an_event_when_its_stream_is_rescheduled():
    host = UserFactory(roles=[Role.HOST], display_name="Xiao Mei")
    client = Client()
    client.force_login(host)
    stream = _night_show(StudioFactory(members=[host]), title="Night show")
    booking = CrewAssignment.objects.create(
        stream=stream,
        person=host,
        role=CrewRole.HOST,
        buffer_before=timedelta(hours=1),
        buffer_after=timedelta(0),
        booked=(stream.planned_start - timedelta(hours=1), stream.planned_end),
    )
    page = client.post("/me/calendar/", {"action": "issue"}).content.decode()
    address = re.search(r'data-testid="feed-address">([^<]+)<', page).group(1)
    path = address.removeprefix("http://testserver")

    before = _only_event(Client().get(path))
    services.stream_update(
        actor=None,
        stream=stream,
        planned_start=stream.planned_start + timedelta(hours=2),
        planned_end=stream.planned_end + timedelta(hours=2),
    )
    after = _only_event(Client().get(path))

    assert before["uid"] == after["uid"] == f"crew-{booking.pk}@testserver"
    assert before["dtstart"].dt == datetime(2026, 12, 1, 19, 0, tzinfo=SHANGHAI)
    assert after["dtstart"].dt == datetime(2026, 12, 1, 21, 0, tzinfo=SHANGHAI)
    assert after["sequence"] > before["sequence"]
    assert "Night show" in str(after["summary"])


def test_a_revoked_calendar_address_stops_working():
    host = UserFactory(roles=[Role.HOST])
    client = Client()
    client.force_login(host)
    page = client.post("/me/calendar/", {"action": "issue"}).content.decode()
    path = re.search(r'data-testid="feed-address">([^<]+)<', page).group(1)
    path = path.removeprefix("http://testserver")

    client.post("/me/calendar/", {"action": "revoke"})

    assert Client().get(path).status_code == 404


def _only_event(response) -> dict:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar"
    (event,) = Calendar.from_ical(response.content).walk("VEVENT")
    return {
        "uid": str(event["UID"]),
        "dtstart": event["DTSTART"],
        "sequence": int(event["SEQUENCE"]),
        "summary": event["SUMMARY"],
    }


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")


# --- studios and channels -----------------------------------------------------------------


def test_a_producer_sets_up_a_studio_and_a_channel_seeing_the_ingest_secret_once():
    client, producer = _producer()

    client.post("/plan/studios/new/", {"name": "Studio C", "time_zone": "Asia/Bangkok"})
    page = client.post(
        "/plan/channels/new/",
        {
            "key": "shopee-th",
            "name": "Shopee TH",
            "platform": "shopee",
            "currency": "THB",
            "time_zone": "Asia/Bangkok",
        },
    ).content.decode()
    studio = producer.studios.get()
    secret = Channel.objects.get(key="shopee-th").secrets.get().secret

    assert studio.name == "Studio C"
    assert secret in page
    assert secret not in client.get("/plan/studios/").content.decode()


def test_a_studio_with_streams_is_kept_and_an_empty_one_deleted():
    client, producer = _producer()
    busy, empty = StudioFactory(members=[producer]), StudioFactory(members=[producer])
    _night_show(busy)

    refused = client.post(f"/plan/studios/{busy.pk}/delete/", follow=True).content.decode()
    client.post(f"/plan/studios/{empty.pk}/delete/")

    assert "has streams" in refused
    assert list(producer.studios.all()) == [busy]


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/plan/", {"date": "0001-01-01"}),
        ("get", "/plan/", {"date": "9999-12-31", "view": "week"}),
        ("post", "/plan/streams/new/", {"planned_start": "9999-12-31T20:00"}),
        ("get", "/plan/templates/{template}/", {"first_day": "0001-01-01"}),
        (
            "post",
            "/people/{me}/availability/",
            {"form": "off", "first_day": "2027-01-01", "last_day": "9999-12-31"},
        ),
        ("post", "/people/{me}/availability/", {"form": "remove-off", "id": "abc"}),
    ],
    ids=[
        "calendar-year-1",
        "calendar-year-9999",
        "stream-9999",
        "template-year-1",
        "time-off-9999",
        "remove-off-abc",
    ],
)
def test_out_of_range_and_malformed_input_is_refused_not_an_error(method, path, data):
    client, producer = _producer()
    studio = StudioFactory(members=[producer])
    template = StreamTemplateFactory(studio=studio)
    url = path.format(template=template.pk, me=producer.pk)

    response = getattr(client, method)(url, {"studio": studio.pk, **data})

    assert response.status_code in (200, 400, 404)
    assert producer.time_off.count() == 0
    assert not Stream.objects.exists()


def test_products_move_up_and_down_the_running_order_from_the_plan_page():
    client, producer = _producer()
    stream = _night_show(StudioFactory(members=[producer]))
    _first, second = (LineupItemFactory(stream=stream, name=name) for name in ("Mask", "Serum"))

    client.post(f"/plan/streams/{stream.pk}/lineup/{second.pk}/", {"action": "up"})
    client.post(f"/plan/streams/{stream.pk}/lineup/{second.pk}/", {"action": "up"})

    assert list(stream.lineup.order_by("position").values_list("name", flat=True)) == [
        "Serum",
        "Mask",
    ]


def test_editing_only_the_title_of_a_live_stream_whose_start_has_seconds_is_not_a_move():
    client, producer = _producer()
    start = datetime(2026, 12, 1, 20, 0, 30, tzinfo=SHANGHAI)
    stream = StreamFactory(
        studio=StudioFactory(members=[producer]),
        planned_start=start,
        planned_end=start + timedelta(hours=3),
        status="live",
    )
    form = client.get(f"/plan/streams/{stream.pk}/edit/").context["form"]
    data = {name: form[name].value() for name in form.fields}

    response = client.post(f"/plan/streams/{stream.pk}/edit/", {**data, "title": "Renamed"})
    stream.refresh_from_db()

    assert response.status_code == 302
    assert stream.title == "Renamed"
    assert stream.planned_start == start


def test_a_start_time_skipped_when_the_clocks_go_forward_is_refused():
    client, producer = _producer()
    studio = StudioFactory(members=[producer], time_zone="Europe/London")

    response = client.post(
        "/plan/streams/new/",
        {
            "title": "Night owls",
            "studio": studio.pk,
            "channel": ChannelFactory().pk,
            "planned_start": "2027-03-28T01:30",
            "planned_end": "2027-03-28T04:00",
            "setup_minutes": 0,
            "teardown_minutes": 0,
        },
    )

    assert response.status_code == 200
    assert "2027-03-28 01:30 does not exist in Europe/London" in response.content.decode()
    assert not Stream.objects.exists()


def test_on_the_night_the_clocks_change_a_show_is_drawn_at_its_wall_clock_time():
    client, producer = _producer()
    studio = StudioFactory(members=[producer], time_zone="Europe/London")
    # Saturday's column runs to 06:00 on Sunday; at 01:00 the clocks go forward.
    start = datetime(2027, 3, 28, 3, 0, tzinfo=ZoneInfo("Europe/London"))
    StreamFactory(studio=studio, planned_start=start, planned_end=start + timedelta(hours=2))

    page = client.get(f"/plan/?studio={studio.pk}&view=day&date=2027-03-27").content.decode()

    # 03:00 is drawn 21 hours below 06:00 (87.5 %), though only 20 hours have passed.
    assert 'data-top="87.500"' in page


def test_a_host_opening_the_plan_starts_on_their_own_streams():
    host = UserFactory(roles=[Role.HOST], display_name="Xiao Mei")
    StudioFactory(members=[host], name="Studio A")
    client = Client()
    client.force_login(host)

    page = client.get("/plan/").content.decode()

    assert "Xiao Mei's streams" in page
