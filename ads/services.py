"""Every write in the ads app.

Metrics in, decision cards out (this part): `ad_metrics` events from the ingest webhook
become per-minute campaign series, and every batch is judged against the enabled rules of
its campaigns' accounts at once, so a card reaches the buyer's screen seconds after the
numbers that justify it, not on a timer.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rooms import eventlog
from rooms.models import Channel, IngestEvent, Stream, StreamStatus, User

from . import guardrails, lock_objects, platforms, selectors
from . import rules_engine as engine
from .events import (
    ad_metrics_sampled,
    decision_data,
    decisions_changed,
    kill_switch_changed,
    kill_switch_data,
    needs_approval,
)
from .models import (
    ActionKind,
    AdAccount,
    AdPlatform,
    AuditEntry,
    BoostDecision,
    BoostIntent,
    BoostRule,
    Campaign,
    CampaignMinute,
    DecisionStatus,
    IntentState,
    StreamKillSwitch,
)
from .platforms import (
    Budget,
    Exchange,
    PlatformError,
    PlatformRejected,
    PlatformThrottled,
    PlatformTimeout,
    Receipt,
)
from .selectors import intent_data

logger = logging.getLogger(__name__)


# === Metrics and decision cards (helper "decisions") ======================================


def ad_metrics_ingest(*, stream: Stream, events: list[IngestEvent]) -> None:
    """Cumulative campaign figures for the stream, as the platform reports them: logged as
    they came, folded into one row per campaign per minute, then judged by the rules."""
    ad_metrics_sampled(stream=stream, samples=events)
    campaigns = _campaigns_reporting(stream, {event.payload["campaign_id"] for event in events})
    _campaign_minutes_record(stream, campaigns, events)
    boost_rules_evaluate(stream=stream, campaign_ids=[c.pk for c in campaigns.values()])


def _sandbox_account(channel: Channel) -> AdAccount:
    """Where a channel without an ad account keeps the campaigns its platform reports."""
    account, _created = AdAccount.objects.get_or_create(
        platform=AdPlatform.SANDBOX,
        external_id=f"auto-{channel.key}",
        defaults={"channel": channel, "name": f"{channel.name} (auto)"},
    )
    return account


def _campaigns_reporting(stream: Stream, external_ids: set[str]) -> dict[str, Campaign]:
    """The campaigns behind these platform campaign ids, found among the channel's ad
    accounts (the first account by id when two hold one), linked to the stream.

    An id nobody registered is a campaign the buyer started on the platform directly: it is
    registered under the channel's first ad account (a sandbox account made for the channel
    when it has none), named by its id, so its money is watched from the first report.
    A campaign reporting for this stream now pushes this stream.
    """
    found: dict[str, Campaign] = {}
    for campaign in (
        Campaign.objects.filter(account__channel_id=stream.channel_id, external_id__in=external_ids)
        .select_related("account")
        .order_by("account_id", "pk")
    ):
        found.setdefault(campaign.external_id, campaign)
    missing = sorted(external_ids - found.keys())
    if missing:
        account = AdAccount.objects.filter(channel_id=stream.channel_id).order_by(
            "pk"
        ).first() or _sandbox_account(stream.channel)
        for external_id in missing:
            found[external_id], _created = Campaign.objects.get_or_create(
                account=account,
                external_id=external_id,
                defaults={"name": external_id, "stream": stream},
            )
    relink = [c.pk for c in found.values() if c.stream_id != stream.pk]
    if relink:
        Campaign.objects.filter(pk__in=relink).update(stream=stream)
        for campaign in found.values():
            campaign.stream_id = stream.pk
    return found


def _campaign_minutes_record(
    stream: Stream, campaigns: dict[str, Campaign], events: list[IngestEvent]
) -> None:
    """Fold reports into one row per campaign per minute (`CampaignMinute`), in one
    statement. Totals only grow: a report arriving late, twice or out of order never takes
    a total back (the platform's running totals do not fall)."""
    if not events:
        return
    table = CampaignMinute._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} AS m
                (campaign_id, stream_id, minute, at, spend, impressions, clicks, orders, gmv)
            SELECT u.campaign, %s, date_trunc('minute', u.at), max(u.at), max(u.spend),
                   max(u.impressions), max(u.clicks), max(u.orders), max(u.gmv)
            FROM unnest(%s::bigint[], %s::timestamptz[], %s::numeric[], %s::bigint[],
                        %s::bigint[], %s::bigint[], %s::numeric[])
                AS u(campaign, at, spend, impressions, clicks, orders, gmv)
            GROUP BY u.campaign, date_trunc('minute', u.at)
            ON CONFLICT (campaign_id, minute) DO UPDATE SET
                at = GREATEST(m.at, EXCLUDED.at),
                spend = GREATEST(m.spend, EXCLUDED.spend),
                impressions = GREATEST(m.impressions, EXCLUDED.impressions),
                clicks = GREATEST(m.clicks, EXCLUDED.clicks),
                orders = GREATEST(m.orders, EXCLUDED.orders),
                gmv = GREATEST(m.gmv, EXCLUDED.gmv)
            """,
            [
                stream.pk,
                [campaigns[e.payload["campaign_id"]].pk for e in events],
                [e.at for e in events],
                [e.payload["spend"] for e in events],
                [e.payload["impressions"] for e in events],
                [e.payload["clicks"] for e in events],
                [e.payload["orders"] for e in events],
                [e.payload["gmv"] for e in events],
            ],
        )


# A card the buyer has not answered goes stale: when its rule fires again after this long
# (or after the rule's cool-down, if longer), a fresh card with fresh numbers replaces it.
CARD_FRESH_FOR = timedelta(minutes=5)
# Cards that hold back a new one for the same rule and campaign.
OPEN_STATUSES = frozenset(selectors.OPEN_STATUSES)


def boost_rules_evaluate(
    *, stream: Stream, campaign_ids: list[int], now: datetime | None = None
) -> list[BoostDecision]:
    """Judge the enabled rules of these campaigns' accounts at each campaign's latest
    reported minute, and put a card on the buyer's screen for each rule that fires.

    Only live streams are judged. A rule does not propose again for a campaign while its
    card is open (unless that card went stale unanswered: it is then expired and replaced)
    nor within its cool-down of the last card. A proposal the guardrails stop (kill switch,
    minimum step, daily change quota, caps, cool-down after a boost, active hours) is
    still recorded, as a card rejected with the reason, so the buyer sees why nothing
    happened. Returns the cards made.

    Cost: ten queries per call whatever the number of rules, plus a few per card.
    """
    if not campaign_ids:
        return []
    # The caller's instance may predate the stream going live in the same batch.
    if (
        stream.status != StreamStatus.LIVE
        and not Stream.objects.filter(pk=stream.pk, status=StreamStatus.LIVE).exists()
    ):
        return []
    campaigns = list(
        Campaign.objects.filter(pk__in=campaign_ids).select_related("account__channel")
    )
    rules = list(
        BoostRule.objects.filter(
            enabled=True, account_id__in={campaign.account_id for campaign in campaigns}
        )
        .select_related("account__channel")
        .order_by("pk")
    )
    if not rules:
        return []
    lock_objects.stream_evaluation(stream.pk)
    now = now or timezone.now()
    specs = {rule.pk: engine.rule_spec(rule) for rule in rules}
    latest = dict(
        CampaignMinute.objects.filter(stream=stream, campaign__in=campaigns)
        .values("campaign_id")
        .annotate(last=Max("minute"))
        .values_list("campaign_id", "last")
    )
    if not latest:
        return []
    lookback = 2 * max(spec.window for spec in specs.values())
    start = min(latest.values()) - timedelta(minutes=lookback)
    length = engine.minutes_between(start, max(latest.values())) + 1
    series = selectors.campaign_series(stream, latest.keys(), start, length)
    stream_series = selectors.stream_series(stream, start, length)
    decisions = list(
        BoostDecision.objects.filter(stream=stream, campaign__in=campaigns, rule__in=rules)
    )
    # The run-of-show is read once, and only when a rule looks at the pinned product or a
    # card is to be made: most minutes propose nothing.
    context: selectors.ShowContext | None = None
    if any(c.metric == "pinned_stock" for spec in specs.values() for c in spec.conditions):
        context = selectors.show_context(stream)
    made = []
    for campaign in sorted(campaigns, key=lambda c: c.pk):
        if campaign.pk not in latest:
            continue
        minute = latest[campaign.pk]
        view = engine.WindowView(
            campaign=series[campaign.pk],
            stream=stream_series,
            index=engine.minutes_between(start, minute),
            budget=campaign.budget,
            paused=campaign.paused,
            minutes_left=int((stream.planned_end - minute).total_seconds() // 60),
            pinned_stock=context.pinned_stock if context else None,
        )
        for rule in rules:
            if rule.account_id != campaign.account_id:
                continue
            proposal = engine.evaluate(specs[rule.pk], view)
            if isinstance(proposal, engine.NoProposal):
                continue
            mine = [d for d in decisions if d.rule_id == rule.pk and d.campaign_id == campaign.pk]
            stale = _cards_in_the_way(rule, mine, now)
            if stale is None:
                continue
            _cards_expire(stream, stale, now)
            context = context or selectors.show_context(stream)
            card = _card_propose(stream, campaign, rule, proposal, context, now)
            decisions.append(card)
            made.append(card)
    return made


def _activity(decision: BoostDecision) -> datetime:
    return max(t for t in (decision.proposed_at, decision.decided_at, decision.approved_at) if t)


def _cards_in_the_way(
    rule: BoostRule, cards: list[BoostDecision], now: datetime
) -> list[BoostDecision] | None:
    """None when the rule must keep quiet for this campaign; else the stale cards its new
    card replaces (often none)."""
    cooldown = timedelta(minutes=rule.cooldown_minutes)
    fresh_for = max(cooldown, CARD_FRESH_FOR)
    stale = []
    for card in cards:
        if card.status not in OPEN_STATUSES:
            continue
        if card.status == DecisionStatus.PROPOSED and now - card.proposed_at >= fresh_for:
            stale.append(card)
        else:
            return None
    others = [card for card in cards if card not in stale]
    if others and now - max(_activity(card) for card in others) < cooldown:
        return None
    return stale


def _cards_expire(stream: Stream, cards: list[BoostDecision], now: datetime) -> None:
    """Stale cards expire, unless the buyer answered one meanwhile (it is then left be)."""
    expired = []
    for card in cards:
        locked = lock_objects.decision_for_update(card.pk)
        if locked.status != DecisionStatus.PROPOSED:
            continue
        locked.status = DecisionStatus.EXPIRED
        locked.version += 1
        locked.save(update_fields=["status", "version"])
        card.status = locked.status
        expired.append(locked)
    if expired:
        decisions_changed(stream_id=stream.pk, op="expired", decisions=expired)


def _card_propose(
    stream: Stream,
    campaign: Campaign,
    rule: BoostRule,
    proposal: engine.Proposal,
    context: selectors.ShowContext,
    now: datetime,
) -> BoostDecision:
    reason = guardrails.stop_reason(
        campaign=campaign,
        stream=stream,
        rule=rule,
        action=proposal.action,
        change=proposal.amount or Decimal(0),
        at=now,
    )
    evidence = {**proposal.evidence, "show": context.card}
    if reason:
        evidence["blocked"] = reason
    decision = BoostDecision.objects.create(
        stream=stream,
        campaign=campaign,
        rule=rule,
        action=proposal.action,
        target_budget=proposal.target_budget,
        amount=proposal.amount,
        evidence=evidence,
        status=DecisionStatus.REJECTED if reason else DecisionStatus.PROPOSED,
        proposed_at=now,
        decided_at=now if reason else None,
        note=reason or "",
    )
    if reason:
        # A boost the system itself turned down is a money decision too: on the record,
        # with the numbers it was judged on.
        _decision_audit("blocked", decision, at=now, actor=None, data={"reason": reason})
    decisions_changed(
        stream_id=stream.pk, op="rejected" if reason else "proposed", decisions=[decision]
    )
    return decision


# === People decide, money moves: acceptance, approval, execution, kill switches ===========
# (helper "execution")
#
# A decision a person accepts (and, above its rule's threshold, a second person approves)
# becomes exactly one `BoostIntent`, keyed `boost-<decision id>`: the outbox row from which a
# worker makes the platform call. The intent is the only path money takes.


def _allowed(actor: User | None, perm: str, obj: object = None) -> None:
    """Check the acting person's permission; `None` is the system itself (sweeps, tasks)."""
    if actor is not None and not actor.has_perm(perm, obj):
        raise PermissionDenied(_("You don't have permission to do this."))


