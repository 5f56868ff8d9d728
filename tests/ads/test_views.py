"""The ads screens: who may open what, the board's snapshot in the page, the rule form's
errors with everything typed kept, and the replay page."""

import json
import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.test import Client

from ads import services
from ads.models import AuditEntry, BoostRule
from rooms import eventlog
from rooms.models import CrewRole, Role, StreamStatus
from tests.ads.metrics import live_stream
from tests.ads.test_replay import past_campaign, recorded
from tests.factories import (
    AdAccountFactory,
    BoostDecisionFactory,
    BoostIntentFactory,
    BoostRuleFactory,
    CampaignFactory,
    CrewAssignmentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page_data(response) -> dict:
    found = re.search(
        r'<script id="buyer-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert found, "the page carries no snapshot"
    return json.loads(found.group(1))


def _buyer(stream):
    person = UserFactory(roles=[Role.AD_BUYER])
    CrewAssignmentFactory(stream=stream, person=person, role=CrewRole.AD_BUYER)
    return person


def _studio_person(stream, role):
    person = UserFactory(roles=[role])
    stream.studio.members.add(person)
    return person


def _card(stream, **fields):
    campaign = CampaignFactory(stream=stream, account__channel=stream.channel)
    return BoostDecisionFactory(
        campaign=campaign,
        evidence={
            "conditions": [
                {
                    "metric": "roi",
                    "window": 10,
                    "op": ">",
                    "value": "3.1250",
                    "break_even": True,
                    "actual": "8.2000",
                }
            ],
            "show": {"now": None, "next": None, "pinned": []},
        },
        **fields,
    )


RULE_POST = {
    "name": "Push on ROI",
    "enabled": "on",
    "conditions-TOTAL_FORMS": "2",
    "conditions-INITIAL_FORMS": "0",
    "conditions-MIN_NUM_FORMS": "1",
    "conditions-MAX_NUM_FORMS": "12",
    "conditions-0-metric": "roi",
    "conditions-0-window": "5",
    "conditions-0-op": ">",
    "conditions-0-break_even": "on",
    "conditions-1-metric": "pinned_stock",
    "conditions-1-op": ">",
    "conditions-1-value": "50",
    "action": "add_budget",
    "amount": "500",
    "min_spend": "300",
    "cap_per_boost": "",
    "cap_per_stream": "3000",
    "cap_per_day": "",
    "cooldown_minutes": "5",
    "active_from": "19:00",
    "active_until": "01:00",
    "approval_above": "1000",
    "gross_margin": "0.40",
    "return_rate": "0.20",
}


# --- Who may open what --------------------------------------------------------------------------


def test_signed_out_people_are_sent_to_sign_in():
    stream = live_stream()
    account = AdAccountFactory(channel=stream.channel)

    for path in (
        "/ads/",
        f"/ads/streams/{stream.pk}/",
        f"/ads/streams/{stream.pk}/replay/",
        f"/ads/accounts/{account.pk}/rules/",
    ):
        response = Client().get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/")


def test_the_streams_ad_buyer_decides_on_the_board():
    stream = live_stream()

    response = _client(_buyer(stream)).get(f"/ads/streams/{stream.pk}/")

    assert response.status_code == 200
    can = _page_data(response)["can"]
    assert (can["decide"], can["approve"], can["killStream"]) == (True, False, True)
    assert b'data-testid="read-only"' not in response.content


def test_an_ad_approver_of_the_studio_approves_but_does_not_decide():
    stream = live_stream()

    response = _client(_studio_person(stream, Role.AD_APPROVER)).get(f"/ads/streams/{stream.pk}/")

    can = _page_data(response)["can"]
    assert (can["decide"], can["approve"], can["killStream"]) == (False, True, True)


def test_a_producer_follows_the_board_read_only_and_may_throw_the_kill_switch():
    stream = live_stream()

    response = _client(_studio_person(stream, Role.PRODUCER)).get(f"/ads/streams/{stream.pk}/")

    can = _page_data(response)["can"]
    assert (can["decide"], can["approve"], can["killStream"]) == (False, False, True)
    assert b'data-testid="read-only"' in response.content


def test_crew_without_an_ad_role_do_not_see_the_board():
    stream = live_stream()
    host = UserFactory(roles=[Role.HOST])
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)
    agent = _studio_person(stream, Role.CS_AGENT)

    for person in (host, agent):
        assert _client(person).get(f"/ads/streams/{stream.pk}/").status_code == 404
        assert _client(person).get(f"/api/v1/ads/streams/{stream.pk}/cards").status_code == 404


def test_the_ads_menu_is_for_ad_buyers_approvers_and_producers():
    stream = live_stream()
    shown = {}
    for role in (Role.AD_BUYER, Role.AD_APPROVER, Role.PRODUCER, Role.CS_AGENT):
        person = _studio_person(stream, role)
        shown[role] = b'href="/ads/"' in _client(person).get("/").content

    assert shown == {
        Role.AD_BUYER: True,
        Role.AD_APPROVER: True,
        Role.PRODUCER: True,
        Role.CS_AGENT: False,
    }


# --- The board ----------------------------------------------------------------------------------


def test_the_page_carries_the_cards_read_after_the_logs_head():
    stream = live_stream()
    waiting = _card(stream, status="awaiting_approval")
    proposed = _card(stream)
    rejected = _card(stream, status="rejected")
    buyer = _buyer(stream)
    services.stream_kill_switch_set(actor=buyer, stream=stream, killed=True)

    board = _page_data(_client(buyer).get(f"/ads/streams/{stream.pk}/"))["board"]

    assert board["head"] == eventlog.head(stream.pk) > 0
    # Open cards first, newest first; then the decided ones.
    assert [card["id"] for card in board["cards"]] == [proposed.pk, waiting.pk, rejected.pk]
    assert board["cards"][0]["evidence"]["conditions"][0]["actual"] == "8.2000"
    assert board["kill_switch"]["stream"]["killed"] is True
    assert {c["id"] for c in board["campaigns"]} == {
        proposed.campaign_id,
        waiting.campaign_id,
        rejected.campaign_id,
    }


def test_the_board_api_answers_what_a_resync_reloads():
    stream = live_stream()
    decision = _card(stream)
    done = BoostIntentFactory(
        decision=BoostDecisionFactory(campaign=decision.campaign, status="done")
    ).decision

    response = _client(_buyer(stream)).get(f"/api/v1/ads/streams/{stream.pk}/cards")

    assert response.status_code == 200
    body = response.json()
    assert body["head"] == eventlog.head(stream.pk)
    assert [card["id"] for card in body["cards"]] == [decision.pk, done.pk]
    assert len(body["executions"]) == 1
    assert body["campaigns"][0]["budget"] == "1000.00"


def test_a_board_following_the_log_reads_only_the_parts_it_needs():
    stream = live_stream()
    _card(stream)

    body = (
        _client(_buyer(stream))
        .get(f"/api/v1/ads/streams/{stream.pk}/cards", {"parts": "campaigns,bogus"})
        .json()
    )

    assert set(body) == {"head", "server_now", "campaigns"}
    assert len(body["campaigns"]) == 1


def test_throwing_a_kill_switch_is_an_event_on_the_streams_it_holds_back():
    stream = live_stream()
    campaign = CampaignFactory(stream=stream, account__channel=stream.channel)
    buyer = _buyer(stream)

    services.account_kill_switch_set(actor=buyer, account=campaign.account, killed=True)

    [event] = eventlog.read_after(stream.pk, 0, limit=10)
    assert (event["type"], event["op"]) == ("kill_switch", "on")
    assert event["data"] | {"changed_at": None} == {
        "scope": "account",
        "stream": None,
        "account": campaign.account_id,
        "killed": True,
        "changed_by": buyer.username,
        "changed_at": None,
        "stopped": [],
    }


# --- The index ----------------------------------------------------------------------------------


def test_the_index_lists_live_streams_first_and_the_accounts():
    live = live_stream(title="On air now")
    yesterday = live.planned_start - timedelta(days=1)
    ended = live_stream(
        title="Last night",
        status=StreamStatus.ENDED,
        channel=live.channel,
        studio=live.studio,
        planned_start=yesterday,
        planned_end=yesterday + timedelta(hours=2),
    )
    account = AdAccountFactory(channel=live.channel, name="Qianchuan main")
    producer = _studio_person(live, Role.PRODUCER)

    page = _client(producer).get("/ads/").content.decode()

    assert page.index("On air now") < page.index("Last night")
    assert f'href="/ads/streams/{ended.pk}/replay/"' in page
    assert f'href="/ads/accounts/{account.pk}/rules/"' in page


# --- Rules --------------------------------------------------------------------------------------


def test_an_ad_buyer_writes_a_rule_with_its_conditions():
    stream = live_stream()
    account = AdAccountFactory(channel=stream.channel)
    client = _client(_buyer(stream))

    response = client.post(f"/ads/accounts/{account.pk}/rules/", RULE_POST)

    assert response.status_code == 302
    rule = BoostRule.objects.get(account=account)
    assert rule.conditions == [
        {"metric": "roi", "window": 5, "op": ">", "value": "break_even"},
        {"metric": "pinned_stock", "op": ">", "value": "50"},
    ]
    assert (rule.amount, rule.approval_above, rule.cap_per_stream, rule.cap_per_day) == (
        Decimal("500.00"),
        Decimal("1000.00"),
        Decimal("3000.00"),
        None,
    )
    assert AuditEntry.objects.get(kind="rule_saved").data["after"]["name"] == "Push on ROI"
    page = client.get(f"/ads/accounts/{account.pk}/rules/").content.decode()
    assert "roi[5m] &gt; break_even" in page


def test_a_refused_rule_comes_back_with_its_errors_and_everything_typed():
    stream = live_stream()
    account = AdAccountFactory(channel=stream.channel)
    form = RULE_POST | {
        "name": "仅限大促 Big sale only",
        "amount": "",
        "gross_margin": "1.5",
        "conditions-0-break_even": "",
        "conditions-0-value": "",
    }

    response = _client(_buyer(stream)).post(f"/ads/accounts/{account.pk}/rules/", form)

    assert response.status_code == 400
    page = unescape(response.content.decode())
    assert "This action needs an amount above zero." in page
    assert "The gross margin is above 0 and at most 1 (0.40 is 40 %)." in page
    assert "Give a value, or compare with the break-even ROI." in page
    assert 'value="仅限大促 Big sale only"' in page
    assert 'value="3000"' in page and 'value="19:00"' in page
    assert 'name="conditions-1-value" value="50"' in page
    assert not BoostRule.objects.exists()


def test_a_rule_named_like_another_is_refused_on_its_name():
    stream = live_stream()
    account = AdAccountFactory(channel=stream.channel)
    BoostRuleFactory(account=account, name="Push on ROI")

    response = _client(_buyer(stream)).post(f"/ads/accounts/{account.pk}/rules/", RULE_POST)

    assert response.status_code == 400
    assert "Another rule of this account has this name." in unescape(response.content.decode())
    assert BoostRule.objects.count() == 1


def test_a_rule_opens_in_the_form_and_saves_in_place():
    stream = live_stream()
    account = AdAccountFactory(channel=stream.channel)
    rule = BoostRuleFactory(account=account, name="Old name", gross_margin=Decimal("0.5"))
    client = _client(_buyer(stream))

    page = client.get(f"/ads/accounts/{account.pk}/rules/?rule={rule.pk}").content.decode()
    response = client.post(
        f"/ads/accounts/{account.pk}/rules/",
        RULE_POST | {"rule": str(rule.pk), "name": "New name", "return_rate": "0.5"},
    )

    assert 'value="Old name"' in page
    # 1 / (0.5 × (1 − 0.2)) = 2.5
    assert 'data-testid="break-even">2.50<' in page
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.return_rate, BoostRule.objects.count()) == (
        "New name",
        Decimal("0.5"),
        1,
    )


