"""People decide, money moves once.

A card the buyer accepts (and, above its rule's threshold, an approver approves) becomes
one intent keyed by the decision; a worker makes its platform change through the sandbox
adapter. The same decision executed twice — concurrently, or after a worker is killed
mid-call — is one platform change; an addition whose answer is lost is read back and sent
again only if it did not land; throttling reported as HTTP 200 with an error code waits
and retries; guardrails and kill switches stop boosts with their reason; every request and
response is on an audit log the database will not let anyone rewrite.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ads import guardrails, services
from ads.models import (
    AdAccount,
    AuditEntry,
    BoostDecision,
    BoostIntent,
    Campaign,
    DecisionStatus,
    IntentState,
    SandboxCampaign,
)
from ads.platforms.sandbox import WorkerKilled, faults_set
from ads.tasks import boost_execute_task, boost_sweep_task
from rooms.models import CrewRole, Role, StreamEvent
from tests.conftest import wait_until
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


# --- Helpers -----------------------------------------------------------------------------------


def buyer_for(stream, *roles):
    """An ad buyer (投手) crewed on the stream."""
    person = UserFactory(roles=[Role.AD_BUYER, *roles])
    CrewAssignmentFactory(stream=stream, person=person, role=CrewRole.AD_BUYER)
    return person


def approver_for(stream):
    """An ad approver of the stream's studio."""
    person = UserFactory(roles=[Role.AD_APPROVER])
    stream.studio.members.add(person)
    return person


def card(
    *,
    additive=True,
    budget="1000",
    amount="300",
    action="add_budget",
    rule=None,
    status=DecisionStatus.PROPOSED,
    **kw,
):
    """A proposed card for a campaign the sandbox platform holds with the same budget."""
    campaign = kw.pop("campaign", None) or CampaignFactory(
        additive=additive, budget=Decimal(budget), **kw
    )
    SandboxCampaign.objects.get_or_create(
        external_id=campaign.external_id, defaults={"budget": campaign.budget}
    )
    amount = Decimal(amount)
    target = campaign.budget + amount if action == "add_budget" else amount
    decision = BoostDecisionFactory(
        campaign=campaign,
        action=action,
        amount=amount if action == "add_budget" else target - campaign.budget,
        target_budget=target,
        status=status,
        **({"rule": rule} if rule else {}),
    )
    return decision


def accepted(decision, *, buyer=None) -> BoostIntent:
    services.decision_accept(
        actor=buyer or buyer_for(decision.stream),
        decision=decision,
        seen_version=decision.version,
    )
    return BoostIntent.objects.get(decision=decision)


def on_platform(campaign) -> SandboxCampaign:
    return SandboxCampaign.objects.get(external_id=campaign.external_id)


def fresh(intent: BoostIntent) -> BoostIntent:
    return BoostIntent.objects.select_related("decision").get(pk=intent.pk)


def audit_kinds(decision) -> list[str]:
    return list(AuditEntry.objects.filter(decision=decision).values_list("kind", flat=True))


def boost_ops(stream) -> list[str]:
    return list(
        StreamEvent.objects.filter(stream=stream, type="boost")
        .order_by("seq")
        .values_list("op", flat=True)
    )


def after_lease(now=None):
    return (now or timezone.now()) + services.EXECUTION_LEASE + timedelta(seconds=1)


def later(intent: BoostIntent):
    """The moment the intent's retry is due."""
    return fresh(intent).next_attempt_at + timedelta(milliseconds=1)


# --- Accept, edit, reject, approve -------------------------------------------------------------


def test_accepting_a_card_writes_one_intent_keyed_by_the_decision():
    decision = card()
    buyer = buyer_for(decision.stream)

    result = services.decision_accept(actor=buyer, decision=decision, seen_version=0)

    intent = BoostIntent.objects.get()
    assert (result.status, result.version, result.decided_by) == ("approved", 1, buyer)
    assert intent.idempotency_key == f"boost-{decision.pk}"
    assert (intent.state, intent.kind, intent.amount, intent.attempts) == (
        "pending",
        "add_budget",
        Decimal("300"),
        0,
    )
    assert boost_ops(decision.stream) == ["accepted"]
    entry = AuditEntry.objects.get(decision=decision)
    assert (entry.kind, entry.actor) == ("accepted", buyer)
    assert entry.data["decision"]["status"] == "approved"


