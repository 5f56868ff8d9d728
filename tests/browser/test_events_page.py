import pytest
from playwright.sync_api import expect

from rooms import simulator
from rooms.models import Role
from tests.factories import PASSWORD, StreamFactory, StudioFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_watches_simulated_events_arrive_and_switches_to_chinese(
    asgi_server, celery_worker, browse
):
    operator = UserFactory(username="zhang.wei", roles=[Role.ROOM_OPERATOR])
    stream = StreamFactory(studio=StudioFactory(members=[operator]), title="Autumn Skincare")
    webhook = simulator.Webhook(
        base_url=asgi_server.url,
        channel_key=stream.channel.key,
        secret=stream.channel.secrets.get().secret,
    )

    def scenario(page):
        page.goto(f"{asgi_server.url}/login/")
        page.get_by_label("Username").fill("zhang.wei")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Autumn Skincare").click()
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

        simulator.run(webhook=webhook, rate=20, duration=3, seed=3, report=lambda _: None)
        expect(page.locator(".feed-comment").first).to_be_visible()
        expect(page.locator(".feed-order").first).to_be_visible()
        expect(page.locator(".feed-stream")).to_have_count(2)  # went live, then ended
        live_ids = _feed_ids(page)

        page.get_by_role("button", name="中文").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.get_by_role("heading", name="实时动态")).to_be_visible()
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        return live_ids, _feed_ids(page)

    live_ids, reloaded_ids = browse(scenario)

    assert live_ids == list(range(live_ids[0], 0, -1))
    assert reloaded_ids == live_ids
    assert len(live_ids) > 20


def _feed_ids(page) -> list[int]:
    """The ids of the feed's rows, newest first, as the page shows them."""
    return page.locator(".feed-item").evaluate_all(
        "rows => rows.map(row => Number(row.dataset.id))"
    )