def test_others_who_see_the_account_read_its_rules():
    stream = live_stream()
    account = AdAccountFactory(channel=stream.channel)
    BoostRuleFactory(account=account, name="Push on ROI")
    approver = _studio_person(stream, Role.AD_APPROVER)
    client = _client(approver)

    page = client.get(f"/ads/accounts/{account.pk}/rules/")
    refused = client.post(f"/ads/accounts/{account.pk}/rules/", RULE_POST | {"name": "Mine"})

    assert b"Push on ROI" in page.content
    assert b'data-testid="rule-form"' not in page.content
    assert refused.status_code == 403
    assert BoostRule.objects.count() == 1


def test_an_account_of_a_channel_one_does_not_follow_is_not_found():
    stream = live_stream()
    elsewhere = AdAccountFactory()

    response = _client(_buyer(stream)).get(f"/ads/accounts/{elsewhere.pk}/rules/")

    assert response.status_code == 404


def test_a_rule_that_made_cards_is_turned_off_rather_than_deleted():
    stream = live_stream()
    decision = _card(stream)
    unused = BoostRuleFactory(account=decision.campaign.account)
    client = _client(_buyer(stream))
    path = f"/ads/accounts/{decision.campaign.account_id}/rules/"

    kept = client.post(path, {"op": "delete", "rule": decision.rule_id}, follow=True)
    client.post(path, {"op": "delete", "rule": unused.pk})

    assert "turn it off instead of deleting it" in unescape(kept.content.decode())
    assert list(BoostRule.objects.values_list("pk", flat=True)) == [decision.rule_id]