@pytest.mark.django_db(transaction=True)
def test_an_accepted_card_stands_when_sending_its_boost_to_the_worker_fails(monkeypatch):
    """The intent is committed, and the sweep sends it; the buyer is not told their decision
    failed because the broker was away."""
    decision = card()

    def broker_away(intent_id):
        raise ConnectionError("the broker is away")

    monkeypatch.setattr(services, "_boost_enqueue", broker_away)
    result = services.decision_accept(
        actor=buyer_for(decision.stream), decision=decision, seen_version=0
    )

    assert result.status == "approved"
    assert BoostIntent.objects.get().state == "pending"


def test_a_card_changed_since_the_buyer_saw_it_is_a_conflict_with_the_card_as_it_is():
    decision = card()
    BoostDecision.objects.filter(pk=decision.pk).update(version=3)

    with pytest.raises(services.DecisionConflict) as conflict:
        services.decision_accept(
            actor=buyer_for(decision.stream), decision=decision, seen_version=0
        )

    assert conflict.value.current["version"] == 3
    assert not BoostIntent.objects.exists()


def test_a_card_accepted_twice_makes_one_intent():
    decision = card()
    accepted(decision)

    with pytest.raises(services.DecisionConflict) as conflict:
        services.decision_accept(
            actor=buyer_for(decision.stream), decision=decision, seen_version=0
        )

    assert conflict.value.current["status"] == "approved"
    assert BoostIntent.objects.count() == 1


def test_the_buyer_may_accept_another_amount_converted_to_a_target():
    decision = card(budget="1000", amount="300")

    result = services.decision_accept(
        actor=buyer_for(decision.stream),
        decision=decision,
        seen_version=0,
        edited_amount=Decimal("200"),
    )

    assert (result.amount, result.target_budget) == (Decimal("200"), Decimal("1200"))
    assert BoostIntent.objects.get().amount == Decimal("200")
    data = AuditEntry.objects.get(decision=decision).data
    assert (data["proposed"]["amount"], data["edited_amount"]) == ("300.00", "200")


def test_rejecting_a_card_writes_no_intent():
    decision = card()

    result = services.decision_reject(
        actor=buyer_for(decision.stream), decision=decision, seen_version=0, note="目标已达成"
    )

    assert (result.status, result.note) == ("rejected", "目标已达成")
    assert not BoostIntent.objects.exists()
    assert boost_ops(decision.stream) == ["rejected"]


def test_someone_not_buying_for_the_stream_cannot_accept():
    decision = card()

    with pytest.raises(PermissionDenied):
        services.decision_accept(
            actor=UserFactory(roles=[Role.AD_BUYER]), decision=decision, seen_version=0
        )


def test_a_card_above_the_threshold_waits_for_a_second_person_who_approves_it():
    rule = BoostRuleFactory(approval_above=Decimal("200"))
    decision = card(rule=rule, account=rule.account)
    buyer = buyer_for(decision.stream)

    waiting = services.decision_accept(actor=buyer, decision=decision, seen_version=0)
    assert waiting.status == "awaiting_approval"
    assert not BoostIntent.objects.exists()

    approver = approver_for(decision.stream)
    result = services.decision_approve(actor=approver, decision=decision, seen_version=1)

    assert (result.status, result.approved_by, result.decided_by) == ("approved", approver, buyer)
    assert BoostIntent.objects.get().decision == decision
    assert boost_ops(decision.stream) == ["accepted", "approved"]
    assert audit_kinds(decision) == ["accepted", "approved"]


