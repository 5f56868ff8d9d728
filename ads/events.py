"""Event types the ads app publishes to a stream's log. Called only from services."""

from collections.abc import Iterable

from rooms import eventlog
from rooms.eventlog import NewEvent
from rooms.models import IngestEvent, Stream

METRIC_FIELDS = ("campaign_id", "spend", "impressions", "clicks", "orders", "gmv")


def ad_metrics_sampled(*, stream: Stream, samples: Iterable[IngestEvent]) -> None:
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="ad_metrics",
                op="sampled",
                data={
                    **{name: sample.payload[name] for name in METRIC_FIELDS},
                    "currency": stream.channel.currency,
                    "platform_at": sample.at.isoformat(),
                },
            )
            for sample in sorted(samples, key=lambda s: s.at)
        ],
    )