class DecisionConflict(ValidationError):
    """Someone else acted on the card first, or it changed since the person's screen showed
    it. Carries the card as it now stands, so the screen shows that instead."""

    def __init__(self, message: str, *, current: dict):
        self.current = current
        super().__init__(message, code="conflict")


class BoostStopped(ValidationError):
    """A guardrail stops the boost; the message is the reason, for the person's screen."""

    def __init__(self, message: str):
        super().__init__(message, code="guardrail")


def _audit(
    kind: str,
    *,
    at: datetime,
    data: dict,
    actor: User | None = None,
    stream_id: int | None = None,
    campaign_id: int | None = None,
    decision_id: int | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        at=at,
        actor=actor,
        stream_id=stream_id,
        campaign_id=campaign_id,
        decision_id=decision_id,
        kind=kind,
        data=data,
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decision_audit(kind: str, decision: BoostDecision, *, at: datetime, actor, data: dict):
    return _audit(
        kind,
        at=at,
        actor=actor,
        stream_id=decision.stream_id,
        campaign_id=decision.campaign_id,
        decision_id=decision.pk,
        data={"decision": decision_data(decision)} | data,
    )


def _decision_refusal(decision: BoostDecision) -> str:
    """Why a person cannot act on the card as their screen showed it."""
    who = decision.decided_by or _("Someone")
    if decision.status == DecisionStatus.REJECTED:
        return _("%(name)s rejected this card meanwhile.") % {"name": who}
    if decision.status == DecisionStatus.AWAITING_APPROVAL:
        return _("%(name)s accepted this card meanwhile; it waits for an approver.") % {"name": who}
    if decision.status == DecisionStatus.PROPOSED:
        return _("The card changed since your screen showed it.")
    if decision.status == DecisionStatus.EXPIRED:
        return _("This card expired.")
    return _("This card was already decided.")


def _decision_locked(decision: BoostDecision, seen_version: int, allowed: Sequence[str]):
    """The card locked (its campaign first: accepting and executing changes of one
    campaign take turns), or `DecisionConflict` if it is not as the person saw it."""
    lock_objects.campaigns_for_update([decision.campaign_id])
    locked = lock_objects.decision_for_update(decision.pk)
    if locked.status not in allowed or locked.version != seen_version:
        raise DecisionConflict(_decision_refusal(locked), current=decision_data(locked))
    return locked


def _guard(decision: BoostDecision, *, at: datetime, timing: bool) -> None:
    reason = guardrails.stop_reason(
        campaign=decision.campaign,
        stream=decision.stream,
        rule=decision.rule,
        action=decision.action,
        change=decision.amount or guardrails.ZERO,
        at=at,
        exclude_decision=decision.pk,
        timing=timing,
    )
    if reason:
        raise BoostStopped(reason)


def boost_idempotency_key(decision: BoostDecision) -> str:
    """One decision, one platform change: a second intent for it cannot even be written."""
    return f"boost-{decision.pk}"


def _intent_create(decision: BoostDecision, *, now: datetime) -> BoostIntent:
    intent = BoostIntent.objects.create(
        decision=decision,
        campaign_id=decision.campaign_id,
        idempotency_key=boost_idempotency_key(decision),
        kind=decision.action,
        amount=decision.amount,
        target_budget=decision.target_budget,
        next_attempt_at=now,
        created_at=now,
    )
    # Robust: the intent is committed, and the sweep sends it if the broker is away now;
    # the buyer must not be told their decision failed. (A lambda, not a `partial`: Django
    # names the callback when it logs a robust hook's failure, and a `partial` has no name.)
    intent_id = intent.pk
    transaction.on_commit(lambda: _boost_enqueue(intent_id), robust=True)
    return intent


def _boost_enqueue(intent_id: int) -> None:
    from .tasks import boost_execute_task

    boost_execute_task.delay(intent_id)


def decision_accept(
    *,
    actor: User,
    decision: BoostDecision,
    seen_version: int,
    edited_amount: Decimal | None = None,
    note: str = "",
    now: datetime | None = None,
) -> BoostDecision:
    """The ad buyer accepts a card, as proposed or with another amount.

    `edited_amount` is in the action's own terms, like a rule's amount: what to add, the
    budget to set, what to cut. The guardrails are applied again to what is accepted; a
    boost they stop is refused with the reason (`BoostStopped`), and the card stays open to
    be edited down. Above the rule's approval threshold the card waits for an approver;
    otherwise its intent is written and sent.
    """
    _allowed(actor, "ads.decide", decision.stream)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _decision_locked(decision, seen_version, [DecisionStatus.PROPOSED])
        proposed = {"amount": _money(locked.amount), "target_budget": _money(locked.target_budget)}
        if edited_amount is not None:
            if locked.action in (ActionKind.PAUSE, ActionKind.NOTIFY):
                raise ValidationError(_("This action has no amount to change."), code="invalid")
            if edited_amount <= 0:
                raise ValidationError(_("The amount must be more than zero."), code="invalid")
            locked.target_budget, locked.amount = guardrails.as_absolute(
                locked.campaign, locked.action, edited_amount
            )
        _guard(locked, at=now, timing=True)
        locked.decided_by, locked.decided_at = actor, now
        if note:
            locked.note = note[:300]
        if locked.action == ActionKind.NOTIFY:
            locked.status = DecisionStatus.DONE
        elif needs_approval(locked):
            locked.status = DecisionStatus.AWAITING_APPROVAL
        else:
            locked.status = DecisionStatus.APPROVED
        locked.version += 1
        locked.save()
        if locked.status == DecisionStatus.APPROVED:
            _intent_create(locked, now=now)
        _decision_audit(
            "accepted",
            locked,
            at=now,
            actor=actor,
            data={
                "proposed": proposed,
                "edited_amount": _money(edited_amount),
                "seen_version": seen_version,
                "campaign_budget": _money(locked.campaign.budget),
            },
        )
        decisions_changed(stream_id=locked.stream_id, op="accepted", decisions=[locked])
    return locked


def decision_reject(
    *,
    actor: User,
    decision: BoostDecision,
    seen_version: int,
    note: str = "",
    now: datetime | None = None,
) -> BoostDecision:
    """The ad buyer turns a card down; an approver may turn down one waiting for them."""
    now = now or timezone.now()
    if decision.status == DecisionStatus.AWAITING_APPROVAL:
        _allowed(actor, "ads.approve", decision.stream)
    else:
        _allowed(actor, "ads.decide", decision.stream)
    with transaction.atomic():
        locked = _decision_locked(
            decision,
            seen_version,
            [DecisionStatus.PROPOSED, DecisionStatus.AWAITING_APPROVAL],
        )
        if locked.status == DecisionStatus.AWAITING_APPROVAL:
            # An approver's "no" is theirs; the buyer who accepted stays on record.
            locked.approved_by, locked.approved_at = actor, now
        else:
            locked.decided_by, locked.decided_at = actor, now
        locked.status = DecisionStatus.REJECTED
        if note:
            locked.note = note[:300]
        locked.version += 1
        locked.save()
        _decision_audit(
            "rejected", locked, at=now, actor=actor, data={"seen_version": seen_version}
        )
        decisions_changed(stream_id=locked.stream_id, op="rejected", decisions=[locked])
    return locked


def decision_approve(
    *,
    actor: User,
    decision: BoostDecision,
    seen_version: int,
    now: datetime | None = None,
) -> BoostDecision:
    """A second person (ad approver) clears a card above its rule's threshold; then its
    intent is written and sent. The buyer who accepted it cannot approve it themselves."""
    _allowed(actor, "ads.approve", decision.stream)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _decision_locked(decision, seen_version, [DecisionStatus.AWAITING_APPROVAL])
        if locked.decided_by_id == actor.pk:
            raise ValidationError(
                _("Someone other than the person who accepted the boost must approve it."),
                code="same_person",
            )
        # Cool-down and active hours were checked at acceptance; the approver's minute of
        # thought must not void it. Money limits and kill switches are checked again.
        _guard(locked, at=now, timing=False)
        locked.approved_by, locked.approved_at = actor, now
        locked.status = DecisionStatus.APPROVED
        locked.version += 1
        locked.save()
        _intent_create(locked, now=now)
        _decision_audit(
            "approved", locked, at=now, actor=actor, data={"seen_version": seen_version}
        )
        decisions_changed(stream_id=locked.stream_id, op="approved", decisions=[locked])
    return locked


# --- Execution -----------------------------------------------------------------------------
#
# State machine of an intent: pending → sending → confirmed | failed | unknown; throttled
# goes back to pending (nothing changed), a lost answer goes to unknown (something may have
# changed), and unknown is settled only by reading the budget back.
#
# Serialisation per campaign, and why not a lock held over the call: holding a database
# transaction (or a row lock) open across an HTTP call ties a connection up for the call's
# length and turns a slow platform into lock waits everywhere; a Redis lock or a
# session-level advisory lock on a dedicated connection would be a second source of truth
# that forgets what happened when its holder dies. Instead the intent row itself is the
# lock: a short transaction under the campaign's row lock checks that no other change of
# the campaign is in the air (sending or unknown) and marks this one "sending" with a lease
# (`next_attempt_at`), then commits; the call runs with no lock held. A campaign with an
# unresolved change takes no other until a read-back resolves it, so a read-back compares
# against the budget before this change alone: no other intent can have landed meanwhile.
#
# `attempts` is the fencing token: only the attempt that marked the row may settle it. The
# lease is far longer than an adapter's call may take (adapters time out first), so a live
# worker never loses its row mid-call; a worker killed mid-call leaves the row "sending"
# until the lease runs out, then the sweep takes it and reads back before anything else.

EXECUTION_LEASE = timedelta(seconds=6 * platforms.CALL_TIMEOUT_SECONDS)
CAMPAIGN_BUSY_RETRY = timedelta(seconds=2)
THROTTLED_MAX_ATTEMPTS = 10
IN_THE_AIR = (IntentState.SENDING, IntentState.UNKNOWN)
DUE = (IntentState.PENDING, IntentState.SENDING, IntentState.UNKNOWN)


def _throttle_backoff(attempts: int) -> timedelta:
    """5, 10, 20, 40 s … up to 5 minutes: a throttled platform wants fewer calls, not more."""
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 300))