def test_the_buyer_who_accepted_cannot_approve_their_own_boost():
    rule = BoostRuleFactory(approval_above=Decimal("200"))
    decision = card(rule=rule, account=rule.account)
    buyer = buyer_for(decision.stream, Role.AD_APPROVER)
    decision.stream.studio.members.add(buyer)
    services.decision_accept(actor=buyer, decision=decision, seen_version=0)

    with pytest.raises(ValidationError) as refused:
        services.decision_approve(actor=buyer, decision=decision, seen_version=1)

    assert refused.value.code == "same_person"
    assert not BoostIntent.objects.exists()


def test_a_buyer_without_the_approver_role_cannot_approve():
    rule = BoostRuleFactory(approval_above=Decimal("200"))
    decision = card(rule=rule, account=rule.account)
    services.decision_accept(actor=buyer_for(decision.stream), decision=decision, seen_version=0)

    with pytest.raises(PermissionDenied):
        services.decision_approve(
            actor=buyer_for(decision.stream), decision=decision, seen_version=1
        )


# --- Guardrails when a person decides ------------------------------------------------------------


def test_a_boost_over_the_rules_cap_is_stopped_with_the_reason_and_the_card_stays_open():
    rule = BoostRuleFactory(cap_per_boost=Decimal("200"))
    decision = card(rule=rule, account=rule.account, amount="300")

    with pytest.raises(services.BoostStopped) as stopped:
        accepted(decision)

    assert stopped.value.code == "guardrail"
    assert stopped.value.messages == [
        "Adding 300.00 CNY is more than the rule's 200.00 CNY per boost."
    ]
    decision.refresh_from_db()
    assert (decision.status, decision.version) == ("proposed", 0)
    assert not BoostIntent.objects.exists()


def test_editing_the_amount_down_gets_a_capped_boost_through():
    rule = BoostRuleFactory(cap_per_boost=Decimal("200"))
    decision = card(rule=rule, account=rule.account, amount="300")

    services.decision_accept(
        actor=buyer_for(decision.stream),
        decision=decision,
        seen_version=0,
        edited_amount=Decimal("200"),
    )

    assert BoostIntent.objects.get().amount == Decimal("200")


def test_a_change_below_the_minimum_step_is_stopped_with_the_reason():
    decision = card(amount="50", account=AdAccountFactory(min_step=Decimal("100")))

    with pytest.raises(services.BoostStopped) as stopped:
        accepted(decision)

    assert stopped.value.messages == [
        "A change of 50.00 CNY is below the platform's smallest step of 100.00 CNY."
    ]


def test_a_boost_past_the_daily_change_quota_is_stopped_with_the_reason():
    campaign = CampaignFactory(account=AdAccountFactory(daily_change_quota=1), additive=True)
    BoostIntentFactory(decision=BoostDecisionFactory(campaign=campaign, status="done"))
    decision = card(campaign=campaign)

    with pytest.raises(services.BoostStopped) as stopped:
        accepted(decision)

    assert stopped.value.messages == [
        "The campaign has used all 1 budget changes the platform allows today."
    ]


# --- Execution -----------------------------------------------------------------------------------


def test_an_addition_is_sent_once_confirmed_from_a_read_back_and_audited():
    decision = card(additive=True, budget="1000", amount="300")
    intent = accepted(decision)

    services.boost_execute(intent_id=intent.pk)

    intent = fresh(intent)
    assert (intent.state, intent.attempts, intent.budget_before) == (
        "confirmed",
        1,
        Decimal("1000"),
    )
    assert intent.platform_ref.startswith("sbx-")
    platform = on_platform(decision.campaign)
    assert (platform.budget, platform.changes_today) == (Decimal("1300"), 1)
    assert Campaign.objects.get(pk=decision.campaign_id).budget == Decimal("1300")
    assert intent.decision.status == "done"
    assert boost_ops(decision.stream) == ["accepted", "executing", "confirmed"]
    assert audit_kinds(decision) == [
        "accepted",
        "read_back",
        "platform_request",
        "platform_response",
        "read_back",
        "confirmed",
    ]
    response = AuditEntry.objects.get(decision=decision, kind="platform_response").data
    assert response["exchange"]["request"]["amount"] == "300.00"
    assert response["exchange"]["response"]["code"] == 0


