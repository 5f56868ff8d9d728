import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from rooms import services
from rooms.models import CrewRole, LiveCueKind, Role, StreamStatus
from tests.factories import (
    PASSWORD,
    CrewAssignmentFactory,
    LineupItemFactory,
    StreamFactory,
    StudioFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRODUCTS = ("Hydrating mask", "Repair serum", "Night cream", "Lipstick gift set", "Sunscreen")


def _live_stream(studio, title="Autumn Skincare"):
    stream = StreamFactory(studio=studio, title=title)
    for number, name in enumerate(PRODUCTS, start=1):
        LineupItemFactory(stream=stream, name=name, position=number, link_number=number)
    return services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)


def _session_cookie(person, server) -> dict:
    """A signed-in session for a second browser, without going through the sign-in page."""
    client = Client()
    client.force_login(person)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": server.url,
    }


def _deaf(socket) -> None:
    """Connects a page's websocket but drops everything the server sends it."""
    server = socket.connect_to_server()
    server.on_message(lambda message: None)


def _sign_in(page, server, username):
    page.goto(f"{server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_the_operator_moves_the_show_and_fires_a_pin_and_the_crew_follows(asgi_server, browse):
    operator = UserFactory(
        username="zhang.wei", display_name="Zhang Wei", roles=[Role.ROOM_OPERATOR]
    )
    # The operator's assistant at the second desk follows the room operator's cues.
    assistant = UserFactory(display_name="Chen Jing")
    stream = _live_stream(StudioFactory(members=[operator]))
    CrewAssignmentFactory(stream=stream, person=operator, role=CrewRole.ROOM_OPERATOR)
    CrewAssignmentFactory(stream=stream, person=assistant, role=CrewRole.ROOM_OPERATOR)
    follower_session = _session_cookie(assistant, asgi_server)

    def scenario(console):
        _sign_in(console, asgi_server, "zhang.wei")
        console.get_by_role("link", name="console", exact=True).click()
        expect(console.locator("#connection")).to_have_attribute("data-state", "live")
        expect(console.get_by_test_id("now-title")).to_have_text("Not started")
        expect(console.locator("#operator")).to_have_attribute("data-online", "true")

        follower_context = console.context.browser.new_context(
            viewport={"width": 1280, "height": 800}
        )
        follower_context.add_cookies([follower_session])
        follow = follower_context.new_page()
        follow.goto(f"{asgi_server.url}/streams/{stream.pk}/follow/")
        expect(follow.locator("#connection")).to_have_attribute("data-state", "live")
        expect(follow.get_by_test_id("operator-offline")).to_be_hidden()
        expect(follow.get_by_test_id("now-title")).to_have_text("Not started")

        # Start the show, then on to the second product, from the keyboard.
        console.keyboard.press("ArrowRight")
        expect(console.get_by_test_id("now-title")).to_have_text("#1 Hydrating mask")
        expect(console.locator("#back")).to_be_disabled()
        console.keyboard.press("Space")
        expect(console.get_by_test_id("now-title")).to_have_text("#2 Repair serum")
        expect(console.locator("#back")).to_be_enabled()
        expect(console.locator("#segments .segment.current")).to_have_text(
            re.compile("Repair serum")
        )
        expect(follow.get_by_test_id("now-title")).to_have_text("#2 Repair serum")
        expect(follow.get_by_test_id("next-title")).to_have_text("#3 Night cream")
        expect(follow.locator("#countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))

        # An ad hoc pin of the next product: standby, GO, confirmed.
        console.get_by_label("Product").select_option("3")
        console.get_by_label("Cue", exact=True).select_option("pin")
        console.locator("#adhoc-standby").click()
        console_cue = console.locator("#cues .cue", has_text="#3 Night cream")
        follow_cue = follow.locator("#cues .follow-cue", has_text="#3 Night cream")
        expect(console_cue).to_have_attribute("data-state", "standby")
        expect(follow_cue).to_have_attribute("data-state", "standby")
        expect(follow_cue.locator(".follow-cue-state")).to_have_text("Standby")

        console_cue.get_by_role("button", name="GO").click()
        expect(follow_cue).to_have_attribute("data-state", "go")
        expect(follow_cue.locator(".follow-cue-state")).to_have_text("GO")
        expect(follow.get_by_test_id("pinned")).to_have_text(re.compile("#3 Night cream"))

        console_cue.get_by_role("button", name="Confirm").click()
        expect(follow_cue).to_have_attribute("data-state", "confirmed")
        expect(console.get_by_test_id("cue-log").locator(".log-entry").first).to_have_text(
            re.compile(r"Confirmed · Pin / explain \(讲解\) · #3 Night cream.*Zhang Wei")
        )

        # The operator leaves the console: the crew is told, and keeps counting.
        console.get_by_role("link", name="Live events").click()
        expect(follow.get_by_test_id("operator-offline")).to_be_visible()
        expect(follow.get_by_test_id("now-title")).to_have_text("#2 Repair serum")
        counted = follow.locator("#countdown").text_content()
        expect(follow.locator("#countdown")).not_to_have_text(counted)
        follower_context.close()

    browse(scenario)

    stream.show.refresh_from_db()
    assert stream.show.position == 1
    assert stream.show.pinned == [3]
    assert stream.show.operator_online is False
    assert list(stream.cues.values_list("kind", "state", "done_by__username")) == [
        (LiveCueKind.PIN, "confirmed", "zhang.wei")
    ]


def test_refusals_are_shown_beside_their_controls_and_keep_what_was_typed(asgi_server, browse):
    producer = UserFactory(username="li.na", roles=[Role.PRODUCER])
    studio = StudioFactory(members=[producer])
    stream = _live_stream(studio)
    services.show_move(actor=producer, stream=stream, to=0, seen_moves=0)
    for link in (1, 2, 3):
        services.cue_call(
            actor=producer, stream=stream, kind=LiveCueKind.PIN, link_number=link, go=True
        )
    # Scheduled, with no lineup and no crew: not ready to go live.
    unready = StreamFactory(
        studio=studio, title="Tomorrow's show", planned_start=timezone.now() + timedelta(days=1)
    )

    def scenario(page):
        _sign_in(page, asgi_server, "li.na")
        # A second console whose socket hears nothing: it still believes the show is on #1.
        stale = page.context.new_page()
        stale.route_web_socket(re.compile("/ws/streams/"), _deaf)
        stale.goto(f"{asgi_server.url}/streams/{stream.pk}/console/")
        expect(stale.get_by_test_id("now-title")).to_have_text("#1 Hydrating mask")

        page.goto(f"{asgi_server.url}/streams/{stream.pk}/console/")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        expect(page.get_by_test_id("pinned").locator(".pinned-product")).to_have_count(3)
        page.get_by_role("button", name="Next").click()
        expect(page.get_by_test_id("now-title")).to_have_text("#2 Repair serum")

        stale.get_by_role("button", name="Next").click()
        expect(stale.locator("#move-error")).to_have_text(
            "The show was moved meanwhile; it is now at segment 2."
        )
        expect(stale.get_by_test_id("now-title")).to_have_text("#2 Repair serum")
        stale.close()

        page.get_by_label("Product").select_option("4")
        page.get_by_label("Cue", exact=True).select_option("pin")
        page.locator("#adhoc-go").click()
        expect(page.locator("#adhoc-error")).to_have_text(
            "3 products are pinned already (#1, #2, #3): unpin one first."
        )
        expect(page.get_by_label("Product")).to_have_value("4")

        page.get_by_label("Cue", exact=True).select_option("price_change")
        page.get_by_label("Price").fill("abc")
        page.locator("#adhoc-go").click()
        expect(page.locator("#adhoc-error")).to_have_text("Enter an amount above zero.")
        expect(page.get_by_label("Price")).to_have_value("abc")
        expect(page.get_by_label("Price")).to_have_attribute("aria-invalid", "true")

        # Unpin one, and the fourth goes up.
        page.get_by_test_id("pinned").locator(".pinned-product", has_text="#1").get_by_role(
            "button", name="Unpin"
        ).click()
        expect(page.get_by_test_id("pinned").locator(".pinned-product")).to_have_count(2)
        page.get_by_label("Cue", exact=True).select_option("pin")
        page.locator("#adhoc-go").click()
        expect(page.locator("#adhoc-error")).to_be_hidden()
        expect(page.get_by_test_id("pinned")).to_have_text(re.compile("#4 Lipstick gift set"))

        # A flash sale counts down to its end.
        page.get_by_label("Cue", exact=True).select_option("flash_sale")
        page.get_by_label("Price").fill("99")
        page.get_by_label("Quantity").fill("50")
        page.get_by_label("Seconds").fill("120")
        page.locator("#adhoc-go").click()
        expect(page.locator("#flash .flash-sale")).to_have_text(re.compile(r"1:\d\d left"))

        page.goto(f"{asgi_server.url}/streams/{unready.pk}/console/")
        page.get_by_role("button", name="Go live").click()
        expect(page.locator("#stream-error")).to_have_text(re.compile("^Not ready to go live"))
        expect(page.locator("#next")).to_be_disabled()

    browse(scenario)

    unready.refresh_from_db()
    assert unready.status == StreamStatus.SCHEDULED
    stream.show.refresh_from_db()
    assert stream.show.pinned == [2, 3, 4]
    assert stream.show.position == 1
