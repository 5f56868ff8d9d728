"""Ad metrics from the webhook: logged as they came, folded into one row per campaign per
minute, campaigns found or registered, joined with the stream's own sales."""

from datetime import timedelta
from decimal import Decimal

import pytest

from ads import selectors
from ads.models import AdAccount, Campaign, CampaignMinute
from tests.ads.metrics import ad_metrics, ingest, live_stream, logged, minutes_ago, paid_order
from tests.factories import AdAccountFactory, CampaignFactory, StreamFactory

pytestmark = pytest.mark.django_db


def rows(campaign) -> list[tuple]:
    return list(
        CampaignMinute.objects.filter(campaign=campaign)
        .order_by("minute")
        .values_list("minute", "spend", "clicks", "gmv")
    )


def test_reports_become_one_row_per_campaign_per_minute_with_the_latest_totals():
    stream = live_stream()
    campaign = CampaignFactory(stream=stream, account__channel=stream.channel)
    first, second = minutes_ago(2), minutes_ago(1)

    ingest(
        stream,
        [
            ad_metrics(campaign.external_id, first, spend=10, gmv=20, clicks=3),
            ad_metrics(campaign.external_id, first.replace(second=50), spend=15, gmv=45, clicks=5),
            ad_metrics(campaign.external_id, second, spend=30, gmv=90, clicks=9),
        ],
    )

    assert rows(campaign) == [
        (first.replace(second=0), Decimal("15.00"), 5, Decimal("45.00")),
        (second.replace(second=0), Decimal("30.00"), 9, Decimal("90.00")),
    ]
    assert CampaignMinute.objects.get(minute=first.replace(second=0)).stream == stream


def test_late_repeated_and_out_of_order_reports_never_take_a_total_back():
    stream = live_stream()
    campaign = CampaignFactory(stream=stream, account__channel=stream.channel)
    at = minutes_ago(1)
    ingest(stream, [ad_metrics(campaign.external_id, at, spend=50, gmv=120, clicks=8)])

    # An earlier report of the same minute arrives after the later one, then a redelivery.
    ingest(
        stream,
        [
            ad_metrics(campaign.external_id, at.replace(second=5), spend=40, gmv=100, clicks=6),
            ad_metrics(
                campaign.external_id, at.replace(second=5), spend=40, gmv=100, event_id="again"
            ),
        ],
    )
    ingest(
        stream,
        [
            ad_metrics(
                campaign.external_id, at.replace(second=5), spend=40, gmv=100, event_id="again"
            )
        ],
    )

    assert rows(campaign) == [(at.replace(second=0), Decimal("50.00"), 8, Decimal("120.00"))]
    assert CampaignMinute.objects.get(campaign=campaign).at == at


def test_every_report_is_still_logged_as_it_came():
    stream = live_stream()
    campaign = CampaignFactory(stream=stream, account__channel=stream.channel)

    ingest(stream, [ad_metrics(campaign.external_id, minutes_ago(1), spend=12, gmv=30)])

    [entry] = logged(stream, "ad_metrics", "sampled")
    assert (entry["campaign_id"], entry["spend"], entry["gmv"], entry["currency"]) == (
        campaign.external_id,
        "12",
        "30",
        "CNY",
    )


def test_a_campaign_nobody_registered_joins_the_channels_first_account():
    stream = live_stream()
    first_account = AdAccountFactory(channel=stream.channel)
    AdAccountFactory(channel=stream.channel)

    ingest(stream, [ad_metrics("qc-777", minutes_ago(1), spend=5, gmv=0)])

    campaign = Campaign.objects.get(external_id="qc-777")
    assert (campaign.account, campaign.stream, campaign.name) == (first_account, stream, "qc-777")
    assert CampaignMinute.objects.filter(campaign=campaign).count() == 1


def test_a_channel_without_an_ad_account_gets_a_sandbox_one_for_its_campaigns():
    stream = live_stream()

    ingest(
        stream,
        [
            ad_metrics("qc-1", minutes_ago(1), spend=5, gmv=0),
            ad_metrics("qc-2", minutes_ago(1), spend=7, gmv=0),
        ],
    )

    account = AdAccount.objects.get(channel=stream.channel)
    assert (account.platform, account.external_id) == ("sandbox", f"auto-{stream.channel.key}")
    assert sorted(account.campaigns.values_list("external_id", flat=True)) == ["qc-1", "qc-2"]


def test_a_known_campaign_is_found_in_any_account_of_the_channel_and_follows_the_stream():
    stream = live_stream()
    yesterday = StreamFactory(
        channel=stream.channel,
        status="ended",
        planned_start=stream.planned_start - timedelta(days=1),
        planned_end=stream.planned_end - timedelta(days=1),
    )
    AdAccountFactory(channel=stream.channel)
    campaign = CampaignFactory(
        stream=yesterday, account=AdAccountFactory(channel=stream.channel), external_id="qc-9"
    )
    other_channel = CampaignFactory(external_id="qc-9")

    ingest(stream, [ad_metrics("qc-9", minutes_ago(1), spend=5, gmv=0)])

    campaign.refresh_from_db()
    assert campaign.stream == stream
    assert Campaign.objects.filter(external_id="qc-9").count() == 2
    assert not CampaignMinute.objects.filter(campaign=other_channel).exists()


def test_the_campaigns_figures_join_the_streams_own_sales():
    stream = live_stream()
    campaign = CampaignFactory(stream=stream, account__channel=stream.channel)
    ingest(
        stream,
        [
            ad_metrics(campaign.external_id, minutes_ago(20), spend=100, gmv=200),
            ad_metrics(campaign.external_id, minutes_ago(5), spend=160, gmv=500),
            ad_metrics(campaign.external_id, minutes_ago(1), spend=200, gmv=600),
            # ¥1,000 paid in the last 15 minutes, ¥300 before them.
            paid_order("o1", minutes_ago(25), 300),
            paid_order("o2", minutes_ago(4), 600),
            paid_order("o3", minutes_ago(2), 400),
        ],
    )

    [figures] = selectors.stream_campaigns(stream, window=15)

    assert (figures.spend, figures.gmv, figures.roi) == (
        Decimal("200.00"),
        Decimal("600.00"),
        Decimal("3.00"),
    )
    # The last 15 minutes: ¥100 spent and ¥400 of GMV credited to the campaign, of ¥1,000.
    assert (figures.window_spend, figures.window_gmv, figures.window_roi) == (
        Decimal("100.00"),
        Decimal("400.00"),
        Decimal("4.00"),
    )
    assert figures.paid_share == Decimal("0.4000")