def test_an_addition_to_a_set_budget_campaign_is_sent_as_the_budget_after_it():
    decision = card(additive=False, budget="1000", amount="300")
    intent = accepted(decision)

    services.boost_execute(intent_id=intent.pk)

    intent = fresh(intent)
    assert (intent.state, intent.target_budget) == ("confirmed", Decimal("1300"))
    request = AuditEntry.objects.get(decision=decision, kind="platform_response").data
    assert request["exchange"]["method"] == "set_budget"
    assert on_platform(decision.campaign).budget == Decimal("1300")


def test_setting_a_lower_budget_sets_it():
    decision = card(additive=False, budget="1000", action="set_budget", amount="600")
    intent = accepted(decision)

    services.boost_execute(intent_id=intent.pk)

    assert fresh(intent).state == "confirmed"
    assert on_platform(decision.campaign).budget == Decimal("600")
    assert Campaign.objects.get(pk=decision.campaign_id).budget == Decimal("600")


def test_a_set_budget_is_not_sent_when_the_platform_budget_was_changed_elsewhere():
    # Decided as 1,000 → 900 (a cut of 100: no cap, no approver), but someone set the
    # platform to 400 meanwhile: sending 900 would add 500 that nobody approved.
    decision = card(additive=False, budget="1000", action="set_budget", amount="900")
    SandboxCampaign.objects.filter(external_id=decision.campaign.external_id).update(
        budget=Decimal("400")
    )
    intent = accepted(decision)

    services.boost_execute(intent_id=intent.pk)

    intent = fresh(intent)
    assert (intent.state, intent.decision.status) == ("failed", DecisionStatus.FAILED)
    assert "changed elsewhere" in intent.last_error
    assert on_platform(decision.campaign).budget == Decimal("400")
    assert "platform_request" not in audit_kinds(decision)


def test_a_pause_whose_answer_was_lost_is_confirmed_from_the_read_back():
    campaign = CampaignFactory(additive=False)
    SandboxCampaign.objects.create(external_id=campaign.external_id, budget=campaign.budget)
    decision = BoostDecisionFactory(
        campaign=campaign, action="pause", amount=Decimal("0"), target_budget=None
    )
    intent = accepted(decision)
    faults_set(lost_after=1)

    services.boost_execute(intent_id=intent.pk)
    services.boost_execute(intent_id=intent.pk, now=later(intent))

    assert fresh(intent).state == "confirmed"
    assert on_platform(campaign).paused is True
    assert Campaign.objects.get(pk=campaign.pk).paused is True
    assert audit_kinds(decision).count("platform_request") == 1


def test_executing_a_confirmed_intent_again_changes_nothing():
    decision = card()
    intent = accepted(decision)
    services.boost_execute(intent_id=intent.pk)

    again = services.boost_execute(intent_id=intent.pk, now=after_lease())

    assert again is None
    assert on_platform(decision.campaign).budget == Decimal("1300")


