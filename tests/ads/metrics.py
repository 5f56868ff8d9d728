"""Ad metrics as a platform sends them: through the signed webhook, then the worker's
dispatch (what `ingest_dispatch_task` runs)."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.test import Client
from django.utils import timezone

from rooms import services as rooms_services
from rooms.models import IngestEvent, StreamEvent, StreamStatus
from tests.conftest import post_events
from tests.factories import StreamFactory

_counter = iter(range(1, 10**9))


def live_stream(**fields):
    """A stream live for the last 40 minutes, planned to run two hours from its start."""
    start = timezone.now() - timedelta(minutes=40)
    defaults = {
        "status": StreamStatus.LIVE,
        "planned_start": start,
        "planned_end": start + timedelta(hours=2),
        "actual_start": start,
    }
    return StreamFactory(**(defaults | fields))


def ad_metrics(
    campaign_id: str,
    at: datetime,
    *,
    spend,
    gmv,
    impressions: int = 0,
    clicks: int = 0,
    orders: int = 0,
    event_id: str | None = None,
) -> dict:
    return {
        "id": event_id or f"ad-{next(_counter)}",
        "type": "ad_metrics",
        "at": at.isoformat(),
        "campaign_id": campaign_id,
        "spend": str(Decimal(spend)),
        "impressions": impressions,
        "clicks": clicks,
        "orders": orders,
        "gmv": str(Decimal(gmv)),
    }


def paid_order(order_id: str, at: datetime, amount, *, sku: str = "SKU-1", quantity: int = 1):
    return {
        "id": f"order-{order_id}-paid",
        "type": "order",
        "at": at.isoformat(),
        "order_id": order_id,
        "sku": sku,
        "quantity": quantity,
        "amount": str(Decimal(amount)),
        "status": "paid",
    }


def viewers(at: datetime, online: int, entered_total: int) -> dict:
    return {
        "id": f"viewers-{next(_counter)}",
        "type": "viewers",
        "at": at.isoformat(),
        "online": online,
        "entered_total": entered_total,
    }


def ingest(stream, events: list[dict]) -> int:
    """POST the batch signed, as the platform does, then dispatch what it stored."""
    response = post_events(Client(), stream.channel, events)
    assert response.status_code == 202, response.content
    pending = IngestEvent.objects.filter(channel=stream.channel, status="pending")
    return rooms_services.ingest_dispatch(inbox_ids=list(pending.values_list("pk", flat=True)))


def logged(stream, type_: str, op: str | None = None) -> list[dict]:
    events = StreamEvent.objects.filter(stream=stream, type=type_).order_by("seq")
    if op is not None:
        events = events.filter(op=op)
    return [{"op": event.op, **event.data} for event in events]


def minutes_ago(n: float, *, base: datetime | None = None) -> datetime:
    """A moment n minutes before the current minute's 30th second: one report per minute
    lands in its own minute, whatever second the test runs at."""
    base = base or timezone.now().replace(second=30, microsecond=0)
    return base - timedelta(minutes=n)
