"""Ad boosts end to end, in a real browser: a metric spike through the signed webhook puts a
card on the ad buyer's board, the buyer accepts it from the keyboard, an ad approver (in a
browser of their own) approves it, a Celery worker makes the platform change, and the wall
screen shows the boost in its status panel and on the trend chart.

The browsers run in a thread of their own (see `browse`); the platform's reports are taken
in by the test's main thread, where Django's database connection lives.
"""

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from ads.models import BoostDecision, BoostIntent, SandboxCampaign
from rooms import services as rooms_services
from rooms.models import CrewRole, IngestEvent, IngestStatus, ProductKind, Role, StreamStatus
from tests.ads.metrics import ad_metrics, ingest, minutes_ago, paid_order, viewers
from tests.browser.conftest import MainThread
from tests.conftest import wait_until
from tests.factories import (
    BoostDecisionFactory,
    BoostRuleFactory,
    CampaignFactory,
    CrewAssignmentFactory,
    LineupItemFactory,
    SandboxCampaignFactory,
    StreamFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CAMPAIGN = "qc-live-1"
# Signals travel over the websocket at once; the wall re-reads its panels 5 s after a boost.
LIVE_MS = 10_000
PANEL_MS = 20_000


def _stream_on_air(producer):
    """A live stream on its first product (a loss-leader), the hero next."""
    stream = StreamFactory(title="Autumn Skincare")
    stream.studio.members.add(producer)
    LineupItemFactory(
        stream=stream,
        position=1,
        name="Hydrating mask",
        sku="SKU-MASK",
        kind=ProductKind.TRAFFIC,
        live_price=Decimal("9.90"),
        stock=500,
    )
    LineupItemFactory(
        stream=stream,
        position=2,
        name="Repair serum",
        sku="SKU-SERUM",
        kind=ProductKind.HERO,
        live_price=Decimal("259.00"),
        stock=80,
    )
    stream = rooms_services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)
    rooms_services.show_move(actor=producer, stream=stream, to=0, seen_moves=0)
    return stream


def _session_cookie(person, server) -> dict:
    client = Client()
    client.force_login(person)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": server.url,
    }


def _page_as(page, cookie):
    """A browser of its own (cookies are per context) signed in with `cookie`."""
    context = page.context.browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="en-GB"
    )
    context.add_cookies([cookie])
    return context.new_page()


def _watch(page, problems: list[str]) -> None:
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content-Security-Policy" in message.text else None
        ),
    )


