"""Event types the rooms app publishes to a stream's log. Called only from services."""

from collections.abc import Iterable
from datetime import datetime

from . import eventlog
from .eventlog import NewEvent
from .models import IngestEvent, Stream, User


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def stream_status_changed(*, stream: Stream, previous: str, by: User | None) -> None:
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="stream",
                op="status_changed",
                data={
                    "from": previous,
                    "to": stream.status,
                    "actual_start": _iso(stream.actual_start),
                    "actual_end": _iso(stream.actual_end),
                    "by": by.username if by else None,
                },
            )
        ],
    )


def viewers_sampled(*, stream: Stream, samples: Iterable[IngestEvent]) -> None:
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="viewers",
                op="sampled",
                data={
                    "online": sample.payload["online"],
                    "entered_total": sample.payload["entered_total"],
                    "platform_at": sample.at.isoformat(),
                },
            )
            for sample in sorted(samples, key=lambda s: s.at)
        ],
    )


def orders_received(*, stream: Stream, orders: Iterable[IngestEvent]) -> None:
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="order",
                op=order.payload["status"],
                data={
                    "order_id": order.payload["order_id"],
                    "sku": order.payload["sku"],
                    "quantity": order.payload["quantity"],
                    "amount": order.payload["amount"],
                    "currency": stream.channel.currency,
                    "platform_at": order.at.isoformat(),
                },
            )
            for order in sorted(orders, key=lambda o: o.at)
        ],
    )
