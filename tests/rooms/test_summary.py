"""The post-stream summary (复盘): a stream worked through by hand, minute by minute."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rooms import selectors, services
from rooms.models import CrewRole, IngestEvent, ProductKind, Role, StreamStatus
from tests.conftest import post_events
from tests.factories import (
    CrewAssignmentFactory,
    LineupItemFactory,
    StreamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

EIGHT_PM = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai


def _at(minutes: int, seconds: int = 0) -> datetime:
    return EIGHT_PM + timedelta(minutes=minutes, seconds=seconds)


def _paid(event_id, sku, amount, quantity, minutes, seconds=0, status="paid", order_id=None):
    return {
        "id": event_id,
        "type": "order",
        "at": _at(minutes, seconds).isoformat(),
        "order_id": order_id or event_id,
        "sku": sku,
        "quantity": quantity,
        "amount": amount,
        "status": status,
    }


def _viewers(event_id, minutes, seconds, online, entered):
    return {
        "id": event_id,
        "type": "viewers",
        "at": _at(minutes, seconds).isoformat(),
        "online": online,
        "entered_total": entered,
    }


# The show, in studio time: live 20:00; #1 Face cream 20:01–20:13; #2 Lipstick 20:13–20:20;
# back to #1 20:20–20:24; #3 Serum 20:24–20:30; ended 20:30. Each segment planned 10 minutes.
ORDERS = [
    _paid("x", "SKU-A", "10", 1, 0, 30),  # before the first segment
    _paid("a1", "SKU-A", "100", 1, 2),
    _paid("a2", "SKU-B", "200", 2, 5),
    _paid("a3", "SKU-A", "100", 1, 10),
    _paid("a3-refund", "SKU-A", "100", 1, 15, status="refunded", order_id="a3"),
    _paid("b1", "SKU-B", "50", 1, 13),  # the instant #2 starts: #2's
    _paid("b2", "SKU-C", "30", 1, 19, 59),
    _paid("a4", "SKU-A", "100", 1, 20),  # the instant the show went back to #1: #1's
    _paid("a5", "SKU-A", "100", 1, 21, status="placed"),  # never paid
    _paid("c1", "UNKNOWN-9", "40", 1, 25),  # a SKU the lineup does not list
    _paid("c2", "SKU-C", "60", 2, 29),
    _paid("y", "SKU-C", "5", 1, 30),  # the instant the stream ended: after the show
]
VIEWERS = [
    _viewers("v0", -1, 30, 20, 20),  # before going live
    _viewers("v1", 0, 10, 100, 100),
    _viewers("v2", 1, 0, 200, 300),
    _viewers("v3", 5, 20, 400, 900),
    # In the minute #2 started, after it started: read to the minute, these count for #1.
    _viewers("v4", 13, 40, 300, 1300),
    _viewers("v5", 20, 0, 250, 1500),
    _viewers("v6", 24, 0, 350, 2100),
    _viewers("v7", 27, 10, 600, 2500),
    _viewers("v8", 27, 40, 500, 2600),
    _viewers("v9", 31, 10, 50, 3000),  # after the end
]


def _ingest(stream, events) -> None:
    client = Client()
    assert post_events(client, stream.channel, events).status_code == 202
    pending = list(IngestEvent.objects.filter(status="pending").values_list("pk", flat=True))
    services.ingest_dispatch(inbox_ids=pending)


@pytest.fixture
def people():
    return {
        "operator": UserFactory(roles=[Role.ROOM_OPERATOR], display_name="Lin"),
        "floor": UserFactory(display_name="Zhou"),
    }


@pytest.fixture
def stream(people):
    stream = StreamFactory(planned_start=EIGHT_PM, planned_end=_at(30), title="Winter glow")
    stream.studio.members.add(people["operator"])
    CrewAssignmentFactory(stream=stream, person=people["floor"], role=CrewRole.FLOOR_CONTROLLER)
    for position, (sku, name, kind) in enumerate(
        [
            ("SKU-A", "Face cream", ProductKind.HERO),
            ("SKU-B", "Lipstick", ProductKind.TRAFFIC),
            ("SKU-C", "Serum", ProductKind.PROFIT),
        ],
        start=1,
    ):
        LineupItemFactory(stream=stream, position=position, sku=sku, name=name, kind=kind)
    return stream


@pytest.fixture
def ended(stream, people):
    """The show above, run by the room operator and the floor controller, then ingested."""
    operator, floor = people["operator"], people["floor"]
    services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE, at=EIGHT_PM)
    services.show_move(actor=operator, stream=stream, to=0, seen_moves=0, at=_at(1))
    pin = services.cue_call(actor=operator, stream=stream, kind="pin", link_number=1, go=True)
    services.cue_advance(actor=operator, cue=pin, to="confirmed")
    services.show_move(actor=floor, stream=stream, to=1, seen_moves=1, at=_at(13))
    price = services.cue_call(
        actor=operator, stream=stream, kind="price_change", link_number=2, params={"price": "45"}
    )
    services.cue_advance(actor=floor, cue=price, to="go")
    services.cue_advance(actor=operator, cue=price, to="confirmed")
    cheer = services.cue_call(
        actor=floor, stream=stream, kind="cheer", role=CrewRole.CHEER, note="三二一"
    )
    services.cue_advance(actor=operator, cue=cheer, to="cancelled")
    services.show_move(actor=operator, stream=stream, to=0, seen_moves=2, at=_at(20))
    services.show_move(actor=operator, stream=stream, to=2, seen_moves=3, at=_at(24))
    services.stream_transition(actor=None, stream=stream, to=StreamStatus.ENDED, at=_at(30))
    _ingest(stream, ORDERS + VIEWERS)
    stream.refresh_from_db()
    return stream


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the selector ------------------------------------------------------------------------


def test_each_segment_adds_up_its_runs_paid_orders_and_viewers_entered(ended):
    summary = selectors.stream_summary(ended)

    rows = [
        (
            *(s.title, s.planned_seconds, s.actual_seconds, s.over_seconds, s.runs),
            *(s.gmv, s.orders, s.items, s.entered, s.gpm),
        )
        for s in summary.segments
    ]
    # #1: 12 + 4 minutes on air; a1 100 + a2 200 + a4 100 (a3 refunded); entered
    # (1300 − 300) + (2100 − 1500); GPM 400 × 1000 / 1600.
    # #2: 7 minutes; b1 50 + b2 30; entered 1500 − 1300; GPM 80 × 1000 / 200.
    # #3: 6 minutes; c1 40 + c2 60 (y came at the end); entered 2600 − 2100 (the 20:31
    # sample is after the end); GPM 100 × 1000 / 500.
    assert rows == [
        ("#1 Face cream", 600, 960, 360, 2, Decimal("400.00"), 3, 4, 1600, Decimal("250.00")),
        ("#2 Lipstick", 600, 420, -180, 1, Decimal("80.00"), 2, 2, 200, Decimal("400.00")),
        ("#3 Serum", 600, 360, -240, 1, Decimal("100.00"), 2, 3, 500, Decimal("200.00")),
    ]
    # x (20:00:30) and y (20:30:00) were paid while no segment was on air.
    assert (summary.outside_segments_gmv, summary.outside_segments_orders) == (
        Decimal("15.00"),
        2,
    )


def test_each_product_shows_its_sales_and_refunds_best_seller_first(ended):
    summary = selectors.stream_summary(ended)

    rows = [
        (p.link_number, p.sku, p.name, p.kind, p.gmv, p.orders, p.items, p.refunds)
        for p in summary.products
    ]
    assert rows == [
        (2, "SKU-B", "Lipstick", "traffic", Decimal("250.00"), 2, 3, 0),
        (1, "SKU-A", "Face cream", "hero", Decimal("210.00"), 3, 3, 1),
        (3, "SKU-C", "Serum", "profit", Decimal("95.00"), 3, 4, 0),
        (None, "UNKNOWN-9", "", "", Decimal("40.00"), 1, 1, 0),
    ]


def test_totals_viewers_and_time_on_air(ended):
    summary = selectors.stream_summary(ended)

    assert (summary.tiles.gmv, summary.tiles.gmv_placed) == (Decimal("595.00"), Decimal("795.00"))
    assert (summary.tiles.orders, summary.tiles.items, summary.tiles.refunds) == (9, 11, 1)
    assert summary.currency == "CNY"
    assert summary.duration_seconds == 30 * 60
    # Live minutes 20:00–20:29 only: online 100, 200, 400, 300, 250, 350, 500 → 2100 / 7;
    # the peak 600 came at 20:27:10.
    assert (summary.online_peak, summary.online_average) == (600, 300)


def test_the_cue_log_lists_every_cue_in_order_with_who_did_each_step(ended):
    summary = selectors.stream_summary(ended)

    log = [
        (
            entry.cue.kind,
            entry.cue.state,
            entry.segment_title,
            str(entry.cue.standby_by),
            str(entry.cue.go_by) if entry.cue.go_by else None,
            str(entry.cue.done_by),
        )
        for entry in summary.cues
    ]
    assert log == [
        ("pin", "confirmed", "#1 Face cream", "Lin", "Lin", "Lin"),
        ("price_change", "confirmed", "#2 Lipstick", "Lin", "Zhou", "Lin"),
        ("cheer", "cancelled", "#2 Lipstick", "Zhou", None, "Lin"),
    ]
    assert [entry.cue.standby_at for entry in summary.cues] == sorted(
        entry.cue.standby_at for entry in summary.cues
    )


def test_the_summary_takes_the_same_queries_however_many_orders(ended):
    with CaptureQueriesContext(connection) as before:
        selectors.stream_summary(ended)
    _ingest(ended, [_paid(f"more{n}", f"SKU-{n}", "1", 1, 2 + n % 27) for n in range(60)])

    with CaptureQueriesContext(connection) as after:
        summary = selectors.stream_summary(ended)

    assert summary.tiles.orders == 9 + 60
    assert len(after.captured_queries) == len(before.captured_queries)


def test_a_stream_that_never_went_live_has_an_empty_summary(stream):
    summary = selectors.stream_summary(stream)

    assert (summary.duration_seconds, summary.segments, summary.cues) == (None, [], [])
    assert (summary.online_peak, summary.online_average) == (0, None)
    assert [p.gmv for p in summary.products] == [Decimal(0)] * 3


# --- the page ----------------------------------------------------------------------------


def test_the_summary_page_shows_the_numbers_in_studio_time(ended, people):
    client = _signed_in(people["floor"])

    page = client.get(f"/streams/{ended.pk}/summary/").content.decode()

    assert "595.00 <small>CNY</small>" in page
    assert "2026-12-01 20:00–20:30" in page  # actual times, Shanghai
    assert 'data-testid="online-average">300<' in page
    assert 'data-testid="online-peak">600<' in page
    for over, gmv, gpm in [("+6:00", "400.00", "250.00"), ("−3:00", "80.00", "400.00")]:
        assert f'data-testid="over">{over}<' in page
        assert f'data-testid="gmv">{gmv}<' in page
        assert f'data-testid="gpm">{gpm}<' in page
    assert "16:00" in page  # #1 on air twice, 12 + 4 minutes
    assert "0.30%" in page  # 9 paid orders / 3000 entered
    assert "UNKNOWN-9" in page
    assert page.index("Price change") < page.index("Cheer")


def test_the_summary_is_linked_from_the_events_page_of_an_ended_stream(ended, people):
    client = _signed_in(people["operator"])

    page = client.get(f"/streams/{ended.pk}/events/").content.decode()

    assert f'href="/streams/{ended.pk}/summary/"' in page


def test_the_tables_download_as_csv(ended, people):
    client = _signed_in(people["operator"])

    products = client.get(f"/streams/{ended.pk}/summary/?format=csv&table=products")
    segments = client.get(f"/streams/{ended.pk}/summary/?format=csv&table=segments")

    assert products["Content-Type"].startswith("text/csv")
    product_rows = list(csv.reader(io.StringIO(products.content.decode("utf-8-sig"))))
    assert product_rows[0] == [
        "link",
        "sku",
        "product",
        "type",
        "gmv",
        "orders",
        "items",
        "refunds",
        "gpm",
        "currency",
    ]
    # GPM of a product: its GMV per 1,000 viewers who entered the stream (3,000).
    assert product_rows[1] == [
        *("2", "SKU-B", "Lipstick", "traffic", "250.00"),
        *("2", "3", "0", "83.33", "CNY"),
    ]
    segment_rows = list(csv.reader(io.StringIO(segments.content.decode("utf-8-sig"))))
    assert segment_rows[1] == [
        "1",
        "#1 Face cream",
        "600",
        "960",
        "360",
        "2",
        "400.00",
        "3",
        "4",
        "1600",
        "250.00",
        "CNY",
    ]


def test_someone_who_cannot_see_the_stream_gets_404(ended):
    outsider = _signed_in(UserFactory(roles=[Role.ROOM_OPERATOR]))  # of another studio

    page = outsider.get(f"/streams/{ended.pk}/summary/")
    api = outsider.get(f"/api/v1/streams/{ended.pk}/summary")

    assert (page.status_code, api.status_code) == (404, 404)


# --- the API -----------------------------------------------------------------------------


def test_the_api_returns_the_same_numbers_with_money_as_strings(ended, people):
    client = _signed_in(people["floor"])

    body = client.get(f"/api/v1/streams/{ended.pk}/summary").json()

    assert body["stream"]["title"] == "Winter glow"
    assert (body["currency"], body["duration_seconds"]) == ("CNY", 1800)
    assert (body["tiles"]["gmv"], body["tiles"]["orders"]) == ("595.00", 9)
    assert (body["online_peak"], body["online_average"]) == (600, 300)
    assert [
        (s["title"], s["gmv"], s["orders"], s["entered"], s["gpm"], s["over_seconds"], s["runs"])
        for s in body["segments"]
    ] == [
        ("#1 Face cream", "400.00", 3, 1600, "250.00", 360, 2),
        ("#2 Lipstick", "80.00", 2, 200, "400.00", -180, 1),
        ("#3 Serum", "100.00", 2, 500, "200.00", -240, 1),
    ]
    assert body["outside_segments_gmv"] == "15.00"
    assert [(p["sku"], p["link_number"], p["gmv"], p["refunds"]) for p in body["products"]] == [
        ("SKU-B", 2, "250.00", 0),
        ("SKU-A", 1, "210.00", 1),
        ("SKU-C", 3, "95.00", 0),
        ("UNKNOWN-9", None, "40.00", 0),
    ]
    assert [(c["kind"], c["state"], c["go_by"]) for c in body["cues"]] == [
        ("pin", "confirmed", "Lin"),
        ("price_change", "confirmed", "Zhou"),
        ("cheer", "cancelled", None),
    ]