def test_a_metric_spike_makes_a_card_the_buyer_accepts_an_approver_approves_and_the_wall_shows(
    asgi_server, celery_worker, browse
):
    producer = UserFactory(roles=[Role.PRODUCER], username="li.na")
    stream = _stream_on_air(producer)
    campaign = CampaignFactory(
        stream=stream,
        account__channel=stream.channel,
        external_id=CAMPAIGN,
        name="Live room promotion",
        budget=Decimal("1000.00"),
    )
    SandboxCampaignFactory(external_id=CAMPAIGN, budget=Decimal("1000.00"))
    BoostRuleFactory(
        account=campaign.account,
        name="Push when ROI beats break-even",
        conditions=[{"metric": "roi", "window": 5, "op": ">", "value": "break_even"}],
        min_spend=Decimal("100"),
        amount=Decimal("1500"),
        approval_above=Decimal("1000"),
        cooldown_minutes=5,
    )
    buyer = UserFactory(roles=[Role.AD_BUYER], username="chen.qiang")
    CrewAssignmentFactory(stream=stream, person=buyer, role=CrewRole.AD_BUYER)
    approver = UserFactory(roles=[Role.AD_APPROVER], username="priya")
    stream.studio.members.add(approver)
    cookies = {
        person: _session_cookie(person, asgi_server) for person in (buyer, approver, producer)
    }
    main = MainThread()
    problems: list[str] = []

    def taken_in() -> None:
        # The worker may dispatch the batch before the test's own call does: either way,
        # wait until every report is in.
        wait_until(
            lambda: not IngestEvent.objects.filter(status=IngestStatus.PENDING).exists(),
            timeout=30,
        )

    def quiet_minutes() -> None:
        # ¥300 of sales on ¥200 of spend: ROI 1.5, under the break-even ROI of 3.125.
        ingest(
            stream,
            [
                viewers(minutes_ago(4), 800, 2000),
                paid_order("o-1", minutes_ago(4), "259.00", sku="SKU-SERUM"),
                ad_metrics(CAMPAIGN, minutes_ago(3), spend="200", gmv="300"),
                viewers(minutes_ago(3), 900, 2600),
            ],
        )
        taken_in()

    def spike() -> int:
        # Then sales jump: ¥4,000 on ¥400 over the last five minutes, ROI 10.
        ingest(
            stream,
            [
                paid_order("o-2", minutes_ago(2), "19.80", sku="SKU-MASK", quantity=2),
                viewers(minutes_ago(1), 1500, 4100),
                ad_metrics(CAMPAIGN, minutes_ago(1), spend="400", gmv="4000"),
            ],
        )
        taken_in()
        return wait_until(lambda: BoostDecision.objects.values_list("pk", flat=True).first())

    def scenario(page):
        boards = {}
        for person in (buyer, approver):
            boards[person] = _page_as(page, cookies[person])
            _watch(boards[person], problems)
            boards[person].goto(f"{asgi_server.url}/ads/streams/{stream.pk}/")
            expect(boards[person].locator("#connection")).to_have_attribute("data-state", "live")
        wall = _page_as(page, cookies[producer])
        _watch(wall, problems)
        wall.goto(f"{asgi_server.url}/streams/{stream.pk}/wall/")
        expect(wall.locator("[data-connection]")).to_have_attribute("data-connection", "live")

        main(quiet_minutes)
        board = boards[buyer]
        expect(board.locator("#cards-empty")).to_be_visible()
        expect(board.locator("#cards-empty")).to_contain_text("No cards open")

        decision_id = main(spike)
        card = board.locator(f'[data-card="{decision_id}"]')
        expect(card).to_be_visible(timeout=LIVE_MS)
        expect(card.locator(".ad-card-rule")).to_have_text("Push when ROI beats break-even")
        expect(card.locator(".ad-card-change")).to_have_text("Add ¥1,500.00")
        expect(card.locator(".ad-card-budget")).to_have_text("Budget ¥1,000.00 → ¥2,500.00")
        evidence = card.get_by_test_id("evidence")
        expect(evidence.locator(".ad-condition")).to_have_text(
            ["ROI (last 5 min)10.00>break-even 3.13✓ held"]
        )
        expect(evidence).to_contain_text("spend ¥400.00 · GMV ¥4,000.00")
        show = card.get_by_test_id("show")
        expect(show.locator(".now")).to_contain_text("#1 Hydrating mask")
        expect(show.locator(".now")).to_contain_text("loss-leader")
        expect(show.locator(".next")).to_contain_text("#2 Repair serum")
        # 80 in stock, one sold in the quiet minutes.
        expect(show.locator(".next")).to_contain_text("79 left")
        first_look = card.get_attribute("aria-selected")

        board.keyboard.press("a")
        expect(card.locator(".ad-card-status")).to_have_text("Needs an approver")
        expect(card.get_by_test_id("card-state")).to_have_text(
            "You accepted it: another person must approve."
        )
        expect(card.locator('button[data-action="approve"]')).to_be_hidden()

        approving = boards[approver].locator(f'[data-card="{decision_id}"]')
        expect(approving.locator(".ad-card-status")).to_have_text("Needs an approver")
        expect(approving.get_by_test_id("card-state")).to_contain_text("Accepted by chen.qiang")
        expect(approving.locator('button[data-action="accept"]')).to_be_hidden()
        approving.locator('button[data-action="approve"]').click()

        for screen in boards.values():
            expect(
                screen.locator(f'[data-card="{decision_id}"]').get_by_test_id("card-state")
            ).to_have_text("Confirmed by the platform", timeout=LIVE_MS)
        expect(board.locator("#campaigns [data-campaign] .campaign-budget")).to_have_text(
            "¥2,500.00", timeout=LIVE_MS
        )
        execution = board.locator("#executions .execution")
        expect(execution).to_have_attribute("data-state", "confirmed", timeout=LIVE_MS)
        execution.locator("details summary").click()
        expect(execution.locator(".audit-entry strong")).to_contain_text(
            ["accepted", "approved", "read_back", "platform_request", "platform_response"]
        )

        expect(wall.locator(".chart-marker-label")).to_have_text(["+¥1,500"], timeout=LIVE_MS)
        panel = wall.locator('[data-panel="ads.boost_status"]')
        expect(panel).to_contain_text("budget 2500.00 CNY", timeout=PANEL_MS)
        expect(panel).to_contain_text("Done")
        return first_look

    first_look = main.serve(browse, scenario)

    assert first_look == "true"
    assert problems == []
    platform = SandboxCampaign.objects.get(external_id=CAMPAIGN)
    assert (platform.budget, platform.changes_today) == (Decimal("2500.00"), 1)
    [intent] = BoostIntent.objects.all()
    assert (intent.state, intent.attempts) == ("confirmed", 1)


