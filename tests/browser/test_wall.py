"""The wall screen end to end: a TV pairs with a code, follows a live stream in both
languages, shows the API's numbers, and goes back to its code when it is unpaired.

The browser runs in a thread of its own (see `browse`); database steps the scenario needs
(approving the code, taking platform events in, revoking) are handed to the test's main
thread, where Django's database connection lives.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from rooms import services, simulator
from rooms.models import IngestEvent, IngestStatus, LiveCueKind, Role, ScreenToken, StreamStatus
from tests.browser.conftest import MainThread
from tests.conftest import post_events, wait_until
from tests.factories import LineupItemFactory, StreamFactory, StudioFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TILES = ("gmv", "orders", "online", "gpm")
# The TV polls every five seconds for its token; allow two polls and a reload.
PAIRED_WITHIN_MS = 20_000


def _platform_events(started) -> list[dict]:
    """Orders paid, one refunded, one only placed; two viewer samples a few seconds apart."""

    def at(seconds: int) -> str:
        return (started + timedelta(seconds=seconds)).isoformat()

    def order(n: int, seconds: int, order_id: str, amount: str, status: str) -> dict:
        return {
            "id": f"evt-{n}",
            "type": "order",
            "at": at(seconds),
            "order_id": order_id,
            "sku": "SKU-1",
            "quantity": 1,
            "amount": amount,
            "status": status,
        }

    return [
        {"id": "evt-1", "type": "viewers", "at": at(1), "online": 1200, "entered_total": 5000},
        order(2, 2, "o-1", "129.00", "placed"),
        order(3, 3, "o-1", "129.00", "paid"),
        order(4, 4, "o-2", "199.00", "paid"),
        order(5, 5, "o-3", "59.90", "paid"),
        order(6, 6, "o-3", "59.90", "refunded"),
        order(7, 7, "o-4", "89.00", "placed"),
        {"id": "evt-8", "type": "viewers", "at": at(8), "online": 1500, "entered_total": 6400},
    ]


def _tiles_shown(page) -> dict[str, str]:
    return page.evaluate(
        """(names) => Object.fromEntries(names.map((name) => [name,
            document.querySelector(`[data-tile="${name}"] [data-value]`).textContent.trim()]))""",
        list(TILES),
    )


def _wait_for_tiles(page, expected: dict[str, str]) -> None:
    page.wait_for_function(
        """(expected) => Object.entries(expected).every(([name, value]) =>
            document.querySelector(`[data-tile="${name}"] [data-value]`)
                ?.textContent.trim() === value)""",
        arg=expected,
    )


def _api_tiles(page, stream_id: int) -> dict[str, str]:
    """What GET /api/v1/streams/<id>/live says, asked with the TV's own credential."""
    tiles = page.evaluate(
        """async (url) => (await (await fetch(url, {credentials: "same-origin"})).json())
            .metrics.tiles""",
        f"/api/v1/streams/{stream_id}/live",
    )
    return {name: str(tiles[name]) for name in TILES}


