from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from rooms import selectors, services
from rooms.models import IngestEvent, Role, StreamMinute, StreamOrder
from tests.conftest import post_events
from tests.factories import StreamFactory, UserFactory

pytestmark = pytest.mark.django_db

EIGHT_PM = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai


def _at(seconds: int) -> str:
    return (EIGHT_PM + timedelta(seconds=seconds)).isoformat()


def _order(event_id, order_id, status, seconds, amount="100", quantity=1, sku="SKU-1"):
    return {
        "id": event_id,
        "type": "order",
        "at": _at(seconds),
        "order_id": order_id,
        "sku": sku,
        "quantity": quantity,
        "amount": amount,
        "status": status,
    }


def _viewers(event_id, seconds, online, entered):
    return {
        "id": event_id,
        "type": "viewers",
        "at": _at(seconds),
        "online": online,
        "entered_total": entered,
    }


# A replay with what platforms do: a refund before the payment it undoes, the same event
# delivered twice, a paid order whose "placed" never came, samples out of order.
REPLAY = [
    [
        _order("o1", "A", "placed", 5, amount="100", quantity=2),
        _order("o2", "B", "placed", 6, amount="50"),
        _viewers("v1", 10, 100, 500),
        _viewers("v2", 50, 120, 650),
    ],
    [
        _order("o3", "B", "refunded", 40, amount="50"),
        _order("o4", "A", "paid", 20, amount="100", quantity=2),
        _order("o5", "C", "paid", 25, amount="30"),
        _viewers("v3", 30, 110, 600),
    ],
    [
        _order("o4", "A", "paid", 20, amount="100", quantity=2),  # redelivered
        _order("o6", "B", "paid", 30, amount="50"),  # late: the refund already came
        _order("o7", "D", "placed", 35, amount="20"),
        _viewers("v4", 65, 90, 700),
    ],
]


def _replay(stream, batches) -> None:
    client = Client()
    for batch in batches:
        assert post_events(client, stream.channel, batch).status_code == 202
        pending = list(IngestEvent.objects.filter(status="pending").values_list("pk", flat=True))
        services.ingest_dispatch(inbox_ids=pending)


@pytest.fixture
def stream():
    return StreamFactory(
        planned_start=EIGHT_PM - timedelta(minutes=10), planned_end=EIGHT_PM + timedelta(hours=2)
    )


def test_a_replayed_stream_gives_the_tiles_worked_out_by_hand(stream):
    _replay(stream, REPLAY)

    tiles = selectors.stream_tiles(stream)

    # Paid: A 100 (2 items) and C 30; B was refunded; D was only placed.
    assert (tiles.gmv, tiles.gmv_placed) == (Decimal("130.00"), Decimal("200.00"))
    assert (tiles.orders, tiles.items, tiles.refunds) == (2, 3, 1)
    # 20:01 last said 90 online; the peak was 120; 700 have entered in all.
    assert (tiles.online, tiles.online_peak, tiles.entered) == (90, 120, 700)
    assert tiles.conversion == Decimal("0.0029")  # 2 paid orders / 700 entered
    assert tiles.gpm == Decimal("185.71")  # 130 × 1000 / 700
    assert tiles.average_order == Decimal("65.00")


def test_the_same_events_in_another_order_or_twice_give_the_same_totals(stream):
    _replay(stream, [REPLAY[2], REPLAY[0], REPLAY[1], REPLAY[2], REPLAY[0]])

    tiles = selectors.stream_tiles(stream)

    assert (tiles.gmv, tiles.orders, tiles.refunds, tiles.entered) == (
        Decimal("130.00"),
        2,
        1,
        700,
    )
    assert StreamOrder.objects.filter(stream=stream).count() == 4
    assert StreamMinute.objects.filter(stream=stream).count() == 2


def test_a_drop_in_the_last_five_minutes_against_the_five_before_turns_red(stream):
    batches = [
        [_viewers(f"a{m}", m * 60, 1000, 1000 + m) for m in range(5)],
        [_viewers(f"b{m}", (5 + m) * 60, 500, 2000 + m) for m in range(5)],
    ]
    _replay(stream, batches)

    trends = {
        t.metric: t
        for t in selectors.stream_trends(stream, now=EIGHT_PM + timedelta(minutes=9, seconds=30))
    }

    assert trends["online"].change == Decimal("-0.500")
    assert trends["online"].alert is True


def test_the_events_page_shows_the_totals(stream):
    _replay(stream, REPLAY)
    operator = UserFactory(roles=[Role.ROOM_OPERATOR])
    stream.studio.members.add(operator)
    client = Client()
    client.force_login(operator)

    page = client.get(f"/streams/{stream.pk}/events/").content.decode()

    assert "130.00 <small>CNY</small>" in page
    assert "placed 200.00" in page
    assert "185.71" in page


@pytest.mark.parametrize("paid_first", [False, True], ids=["placed-first", "paid-first"])
def test_an_order_paid_at_a_lower_price_counts_the_paid_amount_whatever_arrives_first(
    stream, paid_first
):
    placed = [_order("p1", "A", "placed", 5, amount="100")]
    paid = [_order("p2", "A", "paid", 20, amount="90"), _order("p3", "B", "paid", 25, amount="50")]
    _replay(stream, [paid, placed] if paid_first else [placed, paid])

    tiles = selectors.stream_tiles(stream)

    assert tiles.gmv == Decimal("140.00")