# --- Replay -------------------------------------------------------------------------------------


def test_the_replay_page_shows_what_the_rules_would_have_done_next_to_what_was_done():
    campaign = past_campaign()
    recorded(campaign, 30, gmv_per_minute=lambda k: 10 if k <= 10 else 50)
    push = BoostRuleFactory(
        account=campaign.account,
        name="push",
        min_spend=Decimal("100"),
        amount=Decimal("300"),
        cooldown_minutes=5,
        cap_per_stream=Decimal("500"),
    )
    BoostDecisionFactory(campaign=campaign, rule=push, status="rejected", note="too early")
    stream = campaign.stream
    producer = _studio_person(stream, Role.PRODUCER)

    response = _client(producer).get(
        f"/ads/streams/{stream.pk}/replay/", {"run": "1", "rule": [push.pk]}
    )

    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert re.search(r"Replayed 1 rule in [\d.]+ ms\.", page)
    assert page.count('data-source="replay"') == 3
    assert page.count('data-source="actual"') == 1
    assert "too early" in page
    # Minute 16 adds ¥300; the next two are stopped by the ¥500 stream cap. The 15 minutes
    # after minute 16 recorded ¥700 of GMV on ¥140 of spend.
    assert re.search(r'data-total="replay-added">.*?300\.00 CNY', page, re.S)
    assert re.search(r'data-total="replay-roi">.*?5\.00<', page, re.S)
    assert "past its 500.00 CNY for this stream" in page


def test_a_live_stream_is_replayed_only_once_it_has_ended():
    stream = live_stream()
    CampaignFactory(stream=stream, account__channel=stream.channel)

    response = _client(_buyer(stream)).get(f"/ads/streams/{stream.pk}/replay/", {"run": "1"})

    assert b'data-testid="not-ended"' in response.content
    assert b'data-testid="replay-result"' not in response.content