def test_a_tv_pairs_with_a_code_shows_the_live_numbers_in_both_languages_until_unpaired(
    asgi_server, celery_worker, browse, settings, tmp_path
):
    # Revoking closes the socket at the next heartbeat; keep it short so the test is quick.
    settings.MCN_WS_HEARTBEAT_SECONDS = 1
    producer = UserFactory(roles=[Role.PRODUCER], display_name="Zhang Wei")
    studio = StudioFactory(name="Studio A", members=[producer])
    stream = StreamFactory(studio=studio, title="Autumn Skincare")
    LineupItemFactory(stream=stream, link_number=1, name="Hyaluronic serum 30ml", sku="SKU-1")
    LineupItemFactory(stream=stream, link_number=2, name="Repair cream 50g", sku="SKU-2")
    stream = services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)
    services.show_move(actor=producer, stream=stream, to=0, seen_moves=0)
    services.cue_call(actor=producer, stream=stream, kind=LiveCueKind.PIN, link_number=1, go=True)
    main = MainThread()
    webhook = simulator.Webhook(
        base_url=asgi_server.url,
        channel_key=stream.channel.key,
        secret=stream.channel.secrets.get().secret,
    )
    shots = {"en": tmp_path / "wall-en.png", "zh": tmp_path / "wall-zh-hans.png"}

    def approve(code: str) -> None:
        services.screen_pairing_approve(
            actor=producer,
            user_code=code,
            studio=studio,
            name="Studio A wall",
            lifetime=timedelta(days=1),
        )

    def take_platform_events() -> None:
        started = timezone.now() - timedelta(seconds=30)
        response = post_events(Client(), stream.channel, _platform_events(started))
        assert response.json()["accepted"] == 8
        wait_until(
            lambda: not IngestEvent.objects.filter(status=IngestStatus.PENDING).exists(),
            timeout=30,
        )
        services.cue_call(
            actor=producer,
            stream=stream,
            kind=LiveCueKind.PRICE_CHANGE,
            link_number=2,
            params={"price": "169.00"},
            go=True,
        )

    def dispatched() -> None:
        wait_until(
            lambda: not IngestEvent.objects.filter(status=IngestStatus.PENDING).exists(),
            timeout=30,
        )

    def revoke() -> None:
        services.screen_token_revoke(actor=producer, token=ScreenToken.objects.get())

    def scenario(page):
        problems = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda message: (
                problems.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.goto(f"{asgi_server.url}/screen/")
        page.wait_for_function("() => document.getElementById('pairing-code').dataset.code")
        code = page.locator("#pairing-code").inner_text()
        main(lambda: approve(code))

        expect(page.locator("[data-wall]")).to_be_visible(timeout=PAIRED_WITHIN_MS)
        expect(page.locator("#wall-title")).to_have_text("Autumn Skincare")
        expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
        expect(page.locator("#wall-pinned")).to_contain_text("Hyaluronic serum 30ml")

        main(take_platform_events)
        api = _api_tiles(page, stream.pk)
        _wait_for_tiles(page, api)
        english = _tiles_shown(page)
        expect(page.locator(".chart-marker-label")).to_have_text(["#1", "#2 Price"])
        expect(page.locator("#show-now")).to_have_text("#1 Hyaluronic serum 30ml")
        page.screenshot(path=shots["en"])

        # Then a simulated stream: comments, orders and viewers through the signed webhook.
        simulator.run(webhook=webhook, rate=40, duration=10, seed=5, report=lambda _: None)
        main(dispatched)
        simulated = _api_tiles(page, stream.pk)
        _wait_for_tiles(page, simulated)
        after_simulation = _tiles_shown(page)

        page.goto(f"{asgi_server.url}/screen/?lang=zh-hans")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.locator('[data-tile="online"] .wall-tile-label')).to_have_text("当前在线")
        expect(page.locator("[data-connection]")).to_have_attribute("data-connection", "live")
        _wait_for_tiles(page, simulated)
        chinese = _tiles_shown(page)
        page.screenshot(path=shots["zh"])

        main(revoke)
        expect(page.locator("[data-pairing]")).to_be_visible(timeout=10_000)
        page.wait_for_function("() => document.getElementById('pairing-code').dataset.code")
        return api, english, simulated, after_simulation, chinese, problems

    api, english, simulated, after_simulation, chinese, problems = main.serve(
        browse, scenario, viewport=(1920, 1080)
    )

    # By hand: paid o-1 129.00 and o-2 199.00 (o-3 refunded, o-4 only placed); 6,400 entered.
    assert api == {"gmv": "328.00", "orders": "2", "online": "1500", "gpm": "51.25"}
    assert english == api
    # The simulated stream sold more (its orders are paid 2–20 s after they are placed).
    assert int(simulated["orders"]) > int(api["orders"])
    assert after_simulation == simulated
    assert chinese == simulated
    assert problems == []  # no script error, nothing refused by the Content-Security-Policy
    for shot in shots.values():
        assert shot.read_bytes().startswith(b"\x89PNG")
        assert shot.stat().st_size > 50_000
    assert Decimal(api["gmv"]) * 1000 / 6400 == Decimal(api["gpm"])
