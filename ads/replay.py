"""Replay: a rule set run over a past stream's recorded metrics, minute by minute, to show
what it would have done and when, next to what was actually done, so rules are tuned
before they touch money.

The replay judges each campaign at every minute it reported, as the live evaluation does
when metrics arrive, with the same engine (`rules_engine`). It assumes the buyer accepts
every card at once, so the budget moves with the replayed actions, and it simulates what
would have stopped them: cool-downs, caps, the daily change quota, the minimum step and
active hours, with the guardrails' own reasons. What it cannot replay is the platform's
answer to money that was never spent: spend and GMV are as recorded. Kill switches are
left out (they stop money, not rules).

Everything is loaded once (a few queries); each minute then costs a few subtractions per
condition, so a 3-hour stream against 20 rules takes well under a second.
"""

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Exists, Max, Min, OuterRef, Q
from django.utils.translation import gettext as _

from rooms.models import LineupItem, LiveCueKind, ShowCue, Stream, StreamOrder

from . import guardrails, selectors
from . import rules_engine as engine
from .models import ActionKind, BoostDecision, BoostRule, Campaign, CampaignMinute, IntentState

BUDGET_KINDS = frozenset(guardrails.BUDGET_KINDS)


@dataclass(frozen=True)
class ReplayDecision:
    """One line of a replay: a card the rules would have made (`source` "replay") or one
    that was actually made (`source` "actual").

    status — replay: "proposed" (would have gone ahead) or "blocked" (a guardrail would
    have stopped it, `reason` says which); actual: the decision's status.
    """

    at: datetime
    source: str
    campaign_id: int
    campaign: str
    rule_id: int | None
    rule: str
    action: str
    amount: Decimal | None
    target_budget: Decimal | None
    status: str
    reason: str = ""
    conditions: list = field(default_factory=list)


@dataclass
class _CampaignState:
    budget: Decimal
    paused: bool
    changes: dict = field(default_factory=lambda: defaultdict(int))  # local day -> count


