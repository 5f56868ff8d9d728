from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from rooms.models import CrewRole, Role, Stream
from tests.factories import (
    PASSWORD,
    CrewAssignmentFactory,
    StreamFactory,
    StreamTemplateFactory,
    StudioFactory,
    TemplateCrewSlotFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_producer_plans_from_a_template_meets_a_clash_fixes_it_and_sees_the_week_update(
    asgi_server, browse
):
    producer = UserFactory(username="li.na", roles=[Role.PRODUCER], time_zone="Asia/Shanghai")
    host = UserFactory(display_name="Xiao Mei")
    cohost = UserFactory(display_name="A Jie")
    studio = StudioFactory(
        name="Studio A", time_zone="Asia/Shanghai", members=[producer, host, cohost]
    )
    template = StreamTemplateFactory(
        studio=studio, name="Beauty Night", title="Beauty Night", duration=timedelta(hours=3)
    )
    TemplateCrewSlotFactory(template=template, role=CrewRole.HOST, person=host)
    TemplateCrewSlotFactory(template=template, role=CrewRole.CO_HOST, person=None)
    day = date.today() + timedelta(days=10)
    # A Jie already hosts a 20:00 show that evening in another studio.
    other_start = datetime.combine(day, datetime.min.time().replace(hour=20), SHANGHAI)
    CrewAssignmentFactory(
        person=cohost,
        role=CrewRole.HOST,
        stream=StreamFactory(
            studio=StudioFactory(name="Studio B", members=[producer]),
            title="Fashion Live",
            planned_start=other_start,
            planned_end=other_start + timedelta(hours=2),
        ),
    )

    def scenario(page):
        page.goto(f"{asgi_server.url}/login/")
        page.get_by_label("Username").fill("li.na")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.get_by_role("link", name="Templates").click()
        page.get_by_role("link", name="Plan streams").click()
        page.get_by_label("First day").fill(day.isoformat())
        page.get_by_role("button", name="Check dates").click()
        expect(page.get_by_text("No clashes")).to_be_visible()
        page.get_by_role("button", name="Create ticked streams").click()

        # The week view, with the new stream still missing its co-host.
        show = page.locator(".calendar-stream", has_text="Beauty Night")
        expect(show).to_contain_text("20:00–23:00")
        expect(show).to_contain_text("1 role to fill")
        show.get_by_role("link", name="Beauty Night").click()

        page.get_by_label("Person").select_option(label="A Jie")
        page.get_by_label("Role").select_option(label="Co-host")
        page.get_by_role("button", name="Assign").click()
        clash = page.get_by_role("alert").filter(has_text="already booked")
        expect(clash).to_contain_text("A Jie is already booked on “Fashion Live” in Studio B")

        # Fix it: move the show four hours earlier (her 20:00 call then comes after it).
        page.get_by_role("link", name="Calendar").click()
        block = page.locator(".calendar-stream", has_text="Beauty Night")
        box = block.bounding_box()
        track = block.locator("xpath=..").bounding_box()
        four_hours = track["height"] / 24 * 4
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 30)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 30 - four_hours / 2)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 30 - four_hours)
        page.mouse.up()
        moved = page.locator(".calendar-stream", has_text="Beauty Night")
        expect(moved).to_contain_text("16:00–19:00")

        moved.get_by_role("link", name="Beauty Night").click()
        page.get_by_label("Person").select_option(label="A Jie")
        page.get_by_label("Role").select_option(label="Co-host")
        page.get_by_role("button", name="Assign").click()
        expect(page.get_by_text("A Jie assigned.")).to_be_visible()

        page.get_by_role("link", name="Calendar").click()
        final = page.locator(".calendar-stream", has_text="Beauty Night")
        expect(final).to_contain_text("16:00–19:00")
        expect(final.locator(".badge")).to_have_count(0)

    browse(scenario)

    stream = Stream.objects.get(template=template)
    assert stream.planned_start == other_start - timedelta(hours=4)
    assert set(stream.crew.values_list("person__display_name", "role")) == {
        ("Xiao Mei", CrewRole.HOST),
        ("A Jie", CrewRole.CO_HOST),
    }
