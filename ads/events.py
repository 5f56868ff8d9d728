"""Event types the ads app publishes to a stream's log. Called only from services."""

from collections.abc import Iterable

from rooms.events import platform_events_logged
from rooms.models import IngestEvent, Stream


def ad_metrics_sampled(*, stream: Stream, samples: Iterable[IngestEvent]) -> None:
    platform_events_logged(
        stream=stream,
        rows=samples,
        type="ad_metrics",
        op="sampled",
        fields=("campaign_id", "spend", "impressions", "clicks", "orders", "gmv"),
        with_currency=True,
    )