def replay(stream: Stream, rules: Sequence[BoostRule]) -> list[ReplayDecision]:
    """What `rules` would have done on `stream`, and what was done, in time order.

    A rule applies to the stream's campaigns of its own ad account. Rules need not be
    saved: a rule being tuned is replayed as it stands on the form.
    """
    rules = list(rules)
    campaigns = list(
        Campaign.objects.filter(
            Q(stream=stream)
            | Exists(CampaignMinute.objects.filter(campaign=OuterRef("pk"), stream=stream))
        )
        .select_related("account__channel")
        .order_by("pk")
    )
    actual = _actual(stream)
    span = CampaignMinute.objects.filter(stream=stream).aggregate(
        first=Min("minute"), last=Max("minute")
    )
    if not campaigns or span["first"] is None:
        return actual
    # Index 0 is the minute before the first report: where every total starts, at zero.
    start = span["first"] - timedelta(minutes=1)
    length = engine.minutes_between(start, span["last"]) + 1
    points: dict[int, list] = defaultdict(list)
    for campaign_id, *point in (
        CampaignMinute.objects.filter(stream=stream)
        .order_by("minute")
        .values_list("campaign_id", "minute", "spend", "impressions", "clicks", "orders", "gmv")
    ):
        points[campaign_id].append(tuple(point))
    stream_series = selectors.stream_series(stream, start, length)
    pinned_stock = _pinned_stock(stream, start, length)
    series = {c.pk: engine.campaign_series(start, length, points[c.pk]) for c in campaigns}
    reported = {
        c.pk: sorted({engine.minutes_between(start, p[0]) for p in points[c.pk]}) for c in campaigns
    }
    for rule in rules:
        # `check_active_hours` reads the channel's time zone through the account.
        if rule.account_id is not None and not BoostRule.account.is_cached(rule):
            rule.account = next(
                (c.account for c in campaigns if c.account_id == rule.account_id), rule.account
            )
    specs = [engine.rule_spec(rule) for rule in rules]
    states = {c.pk: _starting_state(c) for c in campaigns}
    last_card: dict[tuple[int, int], datetime] = {}
    added_by_rule: dict[int, Decimal] = defaultdict(Decimal)
    added_by_rule_day: dict[tuple[int, object], Decimal] = defaultdict(Decimal)
    replayed = []
    # Minute by minute across campaigns, so cards come out in the order they would have.
    timeline = sorted((i, c.pk) for c in campaigns for i in reported[c.pk])
    by_id = {c.pk: c for c in campaigns}
    for index, campaign_id in timeline:
        campaign = by_id[campaign_id]
        state = states[campaign_id]
        minute = start + timedelta(minutes=index)
        view = None
        for position, (rule, spec) in enumerate(zip(rules, specs, strict=True)):
            if rule.account_id != campaign.account_id:
                continue
            cooldown = timedelta(minutes=rule.cooldown_minutes)
            last = last_card.get((position, campaign_id))
            if last is not None and minute - last < cooldown:
                continue
            if view is None:
                view = engine.WindowView(
                    campaign=series[campaign_id],
                    stream=stream_series,
                    index=index,
                    budget=state.budget,
                    paused=state.paused,
                    minutes_left=int((stream.planned_end - minute).total_seconds() // 60),
                    pinned_stock=pinned_stock[index],
                )
            proposal = engine.evaluate(spec, view)
            if isinstance(proposal, engine.NoProposal):
                continue
            last_card[(position, campaign_id)] = minute
            day = guardrails.local_day(campaign.account, minute)
            change = proposal.amount or engine.ZERO
            reason = _stop_reason(
                rule,
                campaign,
                proposal.action,
                change,
                at=minute,
                changes_today=state.changes[day],
                added_stream=added_by_rule[position],
                added_day=added_by_rule_day[(position, day)],
            )
            replayed.append(
                ReplayDecision(
                    at=minute,
                    source="replay",
                    campaign_id=campaign_id,
                    campaign=campaign.name,
                    rule_id=rule.pk,
                    rule=rule.name,
                    action=proposal.action,
                    amount=proposal.amount,
                    target_budget=proposal.target_budget,
                    status="blocked" if reason else "proposed",
                    reason=reason or "",
                    conditions=proposal.evidence["conditions"],
                )
            )
            if reason:
                continue
            if proposal.action in BUDGET_KINDS:
                state.budget = proposal.target_budget
                state.changes[day] += 1
                if change > 0:
                    added_by_rule[position] += change
                    added_by_rule_day[(position, day)] += change
            elif proposal.action == ActionKind.PAUSE:
                state.paused = True
            # The budget moved: the rules after this one see the new one.
            view = None
    return sorted(replayed + actual, key=lambda d: (d.at, d.source != "actual"))


def _starting_state(campaign: Campaign) -> _CampaignState:
    """The campaign as it stood when the stream began: its budget before the first change
    that reached the platform, if any (what it holds now includes the stream's boosts)."""
    first = (
        campaign.intents.filter(state=IntentState.CONFIRMED, budget_before__isnull=False)
        .order_by("settled_at", "pk")
        .values_list("budget_before", flat=True)
        .first()
    )
    if first is None:
        return _CampaignState(budget=campaign.budget, paused=campaign.paused)
    return _CampaignState(budget=first, paused=False)


def _stop_reason(
    rule: BoostRule,
    campaign: Campaign,
    action: str,
    change: Decimal,
    *,
    at: datetime,
    changes_today: int,
    added_stream: Decimal,
    added_day: Decimal,
) -> str | None:
    """`guardrails.stop_reason` over the replay's own counts instead of the database's."""
    account = campaign.account
    if action == ActionKind.NOTIFY:
        return None
    if action in BUDGET_KINDS:
        reason = guardrails.check_min_step(account, change)
        if reason:
            return reason
        if changes_today >= account.daily_change_quota:
            return _(
                "The campaign has used all %(quota)s budget changes the platform allows today."
            ) % {"quota": account.daily_change_quota}
    if change > 0:
        if rule.cap_per_boost is not None and change > rule.cap_per_boost:
            return _("Adding %(change)s is more than the rule's %(cap)s per boost.") % {
                "change": guardrails.money(change, account),
                "cap": guardrails.money(rule.cap_per_boost, account),
            }
        if rule.cap_per_stream is not None and added_stream + change > rule.cap_per_stream:
            return _(
                "Adding %(change)s would take the rule past its %(cap)s for this stream "
                "(%(added)s added so far)."
            ) % {
                "change": guardrails.money(change, account),
                "cap": guardrails.money(rule.cap_per_stream, account),
                "added": guardrails.money(added_stream, account),
            }
        if rule.cap_per_day is not None and added_day + change > rule.cap_per_day:
            return _(
                "Adding %(change)s would take the rule past its %(cap)s for today "
                "(%(added)s added so far)."
            ) % {
                "change": guardrails.money(change, account),
                "cap": guardrails.money(rule.cap_per_day, account),
                "added": guardrails.money(added_day, account),
            }
    return guardrails.check_active_hours(rule, at)


def _pinned_stock(stream: Stream, start: datetime, length: int) -> list[int | None]:
    """Stock left of the product pinned last, minute by minute, rebuilt from the cues that
    went (pins, unpins, sold-outs) and the orders placed and refunded."""
    cues = list(
        ShowCue.objects.filter(
            stream=stream,
            go_at__isnull=False,
            kind__in=[LiveCueKind.PIN, LiveCueKind.UNPIN, LiveCueKind.SOLD_OUT],
        )
        .order_by("go_at", "pk")
        .values_list("go_at", "kind", "link_number")
    )
    if not cues:
        return [None] * length
    items = {
        item.link_number: item
        for item in LineupItem.objects.filter(stream=stream)
        if item.stock is not None and item.sku
    }
    skus = {item.sku for item in items.values()}
    # Per SKU: (minute index, quantity taken) — placed takes stock, a refund gives it back.
    moves: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for sku, quantity, placed_at, refunded_at in StreamOrder.objects.filter(
        stream=stream, sku__in=skus
    ).values_list("sku", "quantity", "placed_at", "refunded_at"):
        moves[sku].append((engine.minutes_between(start, placed_at), quantity))
        if refunded_at is not None:
            moves[sku].append((engine.minutes_between(start, refunded_at), -quantity))
    taken: dict[str, tuple[list[int], list[int]]] = {}
    for sku, rows in moves.items():
        rows.sort()
        running, minutes, totals = 0, [], []
        for index, quantity in rows:
            running += quantity
            minutes.append(index)
            totals.append(running)
        taken[sku] = (minutes, totals)

    def stock_left(link_number: int | None, index: int) -> int | None:
        item = items.get(link_number)
        if item is None:
            return None
        minutes, totals = taken.get(item.sku, ([], []))
        position = bisect_right(minutes, index)
        return max(item.stock - (totals[position - 1] if position else 0), 0)

    result: list[int | None] = []
    pinned: list[int] = []
    position = 0
    for index in range(length):
        minute_end = start + timedelta(minutes=index + 1)
        while position < len(cues) and cues[position][0] < minute_end:
            _at, kind, link_number = cues[position]
            if kind == LiveCueKind.PIN:
                if link_number not in pinned:
                    pinned.append(link_number)
            else:
                pinned = [n for n in pinned if n != link_number]
            position += 1
        result.append(stock_left(pinned[-1], index) if pinned else None)
    return result


def _actual(stream: Stream) -> list[ReplayDecision]:
    """The cards the stream really had, with what became of them."""
    decisions = BoostDecision.objects.filter(stream=stream).select_related("campaign", "rule")
    return [
        ReplayDecision(
            at=decision.proposed_at,
            source="actual",
            campaign_id=decision.campaign_id,
            campaign=decision.campaign.name,
            rule_id=decision.rule_id,
            rule=decision.rule.name if decision.rule else "",
            action=decision.action,
            amount=decision.amount,
            target_budget=decision.target_budget,
            status=decision.status,
            reason=decision.note,
            conditions=decision.evidence.get("conditions", []),
        )
        for decision in decisions.order_by("proposed_at", "pk")
    ]