@pytest.mark.django_db(transaction=True)
def test_the_same_decision_executed_twice_at_once_is_one_platform_change():
    decision = card()
    intent = accepted(decision)
    start = threading.Barrier(2)
    outcomes = []

    def execute():
        start.wait()
        try:
            outcomes.append(services.boost_execute(intent_id=intent.pk))
        finally:
            connection.close()

    workers = [threading.Thread(target=execute) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    platform = on_platform(decision.campaign)
    assert (platform.budget, platform.changes_today) == (Decimal("1300"), 1)
    assert sorted(o is None for o in outcomes) == [False, True]
    assert (fresh(intent).state, fresh(intent).attempts) == ("confirmed", 1)


def test_a_worker_killed_after_its_addition_landed_is_finished_by_the_sweep_without_a_second_add():
    decision = card(additive=True)
    intent = accepted(decision)
    faults_set(crash_after=1)
    with pytest.raises(WorkerKilled):
        services.boost_execute(intent_id=intent.pk)
    assert fresh(intent).state == "sending"
    assert services.boosts_due() == []  # the lease still runs

    now = after_lease()
    for due in services.boosts_due(now=now):
        services.boost_execute(intent_id=due, now=now)

    intent = fresh(intent)
    assert (intent.state, intent.attempts) == ("confirmed", 2)
    platform = on_platform(decision.campaign)
    assert (platform.budget, platform.changes_today) == (Decimal("1300"), 1)
    assert audit_kinds(decision).count("platform_request") == 1
    reconcile = AuditEntry.objects.filter(decision=decision, kind="read_back").last()
    assert (reconcile.data["purpose"], reconcile.data["budget"]) == ("reconcile", "1300.00")


def test_an_addition_whose_answer_was_lost_after_it_landed_is_read_back_not_sent_again():
    decision = card(additive=True)
    intent = accepted(decision)
    faults_set(lost_after=1)

    services.boost_execute(intent_id=intent.pk)
    assert (fresh(intent).state, on_platform(decision.campaign).budget) == (
        "unknown",
        Decimal("1300"),
    )
    services.boost_execute(intent_id=intent.pk, now=later(intent))

    intent = fresh(intent)
    assert (intent.state, intent.attempts, intent.last_error) == ("confirmed", 2, "")
    platform = on_platform(decision.campaign)
    assert (platform.budget, platform.changes_today) == (Decimal("1300"), 1)
    assert audit_kinds(decision).count("platform_request") == 1
    assert Campaign.objects.get(pk=decision.campaign_id).budget == Decimal("1300")


def test_an_addition_that_timed_out_before_it_landed_is_read_back_and_sent_once_more():
    decision = card(additive=True)
    intent = accepted(decision)
    faults_set(lost_before=1)

    services.boost_execute(intent_id=intent.pk)
    assert (fresh(intent).state, on_platform(decision.campaign).budget) == (
        "unknown",
        Decimal("1000"),
    )
    services.boost_execute(intent_id=intent.pk, now=later(intent))

    assert fresh(intent).state == "confirmed"
    platform = on_platform(decision.campaign)
    assert (platform.budget, platform.changes_today) == (Decimal("1300"), 1)
    assert audit_kinds(decision).count("platform_request") == 2


def test_a_500_after_the_change_landed_is_read_back_and_confirmed():
    decision = card(additive=False)
    intent = accepted(decision)
    faults_set(server_error=1)

    services.boost_execute(intent_id=intent.pk)
    assert fresh(intent).state == "unknown"
    services.boost_execute(intent_id=intent.pk, now=later(intent))

    assert fresh(intent).state == "confirmed"
    assert on_platform(decision.campaign).changes_today == 1


def test_throttling_reported_as_http_200_is_a_failure_retried_later():
    decision = card(additive=True)
    intent = accepted(decision)
    faults_set(throttled=1)
    before = timezone.now()

    services.boost_execute(intent_id=intent.pk, now=before)

    throttled = fresh(intent)
    assert throttled.state == "pending"
    assert throttled.next_attempt_at > before
    assert throttled.last_error.startswith("40100")
    assert throttled.budget_before is None
    assert on_platform(decision.campaign).budget == Decimal("1000")
    assert services.boosts_due(now=before) == []
    response = AuditEntry.objects.get(decision=decision, kind="platform_response").data
    assert (response["outcome"], response["exchange"]["status"]) == ("throttled", 200)

    now = later(intent)
    assert services.boosts_due(now=now) == [intent.pk]
    services.boost_execute(intent_id=intent.pk, now=now)

    assert (fresh(intent).state, fresh(intent).attempts) == ("confirmed", 2)
    assert on_platform(decision.campaign).budget == Decimal("1300")


def test_a_change_the_platform_refuses_fails_with_its_code_on_the_card():
    decision = card(additive=True)
    today = guardrails.local_day(decision.campaign.account)
    SandboxCampaign.objects.filter(external_id=decision.campaign.external_id).update(
        changes_day=today, changes_today=20
    )
    intent = accepted(decision)

    services.boost_execute(intent_id=intent.pk)

    intent = fresh(intent)
    assert intent.state == "failed"
    assert intent.last_error.startswith("40910: sandbox: budget changed 20 times today")
    assert (intent.decision.status, intent.decision.note) == ("failed", intent.last_error)
    assert boost_ops(decision.stream)[-1] == "failed"


def test_changes_of_one_campaign_take_turns_while_one_is_unresolved():
    first = card(additive=True)
    second = card(campaign=first.campaign)
    buyer = buyer_for(first.stream)
    first_intent = accepted(first, buyer=buyer)
    faults_set(lost_before=1)
    services.boost_execute(intent_id=first_intent.pk)
    second_intent = accepted(second, buyer=buyer)

    services.boost_execute(intent_id=second_intent.pk)

    assert fresh(second_intent).state == "pending"  # waits for the read-back of the first
    assert on_platform(first.campaign).budget == Decimal("1000")
    services.boost_execute(intent_id=first_intent.pk, now=later(first_intent))
    services.boost_execute(intent_id=second_intent.pk, now=later(second_intent))
    assert [fresh(first_intent).state, fresh(second_intent).state] == ["confirmed", "confirmed"]
    platform = on_platform(first.campaign)
    assert (platform.budget, platform.changes_today) == (Decimal("1600"), 2)


# --- Kill switches -------------------------------------------------------------------------------


def test_the_stream_kill_switch_stops_pending_executions_with_the_reason():
    decision = card()
    other = card(
        campaign=CampaignFactory(stream=decision.stream, account=decision.campaign.account)
    )
    buyer = buyer_for(decision.stream)
    intents = [accepted(decision, buyer=buyer), accepted(other, buyer=buyer)]

    switch, stopped = services.stream_kill_switch_set(
        actor=buyer, stream=decision.stream, killed=True
    )

    assert switch.killed
    assert stopped == [intent.pk for intent in intents]
    for intent in intents:
        intent = fresh(intent)
        assert (intent.state, intent.last_error) == (
            "failed",
            "The kill switch of this stream is on.",
        )
        assert intent.decision.status == "stopped"
        assert services.boost_execute(intent_id=intent.pk) is None
    assert on_platform(decision.campaign).budget == Decimal("1000")
    assert boost_ops(decision.stream)[-2:] == ["stopped", "stopped"]
    entry = AuditEntry.objects.get(kind="kill_switch")
    assert (entry.actor, entry.data["killed"], entry.data["stopped"]) == (buyer, True, stopped)


def test_the_account_kill_switch_stops_pending_executions_of_every_stream():
    decision = card()
    elsewhere = card(account=decision.campaign.account)
    intents = [accepted(decision), accepted(elsewhere)]
    producer = UserFactory(roles=[Role.PRODUCER])

    account, stopped = services.account_kill_switch_set(
        actor=producer, account=decision.campaign.account, killed=True
    )

    assert account.killed
    assert sorted(stopped) == sorted(intent.pk for intent in intents)
    assert {fresh(intent).decision.status for intent in intents} == {"stopped"}


def test_a_kill_switch_thrown_after_the_intent_was_queued_stops_it_right_before_sending():
    decision = card()
    intent = accepted(decision)
    AdAccount.objects.filter(pk=decision.campaign.account_id).update(killed=True)

    services.boost_execute(intent_id=intent.pk)

    intent = fresh(intent)
    assert (intent.state, intent.decision.status) == ("failed", "stopped")
    assert intent.last_error == "The kill switch of the ad account is on."
    assert on_platform(decision.campaign).budget == Decimal("1000")


def test_a_kill_switch_stops_an_unknown_addition_that_had_not_landed_instead_of_resending():
    decision = card(additive=True)
    buyer = buyer_for(decision.stream)
    intent = accepted(decision, buyer=buyer)
    faults_set(lost_before=1)
    services.boost_execute(intent_id=intent.pk)

    _switch, stopped = services.stream_kill_switch_set(
        actor=buyer, stream=decision.stream, killed=True
    )
    assert stopped == []  # in the air: its worker settles it
    services.boost_execute(intent_id=intent.pk, now=later(intent))

    assert (fresh(intent).state, fresh(intent).decision.status) == ("failed", "stopped")
    assert on_platform(decision.campaign).budget == Decimal("1000")


def test_an_unknown_addition_that_had_landed_is_confirmed_even_after_the_kill_switch():
    decision = card(additive=True)
    buyer = buyer_for(decision.stream)
    intent = accepted(decision, buyer=buyer)
    faults_set(lost_after=1)
    services.boost_execute(intent_id=intent.pk)
    services.stream_kill_switch_set(actor=buyer, stream=decision.stream, killed=True)

    services.boost_execute(intent_id=intent.pk, now=later(intent))

    assert fresh(intent).state == "confirmed"
    assert on_platform(decision.campaign).budget == Decimal("1300")


def test_with_the_kill_switch_on_a_card_cannot_be_accepted():
    decision = card()
    buyer = buyer_for(decision.stream)
    services.stream_kill_switch_set(actor=buyer, stream=decision.stream, killed=True)

    with pytest.raises(services.BoostStopped) as stopped:
        accepted(decision, buyer=buyer)

    assert stopped.value.messages == ["The kill switch of this stream is on."]


def test_a_host_cannot_throw_the_kill_switch():
    decision = card()

    with pytest.raises(PermissionDenied):
        services.stream_kill_switch_set(
            actor=UserFactory(roles=[Role.HOST]), stream=decision.stream, killed=True
        )


# --- The audit log -------------------------------------------------------------------------------


def test_audit_entries_cannot_be_changed_or_removed():
    decision = card()
    accepted(decision)
    entry = AuditEntry.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(kind="edited")
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()

    assert AuditEntry.objects.get().kind == "accepted"


# --- Through a real Celery worker --------------------------------------------------------------


def _state(intent) -> str:
    return BoostIntent.objects.get(pk=intent.pk).state


@pytest.mark.django_db(transaction=True)
def test_the_worker_executes_an_accepted_card_once_however_often_it_is_enqueued(celery_worker):
    decision = card()
    intent = accepted(decision)
    boost_execute_task.delay(intent.pk)
    boost_execute_task.delay(intent.pk)
    # The solo worker takes tasks in order: once this one is done, so are the duplicates.
    marker = accepted(card())

    wait_until(lambda: _state(marker) == IntentState.CONFIRMED)

    assert _state(intent) == IntentState.CONFIRMED
    platform = on_platform(decision.campaign)
    assert (platform.budget, platform.changes_today) == (Decimal("1300"), 1)


@pytest.mark.django_db(transaction=True)
def test_the_worker_reads_back_an_addition_whose_answer_was_lost_and_adds_nothing(celery_worker):
    faults_set(lost_after=1)
    decision = card(additive=True)

    intent = accepted(decision)

    wait_until(lambda: _state(intent) == IntentState.CONFIRMED)
    assert BoostIntent.objects.get(pk=intent.pk).attempts == 2
    platform = on_platform(decision.campaign)
    assert (platform.budget, platform.changes_today) == (Decimal("1300"), 1)


@pytest.mark.django_db(transaction=True)
def test_the_sweep_finishes_the_execution_of_a_killed_worker_with_one_change(celery_worker):
    decision = card(additive=True, status=DecisionStatus.APPROVED)
    intent = BoostIntentFactory(
        decision=decision,
        idempotency_key=f"boost-{decision.pk}",
        state="pending",
        budget_before=None,
        settled_at=None,
    )
    faults_set(crash_after=1)
    with pytest.raises(WorkerKilled):
        services.boost_execute(intent_id=intent.pk)
    # The lease of the dead worker runs out.
    BoostIntent.objects.filter(pk=intent.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )

    boost_sweep_task.delay()

    wait_until(lambda: _state(intent) == IntentState.CONFIRMED)
    platform = on_platform(decision.campaign)
    assert (platform.budget, platform.changes_today) == (Decimal("1300"), 1)