def _unknown_backoff(attempts: int) -> timedelta:
    """2, 4, 8 s … up to a minute: the money is in doubt, so read back soon."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 60))


@dataclass
class _Claim:
    intent: BoostIntent
    go: bool
    # An earlier attempt may have landed: read back before anything is sent.
    resuming: bool = False


def _decision_moved(
    intent: BoostIntent, *, status: str, op: str, now: datetime, error: str = ""
) -> None:
    """Move the intent's decision to `status` and say so on the stream's log."""
    decision = lock_objects.decision_for_update(intent.decision_id)
    if decision.status == status:
        return
    decision.status = status
    decision.version += 1
    if error:
        # The card shows why its money did not move, as it shows a proposal's guardrail.
        decision.note = error[:300]
    decision.save(update_fields=["status", "version", "note"])
    intent.decision = decision
    if status != DecisionStatus.EXECUTING:
        # Stamped with the clock, as the exchanges of the attempt are: the log's order is
        # the order things happened in, whatever moment the attempt was run "at".
        _decision_audit(
            op,
            decision,
            at=timezone.now(),
            actor=None,
            data={"intent": intent_data(intent), "reason": error},
        )
    decisions_changed(stream_id=decision.stream_id, op=op, decisions=[decision])


def _intent_claim(intent_id: int, now: datetime) -> _Claim | None:
    campaign_id = (
        BoostIntent.objects.filter(pk=intent_id).values_list("campaign_id", flat=True).first()
    )
    if campaign_id is None:
        return None
    with transaction.atomic():
        lock_objects.campaigns_for_update([campaign_id])
        intent = lock_objects.intent_for_update(intent_id)
        if intent.state not in DUE or intent.next_attempt_at > now:
            return None
        # A "sending" row past its lease lost its worker mid-call. If it had recorded the
        # budget before, it may have sent; otherwise it never got that far.
        resuming = intent.state != IntentState.PENDING and intent.budget_before is not None
        if not resuming:
            reason = guardrails.stop_reason(
                campaign=intent.campaign,
                stream=intent.decision.stream,
                rule=intent.decision.rule,
                action=intent.kind,
                change=intent.amount or guardrails.ZERO,
                at=now,
                exclude_decision=intent.decision_id,
                timing=False,
            )
            if reason:
                _intent_stop(intent, reason=reason, now=now)
                return _Claim(intent, go=False)
        busy = (
            BoostIntent.objects.filter(campaign_id=campaign_id, state__in=IN_THE_AIR)
            .exclude(pk=intent.pk)
            .exists()
        )
        if busy:
            intent.next_attempt_at = now + CAMPAIGN_BUSY_RETRY
            intent.save(update_fields=["next_attempt_at"])
            return _Claim(intent, go=False)
        intent.state = IntentState.SENDING
        intent.attempts += 1
        intent.next_attempt_at = now + EXECUTION_LEASE
        intent.save(update_fields=["state", "attempts", "next_attempt_at"])
        _decision_moved(intent, status=DecisionStatus.EXECUTING, op="executing", now=now)
    return _Claim(intent, go=True, resuming=resuming)


def _intent_stop(intent: BoostIntent, *, reason: str, now: datetime) -> None:
    """Settle an intent that will not be sent (inside the caller's transaction, under the
    campaign lock): stopped when a kill switch is on, failed when another guardrail says no."""
    killed = guardrails.check_kill_switch(
        account=intent.campaign.account, stream=intent.decision.stream_id
    )
    intent.state = IntentState.FAILED
    intent.last_error = reason
    intent.settled_at = now
    intent.save(update_fields=["state", "last_error", "settled_at"])
    if killed:
        _decision_moved(intent, status=DecisionStatus.STOPPED, op="stopped", now=now, error=reason)
    else:
        _decision_moved(intent, status=DecisionStatus.FAILED, op="failed", now=now, error=reason)


def _settle(
    intent: BoostIntent,
    *,
    state: str,
    now: datetime,
    error: str = "",
    ref: str = "",
    budget: Budget | None = None,
    retry_in: timedelta | None = None,
    fields: dict | None = None,
    stopped: bool = False,
) -> bool:
    """End this attempt: write its outcome, if the row is still this attempt's. A failure
    is `stopped` when a kill switch, not the platform, kept the change from being sent.

    Returns False when the lease ran out and another worker took the row meanwhile: its
    outcome stands, this one is dropped.
    """
    changes = dict(fields or {})
    changes["state"] = state
    if state != IntentState.SENDING:
        changes["last_error"] = error[:1000]
    if state in (IntentState.CONFIRMED, IntentState.FAILED):
        changes["settled_at"] = now
    if state == IntentState.PENDING:
        # Nothing of this attempt landed. The next one reads the budget afresh: other
        # changes of the campaign may land while this one waits, and a stale reading would
        # later pass for proof that this one had landed.
        changes["budget_before"] = None
    if retry_in is not None:
        changes["next_attempt_at"] = now + retry_in
    if ref:
        changes["platform_ref"] = ref[:128]
    with transaction.atomic():
        lock_objects.campaigns_for_update([intent.campaign_id])
        mine = BoostIntent.objects.filter(
            pk=intent.pk, state=IntentState.SENDING, attempts=intent.attempts
        ).update(**changes)
        if not mine:
            return False
        for name, value in changes.items():
            setattr(intent, name, value)
        if budget is not None:
            Campaign.objects.filter(pk=intent.campaign_id).update(
                budget=budget.amount, paused=budget.paused
            )
            intent.campaign.budget, intent.campaign.paused = budget.amount, budget.paused
        if state == IntentState.CONFIRMED:
            _decision_moved(intent, status=DecisionStatus.DONE, op="confirmed", now=now)
        elif state == IntentState.FAILED:
            status, op = (
                (DecisionStatus.STOPPED, "stopped")
                if stopped
                else (DecisionStatus.FAILED, "failed")
            )
            _decision_moved(intent, status=status, op=op, now=now, error=error)
    return True


def _exchange_audit(
    kind: str, intent: BoostIntent, *, at: datetime, exchange: Exchange | None, extra: dict
) -> None:
    _audit(
        kind,
        at=at,
        stream_id=intent.decision.stream_id,
        campaign_id=intent.campaign_id,
        decision_id=intent.decision_id,
        data={
            "intent": intent.pk,
            "idempotency_key": intent.idempotency_key,
            "attempt": intent.attempts,
            "exchange": exchange.data() if exchange else None,
        }
        | extra,
    )


def _read_back(adapter, intent: BoostIntent, *, now: datetime, purpose: str) -> Budget | None:
    """The campaign's budget as the platform holds it, audited; None if it could not be
    read, in which case the attempt is settled (nothing is sent without a reading)."""
    try:
        budget = adapter.read_budget(intent.campaign)
    except PlatformError as exc:
        _exchange_audit(
            "read_back",
            intent,
            at=timezone.now(),
            exchange=exc.exchange,
            extra={"purpose": purpose, "error": str(exc), "code": exc.code},
        )
        if isinstance(exc, PlatformRejected):
            _settle(intent, state=IntentState.FAILED, now=now, error=f"{exc.code}: {exc}")
        elif purpose == "before":
            # Nothing has been sent in this attempt: wait like a throttled call.
            _settle(
                intent,
                state=IntentState.PENDING,
                now=now,
                error=str(exc),
                retry_in=_throttle_backoff(intent.attempts),
            )
        else:
            _settle(
                intent,
                state=IntentState.UNKNOWN,
                now=now,
                error=str(exc),
                retry_in=_unknown_backoff(intent.attempts),
            )
        return None
    _exchange_audit(
        "read_back",
        intent,
        at=timezone.now(),
        exchange=budget.exchange,
        extra={"purpose": purpose, "budget": str(budget.amount), "paused": budget.paused},
    )
    return budget


def _landed(intent: BoostIntent, budget: Budget) -> bool:
    """Whether the change the intent makes is already on the platform."""
    if intent.kind == ActionKind.PAUSE:
        return budget.paused
    if intent.kind == ActionKind.ADD_BUDGET and intent.campaign.additive:
        # Only this change can have moved the budget since `budget_before` (one change of a
        # campaign in the air at a time); spending does not lower a budget.
        return budget.amount >= intent.budget_before + intent.amount
    return budget.amount == intent.target_budget


def _call(adapter, intent: BoostIntent) -> Receipt:
    campaign, key = intent.campaign, intent.idempotency_key
    if intent.kind == ActionKind.PAUSE:
        return adapter.pause(campaign, key)
    if intent.kind == ActionKind.ADD_BUDGET and campaign.additive:
        return adapter.add_budget(campaign, intent.amount, key)
    # Everything else is an absolute budget: sending it twice sets it twice, to the same.
    return adapter.set_budget(campaign, intent.target_budget, key)


def _budget_moved_elsewhere(intent: BoostIntent, budget: Budget) -> str:
    """Why a set or cut may not go ahead: the platform's budget is not the one the decision
    was worked out from (someone changed it on the platform). Empty when it may."""
    if intent.kind not in (ActionKind.SET_BUDGET, ActionKind.CUT):
        return ""
    if intent.target_budget is None or intent.amount is None:
        return ""
    decided_from = intent.target_budget - intent.amount
    if budget.amount == decided_from:
        return ""
    return _(
        "The budget on the platform is %(actual)s, not the %(expected)s this decision was "
        "worked out from: it was changed elsewhere. Nothing was sent; the rules will propose "
        "again from the new budget."
    ) % {"actual": budget.amount, "expected": decided_from}


def _lease_renew(intent: BoostIntent) -> bool:
    """Extend this attempt's lease just before the platform call; False if it is not this
    attempt's any more (the sweep took it over)."""
    lease_end = timezone.now() + EXECUTION_LEASE
    mine = BoostIntent.objects.filter(
        pk=intent.pk, state=IntentState.SENDING, attempts=intent.attempts
    ).update(next_attempt_at=lease_end)
    if mine:
        intent.next_attempt_at = lease_end
    return bool(mine)


