"""Decisions, kill switches and executions over REST: the planning endpoints' error shape,
409 conflicts carrying the card as it is, guardrails refused with their reason, and a
stream's executions with every request and response on their audit trail."""

from decimal import Decimal

import pytest
from django.test import Client

from ads import services
from ads.models import AdAccount, BoostIntent, StreamKillSwitch
from rooms.models import Role
from tests.ads.test_execution import approver_for, buyer_for, card
from tests.factories import BoostRuleFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, path: str, body: dict | None = None):
    return client.post(f"/api/v1/ads/{path}", body or {}, content_type="application/json")


def _put(client: Client, path: str, body: dict):
    return client.put(f"/api/v1/ads/{path}", body, content_type="application/json")


# --- Decision cards ----------------------------------------------------------------------------


def test_a_buyer_accepts_a_card_and_gets_it_back_as_it_now_stands():
    decision = card()
    client = _client(buyer_for(decision.stream))

    response = _post(client, f"decisions/{decision.pk}/accept", {"seen_version": 0})

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["version"]) == ("approved", 1)
    assert BoostIntent.objects.get().idempotency_key == f"boost-{decision.pk}"


def test_accepting_a_card_that_changed_is_a_409_with_the_card_as_it_is():
    decision = card()
    buyer = buyer_for(decision.stream)
    _post(_client(buyer), f"decisions/{decision.pk}/reject", {"seen_version": 0})

    response = _post(_client(buyer), f"decisions/{decision.pk}/accept", {"seen_version": 0})

    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["current"]["status"]) == ("conflict", "rejected")
    assert not BoostIntent.objects.exists()


def test_a_boost_a_guardrail_stops_is_a_400_with_the_reason():
    rule = BoostRuleFactory(cap_per_boost=Decimal("200"))
    decision = card(rule=rule, account=rule.account, amount="300")

    response = _post(
        _client(buyer_for(decision.stream)), f"decisions/{decision.pk}/accept", {"seen_version": 0}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "guardrail"
    assert response.json()["detail"] == (
        "Adding 300.00 CNY is more than the rule's 200.00 CNY per boost."
    )


def test_the_buyer_may_accept_an_edited_amount():
    decision = card(budget="1000", amount="300")

    response = _post(
        _client(buyer_for(decision.stream)),
        f"decisions/{decision.pk}/accept",
        {"seen_version": 0, "amount": "150.00", "note": "先小步试"},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["amount"], body["target_budget"], body["note"]) == (
        "150.00",
        "1150.00",
        "先小步试",
    )


def test_an_amount_of_zero_is_bad_input():
    decision = card()

    response = _post(
        _client(buyer_for(decision.stream)),
        f"decisions/{decision.pk}/accept",
        {"seen_version": 0, "amount": "0"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_an_approver_approves_what_a_buyer_accepted_and_a_buyer_cannot():
    rule = BoostRuleFactory(approval_above=Decimal("100"))
    decision = card(rule=rule, account=rule.account)
    buyer = buyer_for(decision.stream)
    _post(_client(buyer), f"decisions/{decision.pk}/accept", {"seen_version": 0})

    refused = _post(_client(buyer), f"decisions/{decision.pk}/approve", {"seen_version": 1})
    approved = _post(
        _client(approver_for(decision.stream)),
        f"decisions/{decision.pk}/approve",
        {"seen_version": 1},
    )

    assert refused.status_code == 403
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert BoostIntent.objects.count() == 1


def test_a_card_of_a_stream_one_cannot_see_is_not_found():
    decision = card()
    stranger = buyer_for(card().stream)

    response = _post(_client(stranger), f"decisions/{decision.pk}/accept", {"seen_version": 0})

    assert response.status_code == 404


# --- Kill switches -------------------------------------------------------------------------------


def test_the_stream_kill_switch_stops_pending_executions_and_shows_as_on():
    decision = card()
    buyer = buyer_for(decision.stream)
    client = _client(buyer)
    _post(client, f"decisions/{decision.pk}/accept", {"seen_version": 0})
    intent = BoostIntent.objects.get()

    response = _put(client, f"streams/{decision.stream_id}/kill-switch", {"killed": True})
    shown = client.get(f"/api/v1/ads/streams/{decision.stream_id}/kill-switch").json()

    assert response.status_code == 200
    assert (response.json()["killed"], response.json()["stopped"]) == (True, [intent.pk])
    assert response.json()["changed_by"] == buyer.username
    assert shown["stream"]["killed"] is True
    assert shown["accounts"] == [
        {
            "id": decision.campaign.account_id,
            "name": decision.campaign.account.name,
            "killed": False,
        }
    ]
    assert BoostIntent.objects.get().state == "failed"


def test_turning_the_stream_kill_switch_off_lets_boosts_through_again():
    decision = card()
    buyer = buyer_for(decision.stream)
    client = _client(buyer)
    _put(client, f"streams/{decision.stream_id}/kill-switch", {"killed": True})

    _put(client, f"streams/{decision.stream_id}/kill-switch", {"killed": False})
    response = _post(client, f"decisions/{decision.pk}/accept", {"seen_version": 0})

    assert response.status_code == 200
    assert StreamKillSwitch.objects.get().killed is False


def test_a_viewer_of_the_studio_sees_boosts_but_cannot_throw_the_kill_switch():
    decision = card()
    viewer = UserFactory(roles=[Role.VIEWER])
    decision.stream.studio.members.add(viewer)
    client = _client(viewer)

    seen = client.get(f"/api/v1/ads/streams/{decision.stream_id}/kill-switch")
    thrown = _put(client, f"streams/{decision.stream_id}/kill-switch", {"killed": True})

    assert seen.status_code == 200
    assert thrown.status_code == 403
    assert not StreamKillSwitch.objects.exists()


def test_a_producer_throws_the_account_kill_switch():
    decision = card()
    producer = UserFactory(roles=[Role.PRODUCER])

    response = _put(
        _client(producer), f"accounts/{decision.campaign.account_id}/kill-switch", {"killed": True}
    )

    assert response.status_code == 200
    assert response.json()["killed"] is True
    assert AdAccount.objects.get(pk=decision.campaign.account_id).killed is True


# --- Executions ----------------------------------------------------------------------------------


def test_a_streams_executions_carry_their_state_and_audit_trail():
    decision = card(additive=True)
    buyer = buyer_for(decision.stream)
    client = _client(buyer)
    _post(client, f"decisions/{decision.pk}/accept", {"seen_version": 0})
    services.boost_execute(intent_id=BoostIntent.objects.get().pk)

    response = client.get(f"/api/v1/ads/streams/{decision.stream_id}/executions")

    assert response.status_code == 200
    [execution] = response.json()
    assert (execution["state"], execution["idempotency_key"]) == (
        "confirmed",
        f"boost-{decision.pk}",
    )
    assert execution["decision_card"]["status"] == "done"
    trail = execution["audit"]
    assert [entry["kind"] for entry in trail] == [
        "accepted",
        "read_back",
        "platform_request",
        "platform_response",
        "read_back",
        "confirmed",
    ]
    assert trail[0]["actor"] == buyer.username
    response_entry = trail[3]["data"]["exchange"]
    assert (response_entry["method"], response_entry["status"]) == ("add_budget", 200)