def test_a_refused_edit_keeps_the_amount_and_a_card_decided_elsewhere_shows_as_it_is(
    asgi_server, browse
):
    producer = UserFactory(roles=[Role.PRODUCER])
    stream = _stream_on_air(producer)
    campaign = CampaignFactory(
        stream=stream, account__channel=stream.channel, budget=Decimal("1000.00")
    )
    decision = BoostDecisionFactory(campaign=campaign, amount=Decimal("300"))
    buyer = UserFactory(roles=[Role.AD_BUYER], username="chen.qiang")
    colleague = UserFactory(roles=[Role.AD_BUYER], username="wang.lei", display_name="Wang Lei")
    for person in (buyer, colleague):
        CrewAssignmentFactory(stream=stream, person=person, role=CrewRole.AD_BUYER)
    cookie = _session_cookie(buyer, asgi_server)
    main = MainThread()

    def rejected_unheard() -> None:
        # The colleague's rejection, as a screen sees it before the event reaches it.
        BoostDecision.objects.filter(pk=decision.pk).update(
            status="rejected", version=1, decided_by=colleague
        )

    def scenario(page):
        board = _page_as(page, cookie)
        board.goto(f"{asgi_server.url}/ads/streams/{stream.pk}/")
        card = board.locator(f'[data-card="{decision.pk}"]')
        expect(card).to_be_visible()

        board.keyboard.press("e")
        amount = card.locator('input[name="amount"]')
        expect(amount).to_be_focused()
        expect(amount).to_have_value("300.00")
        amount.fill("50")
        board.keyboard.press("Enter")
        expect(card.locator(".control-error")).to_have_text(
            "A change of 50.00 CNY is below the platform's smallest step of 100.00 CNY."
        )
        expect(amount).to_have_value("50")

        main(rejected_unheard)
        amount.fill("200")
        board.keyboard.press("Enter")
        expect(card.get_by_test_id("card-state")).to_have_text("Rejected by wang.lei")
        expect(board.get_by_test_id("notice")).to_have_text(
            "Wang Lei rejected this card meanwhile."
        )
        expect(card.locator(".ad-card-edit")).to_be_hidden()

    main.serve(browse, scenario)

    decision.refresh_from_db()
    assert (decision.status, decision.decided_by) == ("rejected", colleague)
    assert not BoostIntent.objects.exists()


def test_the_kill_switch_asks_first_and_every_board_follows_it(asgi_server, browse):
    producer = UserFactory(roles=[Role.PRODUCER])
    stream = _stream_on_air(producer)
    campaign = CampaignFactory(stream=stream, account__channel=stream.channel)
    buyer = UserFactory(roles=[Role.AD_BUYER])
    CrewAssignmentFactory(stream=stream, person=buyer, role=CrewRole.AD_BUYER)
    cookies = [_session_cookie(person, asgi_server) for person in (buyer, producer)]

    def scenario(page):
        mine, theirs = (_page_as(page, cookie) for cookie in cookies)
        for board in (mine, theirs):
            board.goto(f"{asgi_server.url}/ads/streams/{stream.pk}/")
            expect(board.locator("#connection")).to_have_attribute("data-state", "live")
        switch = mine.locator('[data-kill="stream"]')
        expect(switch.locator(".kill-state")).to_have_text("Off")

        switch.locator('button[data-action="kill"]').click()
        expect(mine.locator("#kill-confirm-text")).to_have_text("Stop all boosts of this stream?")
        mine.locator("#kill-confirm").get_by_role("button", name="Cancel").click()
        expect(switch.locator(".kill-state")).to_have_text("Off")
        switch.locator('button[data-action="kill"]').click()
        mine.locator("#kill-confirm-yes").click()

        expect(switch.locator(".kill-state")).to_have_text("ON: no boost goes out")
        other = theirs.locator('[data-kill="stream"]')
        expect(other.locator(".kill-state")).to_have_text("ON: no boost goes out")
        expect(other).to_contain_text(f"by {buyer.username}")
        account = theirs.locator(f'[data-kill="account-{campaign.account_id}"]')
        account.locator('button[data-action="kill"]').click()
        theirs.locator("#kill-confirm-yes").click()
        expect(
            mine.locator(f'[data-kill="account-{campaign.account_id}"] .kill-state')
        ).to_have_text("ON: no boost goes out")

    browse(scenario)

    campaign.account.refresh_from_db()
    assert campaign.account.killed
    assert stream.ad_kill_switch.killed