def boost_execute(*, intent_id: int, now: datetime | None = None) -> BoostIntent | None:
    """Make (or finish) an intent's platform change, if it is due and nobody else is on it.

    Returns the intent as this attempt leaves it, or None when there was nothing to do.
    """
    now = now or timezone.now()
    claim = _intent_claim(intent_id, now)
    if claim is None or not claim.go:
        return claim and claim.intent
    intent = claim.intent
    adapter = platforms.adapter_for(intent.campaign.account)
    if claim.resuming:
        budget = _read_back(adapter, intent, now=now, purpose="reconcile")
        if budget is None:
            return intent
        if _landed(intent, budget):
            _settle(intent, state=IntentState.CONFIRMED, now=now, budget=budget)
            return intent
    else:
        budget = _read_back(adapter, intent, now=now, purpose="before")
        if budget is None:
            return intent
        fields = {"budget_before": budget.amount}
        if intent.kind == ActionKind.ADD_BUDGET and not intent.campaign.additive:
            # A set-budget platform takes "add" as the budget after it, from what is there.
            fields["target_budget"] = budget.amount + intent.amount
        moved = _budget_moved_elsewhere(intent, budget)
        if moved:
            # The caps and the approval were judged on a change from the budget the console
            # knew; from another budget the same target is another change. Re-propose.
            _settle(intent, state=IntentState.FAILED, now=now, error=moved, fields=fields)
            return intent
        if not _settle(intent, state=IntentState.SENDING, now=now, fields=fields):
            return intent
    # The last moment to stop: a kill switch thrown while this attempt was being prepared.
    reason = guardrails.check_kill_switch(
        account=intent.campaign.account, stream=intent.decision.stream_id
    )
    if reason:
        _settle(intent, state=IntentState.FAILED, now=now, error=reason, stopped=True)
        return intent
    # The lease runs from now, not from the claim: the read-back and any wait for the
    # campaign's lock came out of it, and the sweep must not resend while this call is out.
    if not _lease_renew(intent):
        return intent
    _exchange_audit(
        "platform_request",
        intent,
        at=timezone.now(),
        exchange=None,
        extra={
            "kind": intent.kind,
            "amount": _money(intent.amount),
            "target_budget": _money(intent.target_budget),
            "budget_before": _money(intent.budget_before),
            "resend": claim.resuming,
        },
    )
    try:
        receipt = _call(adapter, intent)
    except PlatformThrottled as exc:
        _exchange_audit(
            "platform_response",
            intent,
            at=timezone.now(),
            exchange=exc.exchange,
            extra={"outcome": "throttled", "code": exc.code, "error": str(exc)},
        )
        gave_up = intent.attempts >= THROTTLED_MAX_ATTEMPTS
        _settle(
            intent,
            state=IntentState.FAILED if gave_up else IntentState.PENDING,
            now=now,
            error=f"{exc.code}: {exc}",
            retry_in=None if gave_up else _throttle_backoff(intent.attempts),
        )
        return intent
    except PlatformRejected as exc:
        _exchange_audit(
            "platform_response",
            intent,
            at=timezone.now(),
            exchange=exc.exchange,
            extra={"outcome": "rejected", "code": exc.code, "error": str(exc)},
        )
        _settle(intent, state=IntentState.FAILED, now=now, error=f"{exc.code}: {exc}")
        return intent
    except Exception as exc:  # a timeout, a 5xx, or anything else: the outcome is unknown
        if not isinstance(exc, PlatformTimeout):
            logger.exception("boost %s: unexpected error from the ad platform adapter", intent.pk)
        _exchange_audit(
            "platform_response",
            intent,
            at=timezone.now(),
            exchange=getattr(exc, "exchange", None),
            extra={"outcome": "unknown", "code": getattr(exc, "code", ""), "error": str(exc)},
        )
        _settle(
            intent,
            state=IntentState.UNKNOWN,
            now=now,
            error=str(exc) or type(exc).__name__,
            retry_in=_unknown_backoff(intent.attempts),
        )
        return intent
    _exchange_audit(
        "platform_response",
        intent,
        at=timezone.now(),
        exchange=receipt.exchange,
        extra={"outcome": "applied", "ref": receipt.ref},
    )
    try:
        after = adapter.read_budget(intent.campaign)
    except PlatformError as exc:
        _exchange_audit(
            "read_back",
            intent,
            at=timezone.now(),
            exchange=exc.exchange,
            extra={"purpose": "after", "error": str(exc), "code": exc.code},
        )
        after = None
    else:
        _exchange_audit(
            "read_back",
            intent,
            at=timezone.now(),
            exchange=after.exchange,
            extra={"purpose": "after", "budget": str(after.amount), "paused": after.paused},
        )
    _settle(
        intent,
        state=IntentState.CONFIRMED,
        now=now,
        ref=receipt.ref,
        budget=after or _expected_budget(intent),
    )
    return intent


