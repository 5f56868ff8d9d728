"""After the stream, per boost: spend, GMV and ROI before and after it landed, in the
post-stream summary; during it, boost status and markers on the wall; cards for the buyer."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client

from ads import selectors
from rooms.models import CrewRole, Role
from rooms.selectors import live_snapshot
from tests.factories import (
    BoostDecisionFactory,
    BoostIntentFactory,
    CampaignFactory,
    CampaignMinuteFactory,
    CrewAssignmentFactory,
    StreamFactory,
    StreamKillSwitchFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def recorded(campaign, minutes: int, *, gmv_per_minute):
    """¥10 of spend a minute, minute 1 to `minutes` after the stream's planned start."""
    start = campaign.stream.planned_start.replace(second=0, microsecond=0)
    spend = gmv = Decimal(0)
    rows = []
    for k in range(1, minutes + 1):
        spend += 10
        gmv += gmv_per_minute(k)
        rows.append(
            CampaignMinuteFactory.build(
                campaign=campaign,
                minute=start + timedelta(minutes=k),
                spend=spend,
                gmv=gmv,
            )
        )
    type(rows[0]).objects.bulk_create(rows)
    return start


def boosted(campaign, at, amount="500"):
    return BoostIntentFactory(
        decision=BoostDecisionFactory(
            campaign=campaign, status="done", amount=Decimal(amount), proposed_at=at
        ),
        settled_at=at,
    ).decision


@pytest.fixture
def boost():
    """A boost landing at minute 20 of a stream: ROI 2 before it, 6 after."""
    stream = StreamFactory(status="ended")
    campaign = CampaignFactory(stream=stream, account__channel=stream.channel, name="千川 A")
    start = recorded(campaign, 40, gmv_per_minute=lambda k: 20 if k < 20 else 60)
    return boosted(campaign, start + timedelta(minutes=20, seconds=12))


def ad_buyer_of(stream):
    buyer = UserFactory(roles=[Role.AD_BUYER])
    CrewAssignmentFactory(stream=stream, person=buyer, role=CrewRole.AD_BUYER)
    return buyer


def test_each_boost_with_the_fifteen_minutes_before_and_after(boost):
    [outcome] = selectors.boost_outcomes(boost.stream)

    # Before: minutes 5–19; after: minutes 20–34, the minute it landed first.
    assert outcome.decision == boost
    assert (outcome.spend_before, outcome.gmv_before, outcome.roi_before) == (
        Decimal("150"),
        Decimal("300"),
        Decimal("2.00"),
    )
    assert (outcome.spend_after, outcome.gmv_after, outcome.roi_after) == (
        Decimal("150"),
        Decimal("900"),
        Decimal("6.00"),
    )


def test_boosts_that_did_not_land_have_no_outcome(boost):
    BoostIntentFactory(decision__campaign=boost.campaign, state="failed")
    BoostDecisionFactory(campaign=boost.campaign, status="rejected")

    assert [outcome.decision for outcome in selectors.boost_outcomes(boost.stream)] == [boost]


def test_the_post_stream_summary_shows_the_outcome_to_those_who_see_boosts(boost):
    buyer, host = Client(), Client()
    buyer.force_login(ad_buyer_of(boost.stream))
    host_user = UserFactory(roles=[Role.HOST])
    CrewAssignmentFactory(stream=boost.stream, person=host_user, role=CrewRole.HOST)
    host.force_login(host_user)

    page = buyer.get(f"/streams/{boost.stream.pk}/summary/").content.decode()
    hidden = host.get(f"/streams/{boost.stream.pk}/summary/")

    assert 'data-section="ads.boost_outcomes"' in page
    assert "千川 A" in page and "+500.00 CNY" in page and "6.00" in page
    assert hidden.status_code == 200
    assert "ads.boost_outcomes" not in hidden.content.decode()


def test_the_wall_shows_boost_status_and_marks_confirmed_boosts(boost):
    StreamKillSwitchFactory(stream=boost.stream, killed=False)

    snapshot = live_snapshot(boost.stream)

    [panel] = [panel for panel in snapshot["panels"] if panel["key"] == "ads.boost_status"]
    switch, campaign, last = panel["items"]
    assert (switch["killed"], switch["detail"]) == (False, "off")
    # The last 15 reported minutes (26–40): ¥150 spent, ¥900 of GMV.
    assert campaign["detail"] == "budget 1000.00 CNY · spent 150.00 in 15 min · ROI 6.00"
    assert (last["decision"], last["status"]) == (boost.pk, "done")
    [marker] = [m for m in snapshot["markers"] if m["kind"] == "boost"]
    assert marker == {
        "at": boost.intent.settled_at.isoformat(),
        "kind": "boost",
        "label": "+¥500",
        "decision": boost.pk,
    }


def test_the_wall_says_when_the_kill_switch_is_on(boost):
    StreamKillSwitchFactory(stream=boost.stream)

    panel = selectors.boost_status_panel(boost.stream)

    assert panel["items"][0]["killed"] is True


def test_a_stream_without_campaigns_has_no_boost_panel():
    assert selectors.boost_status_panel(StreamFactory()) is None


def test_cards_open_first_for_those_who_may_see_them(boost):
    stream = boost.stream
    waiting = BoostDecisionFactory(campaign=boost.campaign, status="awaiting_approval")
    proposed = BoostDecisionFactory(campaign=boost.campaign)
    approver = UserFactory(roles=[Role.AD_APPROVER])
    stream.studio.members.add(approver)
    host = UserFactory(roles=[Role.HOST])
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)
    stranger = UserFactory(roles=[Role.AD_BUYER])

    seen = selectors.decisions_for_stream(ad_buyer_of(stream), stream)

    assert [card["id"] for card in seen] == [proposed.pk, waiting.pk, boost.pk]
    assert [card["id"] for card in selectors.decisions_for_stream(approver, stream)] == [
        proposed.pk,
        waiting.pk,
        boost.pk,
    ]
    assert selectors.decisions_for_stream(host, stream) == []
    assert selectors.decisions_for_stream(stranger, stream) == []


def test_a_streams_campaigns_with_their_latest_figures_for_those_who_may_see_them(boost):
    stream = boost.stream

    [figures] = selectors.campaigns_for_stream(ad_buyer_of(stream), stream)

    assert (figures.campaign, figures.spend, figures.gmv) == (
        boost.campaign,
        Decimal("400.00"),
        Decimal("1640.00"),
    )
    assert selectors.campaigns_for_stream(UserFactory(roles=[Role.HOST]), stream) == []