def _expected_budget(intent: BoostIntent) -> Budget:
    """What the campaign holds after a confirmed change, when the read-back after it failed."""
    campaign = intent.campaign
    if intent.kind == ActionKind.PAUSE:
        return Budget(campaign.budget, True)
    if intent.kind == ActionKind.ADD_BUDGET and campaign.additive:
        return Budget(intent.budget_before + intent.amount, campaign.paused)
    return Budget(intent.target_budget, campaign.paused)


def boosts_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Intents to drive now: never enqueued (the broker was away), retries whose backoff is
    over, unknown ones to read back, and "sending" ones whose worker died (lease run out)."""
    now = now or timezone.now()
    return list(
        BoostIntent.objects.filter(state__in=DUE, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- Kill switches -------------------------------------------------------------------------


def _stop_pending(scope: Q, *, reason: str, now: datetime) -> list[int]:
    """Stop every intent of the scope not yet sent. Ones in the air (sending, unknown) are
    left to their worker, which reads back and stops instead of sending again."""
    campaign_ids = BoostIntent.objects.filter(scope, state=IntentState.PENDING).values_list(
        "campaign_id", flat=True
    )
    lock_objects.campaigns_for_update(campaign_ids)
    stopped = list(
        BoostIntent.objects.filter(scope, state=IntentState.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    with eventlog.deferred():
        for intent_id in stopped:
            intent = lock_objects.intent_for_update(intent_id)
            intent.state = IntentState.FAILED
            intent.last_error = reason
            intent.settled_at = now
            intent.save(update_fields=["state", "last_error", "settled_at"])
            _decision_moved(
                intent, status=DecisionStatus.STOPPED, op="stopped", now=now, error=reason
            )
    return stopped


def stream_kill_switch_set(
    *, actor: User, stream: Stream, killed: bool, now: datetime | None = None
) -> tuple[StreamKillSwitch, list[int]]:
    """Turn a stream's kill switch on or off. On, it stops every boost of the stream not yet
    sent, and no more are sent until it is off. Returns the switch and the stopped intents."""
    _allowed(actor, "ads.kill_stream", stream)
    now = now or timezone.now()
    with transaction.atomic(), eventlog.deferred():
        switch, _created = StreamKillSwitch.objects.select_for_update().get_or_create(
            stream=stream, defaults={"changed_at": now}
        )
        switch.killed, switch.changed_by, switch.changed_at = killed, actor, now
        switch.save()
        stopped = _kill_switch_thrown(
            actor=actor,
            killed=killed,
            now=now,
            scope={"scope": "stream", "stream": stream.pk},
            pending=Q(decision__stream=stream),
            reason=_("The kill switch of this stream is on."),
            stream_ids=[stream.pk],
            audit_stream_id=stream.pk,
        )
    return switch, stopped


def _kill_switch_thrown(
    *,
    actor: User,
    killed: bool,
    now: datetime,
    scope: dict,
    pending: Q,
    reason: str,
    stream_ids,
    audit_stream_id: int | None = None,
) -> list[int]:
    """What throwing a kill switch (a stream's or an account's) does besides the switch:
    stop what is pending in its scope, audit it, and tell the streams' screens."""
    stopped = _stop_pending(pending, reason=reason, now=now) if killed else []
    _audit(
        "kill_switch",
        at=now,
        actor=actor,
        stream_id=audit_stream_id,
        data={**scope, "killed": killed, "stopped": stopped},
    )
    ids = (
        {"stream_id": scope["stream"]}
        if scope["scope"] == "stream"
        else {"account_id": scope["account"]}
    )
    kill_switch_changed(
        stream_ids=stream_ids,
        data=kill_switch_data(
            scope=scope["scope"],
            **ids,
            killed=killed,
            changed_by=actor.username if actor else None,
            changed_at=now,
            stopped=stopped,
        ),
    )
    return stopped


def account_kill_switch_set(
    *, actor: User, account: AdAccount, killed: bool, now: datetime | None = None
) -> tuple[AdAccount, list[int]]:
    """Turn an ad account's kill switch on or off: on, it stops every boost of every
    campaign of the account not yet sent, whatever stream it is for."""
    _allowed(actor, "ads.kill_account", account)
    now = now or timezone.now()
    with transaction.atomic(), eventlog.deferred():
        locked = lock_objects.account_for_update(account.pk)
        locked.killed = killed
        locked.save(update_fields=["killed"])
        stopped = _kill_switch_thrown(
            actor=actor,
            killed=killed,
            now=now,
            scope={"scope": "account", "account": locked.pk},
            pending=Q(campaign__account=locked),
            reason=_("The kill switch of the ad account is on."),
            # Every stream one of the account's campaigns pushes hears of it.
            stream_ids=Campaign.objects.filter(account=locked, stream__isnull=False).values_list(
                "stream_id", flat=True
            ),
        )
    return locked, stopped


# === Rules: written by ad buyers, judged by the engine (boost_rules_evaluate) ==============


def boost_rule_problems(
    *,
    account: AdAccount,
    rule: BoostRule | None,
    name: str,
    conditions: list,
    min_spend: Decimal,
    action: str,
    amount: Decimal | None,
    cap_per_boost: Decimal | None,
    cap_per_stream: Decimal | None,
    cap_per_day: Decimal | None,
    cooldown_minutes: int,
    approval_above: Decimal | None,
    gross_margin: Decimal,
    return_rate: Decimal,
) -> dict[str, list[str]]:
    """Everything wrong with a rule as written, by field, in the writer's language: what
    `boost_rule_save` refuses it for (a form shows them all at once)."""
    problems: dict[str, list[str]] = {}

    def problem(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if not name.strip():
        problem("name", _("Give the rule a name."))
    elif (
        BoostRule.objects.filter(account=account, name=name.strip())
        .exclude(pk=rule.pk if rule else None)
        .exists()
    ):
        problem("name", _("Another rule of this account has this name."))
    if not isinstance(conditions, list) or not conditions:
        problem("conditions", _("A rule needs at least one condition."))
    else:
        for number, raw in enumerate(conditions, start=1):
            try:
                engine.parse_condition(raw)
            except ValueError as exc:
                problem(
                    "conditions",
                    _("Condition %(number)s: %(problem)s") % {"number": number, "problem": exc},
                )
    if action not in ActionKind.values:
        problem("action", _("Choose an action."))
    elif action in engine.PRICED_ACTIONS and (amount is None or amount <= 0):
        problem("amount", _("This action needs an amount above zero."))
    values = {
        "min_spend": min_spend,
        "cap_per_boost": cap_per_boost,
        "cap_per_stream": cap_per_stream,
        "cap_per_day": cap_per_day,
        "approval_above": approval_above,
    }
    for field, value in values.items():
        if value is not None and value < 0:
            problem(field, _("This cannot be below zero."))
    for field in ("cap_per_boost", "cap_per_stream", "cap_per_day"):
        if values[field] == 0:
            problem(field, _("Leave it empty for no cap; a cap of zero would stop every boost."))
    if not 0 <= cooldown_minutes <= 24 * 60:
        problem("cooldown_minutes", _("The cool-down is 0 to 1,440 minutes."))
    if not 0 < gross_margin <= 1:
        problem("gross_margin", _("The gross margin is above 0 and at most 1 (0.40 is 40 %)."))
    if not 0 <= return_rate < 1:
        problem("return_rate", _("The return rate is at least 0 and below 1 (0.20 is 20 %)."))
    return problems


def _rule_data(rule: BoostRule) -> dict:
    """A rule as the audit log keeps it."""
    return {
        "id": rule.pk,
        "account": rule.account_id,
        "name": rule.name,
        "enabled": rule.enabled,
        "conditions": rule.conditions,
        "min_spend": _money(rule.min_spend),
        "action": rule.action,
        "amount": _money(rule.amount),
        "cap_per_boost": _money(rule.cap_per_boost),
        "cap_per_stream": _money(rule.cap_per_stream),
        "cap_per_day": _money(rule.cap_per_day),
        "cooldown_minutes": rule.cooldown_minutes,
        "active_from": rule.active_from.isoformat() if rule.active_from else None,
        "active_until": rule.active_until.isoformat() if rule.active_until else None,
        "approval_above": _money(rule.approval_above),
        "gross_margin": str(rule.gross_margin),
        "return_rate": str(rule.return_rate),
    }


def boost_rule_save(
    *,
    actor: User | None,
    account: AdAccount,
    rule: BoostRule | None = None,
    name: str,
    enabled: bool = True,
    conditions: list,
    min_spend: Decimal = Decimal(0),
    action: str,
    amount: Decimal | None = None,
    cap_per_boost: Decimal | None = None,
    cap_per_stream: Decimal | None = None,
    cap_per_day: Decimal | None = None,
    cooldown_minutes: int = 10,
    active_from=None,
    active_until=None,
    approval_above: Decimal | None = None,
    gross_margin: Decimal = Decimal("0.40"),
    return_rate: Decimal = Decimal("0.20"),
    now: datetime | None = None,
) -> BoostRule:
    """Create a rule for the account (`rule` None) or change one of its rules.

    Refused with a `ValidationError` naming each faulty field. A change applies from the
    next minute judged; cards already made keep the numbers they were made with. Every
    version of a rule is kept on the audit log, since rules move money unattended.
    """
    _allowed(actor, "ads.manage_rules", account)
    if rule is not None and rule.account_id != account.pk:
        raise ValidationError(_("This rule belongs to another ad account."), code="invalid")
    if action in (ActionKind.PAUSE, ActionKind.NOTIFY):
        amount = None
    problems = boost_rule_problems(
        account=account,
        rule=rule,
        name=name,
        conditions=conditions,
        min_spend=min_spend,
        action=action,
        amount=amount,
        cap_per_boost=cap_per_boost,
        cap_per_stream=cap_per_stream,
        cap_per_day=cap_per_day,
        cooldown_minutes=cooldown_minutes,
        approval_above=approval_above,
        gross_margin=gross_margin,
        return_rate=return_rate,
    )
    if problems:
        raise ValidationError(problems)
    now = now or timezone.now()
    with transaction.atomic():
        before = None
        if rule is None:
            rule = BoostRule(account=account)
        else:
            rule = BoostRule.objects.select_for_update().get(pk=rule.pk)
            before = _rule_data(rule)
        rule.name = name.strip()
        rule.enabled = enabled
        rule.conditions = [_condition_stored(raw) for raw in conditions]
        rule.min_spend = _cents(min_spend)
        rule.action = action
        rule.amount = _cents(amount)
        rule.cap_per_boost = _cents(cap_per_boost)
        rule.cap_per_stream = _cents(cap_per_stream)
        rule.cap_per_day = _cents(cap_per_day)
        rule.cooldown_minutes = cooldown_minutes
        rule.active_from = active_from
        rule.active_until = active_until
        rule.approval_above = _cents(approval_above)
        rule.gross_margin = Decimal(gross_margin).quantize(engine.RATIO)
        rule.return_rate = Decimal(return_rate).quantize(engine.RATIO)
        rule.save()
        _audit(
            "rule_saved",
            at=now,
            actor=actor,
            data={"account": account.pk, "before": before, "after": _rule_data(rule)},
        )
    return rule


def _cents(value: Decimal | None) -> Decimal | None:
    # As the columns keep it, so the audit log says what the rule holds.
    return None if value is None else Decimal(value).quantize(engine.CENT)


def _condition_stored(raw: dict) -> dict:
    """A condition as rules keep it: the engine's reading, numbers as strings."""
    condition = engine.parse_condition(raw)
    stored = {
        "metric": condition.metric,
        "op": condition.op,
        "value": engine.BREAK_EVEN if condition.value is None else str(condition.value),
    }
    if condition.metric in engine.WINDOWED:
        stored["window"] = condition.window
    return stored


def boost_rule_delete(*, actor: User | None, rule: BoostRule, now: datetime | None = None) -> None:
    """Remove a rule that never proposed anything. A rule with cards is turned off instead
    (`enabled`), so its cards and their audit trail keep saying which rule made them."""
    _allowed(actor, "ads.manage_rules", rule.account)
    now = now or timezone.now()
    with transaction.atomic():
        locked = BoostRule.objects.select_for_update().get(pk=rule.pk)
        if locked.decisions.exists():
            raise ValidationError(
                _("This rule has made decision cards: turn it off instead of deleting it."),
                code="in_use",
            )
        data = _rule_data(locked)
        locked.delete()
        _audit(
            "rule_deleted",
            at=now,
            actor=actor,
            data={"account": data["account"], "before": data, "after": None},
        )
