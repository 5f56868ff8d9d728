"""The limits a boost must stay within, checked when a rule proposes it and again right
before money moves.

Each `check_*` returns the reason a boost is stopped, as a sentence for the ad buyer in the
active language, or None when the boost may go ahead. They read the database but never write
it. "Today" is the day in the time zone of the account's channel: a platform counts its daily
change quota by its own calendar, not by the server's.
"""

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from rooms.models import Stream

from .models import (
    ActionKind,
    AdAccount,
    BoostDecision,
    BoostIntent,
    BoostRule,
    Campaign,
    DecisionStatus,
    IntentState,
    StreamKillSwitch,
)

ZERO = Decimal("0")
# Calls that change a budget and so use up the platform's daily change quota.
BUDGET_KINDS = (ActionKind.ADD_BUDGET, ActionKind.SET_BUDGET, ActionKind.CUT)
IN_FLIGHT = (IntentState.PENDING, IntentState.SENDING, IntentState.UNKNOWN)
# Decisions that did (or are about to) act; the cool-down counts from the last of them.
ACTED = (
    DecisionStatus.AWAITING_APPROVAL,
    DecisionStatus.APPROVED,
    DecisionStatus.EXECUTING,
    DecisionStatus.DONE,
)


def account_zone(account: AdAccount) -> ZoneInfo:
    return ZoneInfo(account.channel.time_zone)


def local_day(account: AdAccount, at: datetime | None = None) -> date:
    return timezone.localtime(at or timezone.now(), account_zone(account)).date()


def day_bounds(account: AdAccount, day: date) -> tuple[datetime, datetime]:
    """The day as an aware [start, end) range in the account's time zone."""
    zone = account_zone(account)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def money(amount: Decimal, account: AdAccount) -> str:
    return f"{amount.quantize(Decimal('0.01'))} {account.channel.currency}"


def as_absolute(
    campaign: Campaign, action: str, amount: Decimal | None
) -> tuple[Decimal | None, Decimal]:
    """An action as the budget it leaves (None when it does not touch the budget) and the
    change it makes: a card shows "budget 500 → 800", not only "add 300"."""
    budget = campaign.budget
    amount = ZERO if amount is None else Decimal(amount)
    if action == ActionKind.ADD_BUDGET:
        return budget + amount, amount
    if action == ActionKind.SET_BUDGET:
        return amount, amount - budget
    if action == ActionKind.CUT:
        target = max(budget - amount, ZERO)
        return target, target - budget
    return None, ZERO


def _intents_counted(campaign: Campaign, day: date, exclude_decision: int | None):
    """Budget changes that count against the campaign's quota on `day`: those confirmed on
    it, and those still on their way (they will land now, if at all)."""
    start, end = day_bounds(campaign.account, day)
    intents = BoostIntent.objects.filter(campaign=campaign, kind__in=BUDGET_KINDS).filter(
        Q(state=IntentState.CONFIRMED, settled_at__gte=start, settled_at__lt=end)
        | Q(state__in=IN_FLIGHT)
    )
    if exclude_decision is not None:
        intents = intents.exclude(decision_id=exclude_decision)
    return intents


def changes_left_today(
    campaign: Campaign, day: date | None = None, *, exclude_decision: int | None = None
) -> int:
    account = campaign.account
    day = day or local_day(account)
    used = _intents_counted(campaign, day, exclude_decision).count()
    return max(account.daily_change_quota - used, 0)


def added_so_far(
    *,
    rule: BoostRule | None = None,
    campaign: Campaign | None = None,
    stream: Stream | None = None,
    day: date | None = None,
    exclude_decision: int | None = None,
) -> Decimal:
    """Money added (confirmed or on its way) by a rule or to a campaign, within a stream or
    on a day of the account's calendar. Cuts do not give back room under a cap: a cap
    bounds what was pushed, and pushing, cutting and pushing again is still pushing."""
    if rule is None and campaign is None:
        raise ValueError("added_so_far needs a rule or a campaign")
    intents = BoostIntent.objects.filter(
        Q(state=IntentState.CONFIRMED) | Q(state__in=IN_FLIGHT), amount__gt=0
    )
    if rule is not None:
        intents = intents.filter(decision__rule=rule)
        account = rule.account
    if campaign is not None:
        intents = intents.filter(campaign=campaign)
        account = campaign.account
    if stream is not None:
        intents = intents.filter(decision__stream=stream)
    if day is not None:
        start, end = day_bounds(account, day)
        intents = intents.filter(
            Q(state=IntentState.CONFIRMED, settled_at__gte=start, settled_at__lt=end)
            | Q(state__in=IN_FLIGHT)
        )
    if exclude_decision is not None:
        intents = intents.exclude(decision_id=exclude_decision)
    return intents.aggregate(total=Sum("amount"))["total"] or ZERO


def check_min_step(account: AdAccount, change: Decimal) -> str | None:
    if change != 0 and abs(change) < account.min_step:
        return _("A change of %(change)s is below the platform's smallest step of %(step)s.") % {
            "change": money(abs(change), account),
            "step": money(account.min_step, account),
        }
    return None


def check_daily_quota(
    campaign: Campaign, *, at: datetime | None = None, exclude_decision: int | None = None
) -> str | None:
    account = campaign.account
    if changes_left_today(campaign, local_day(account, at), exclude_decision=exclude_decision):
        return None
    return _("The campaign has used all %(quota)s budget changes the platform allows today.") % {
        "quota": account.daily_change_quota
    }


def check_caps(
    *,
    rule: BoostRule | None,
    stream: Stream,
    change: Decimal,
    at: datetime | None = None,
    exclude_decision: int | None = None,
) -> str | None:
    """Only additions are capped; a cut or a pause is always allowed through."""
    if rule is None or change <= 0:
        return None
    account = rule.account
    if rule.cap_per_boost is not None and change > rule.cap_per_boost:
        return _("Adding %(change)s is more than the rule's %(cap)s per boost.") % {
            "change": money(change, account),
            "cap": money(rule.cap_per_boost, account),
        }
    if rule.cap_per_stream is not None:
        added = added_so_far(rule=rule, stream=stream, exclude_decision=exclude_decision)
        if added + change > rule.cap_per_stream:
            return _(
                "Adding %(change)s would take the rule past its %(cap)s for this stream "
                "(%(added)s added so far)."
            ) % {
                "change": money(change, account),
                "cap": money(rule.cap_per_stream, account),
                "added": money(added, account),
            }
    if rule.cap_per_day is not None:
        day = local_day(account, at)
        added = added_so_far(rule=rule, day=day, exclude_decision=exclude_decision)
        if added + change > rule.cap_per_day:
            return _(
                "Adding %(change)s would take the rule past its %(cap)s for today "
                "(%(added)s added so far)."
            ) % {
                "change": money(change, account),
                "cap": money(rule.cap_per_day, account),
                "added": money(added, account),
            }
    return None


def last_acted_at(
    rule: BoostRule, campaign: Campaign, *, exclude_decision: int | None = None
) -> datetime | None:
    decisions = BoostDecision.objects.filter(rule=rule, campaign=campaign, status__in=ACTED)
    if exclude_decision is not None:
        decisions = decisions.exclude(pk=exclude_decision)
    times = [
        decided_at or proposed_at
        for decided_at, proposed_at in decisions.values_list("decided_at", "proposed_at")
    ]
    return max(times, default=None)


def check_cooldown(
    *,
    rule: BoostRule | None,
    campaign: Campaign,
    at: datetime | None = None,
    exclude_decision: int | None = None,
) -> str | None:
    if rule is None or not rule.cooldown_minutes:
        return None
    at = at or timezone.now()
    last = last_acted_at(rule, campaign, exclude_decision=exclude_decision)
    if last is None:
        return None
    ready_at = last + timedelta(minutes=rule.cooldown_minutes)
    if at >= ready_at:
        return None
    return _("The rule is cooling down after its last boost for %(minutes)s more minutes.") % {
        "minutes": max(math.ceil((ready_at - at).total_seconds() / 60), 1)
    }


def check_active_hours(rule: BoostRule | None, at: datetime | None = None) -> str | None:
    """A window may wrap past midnight (22:00–02:00), as late streams do."""
    if rule is None or (rule.active_from is None and rule.active_until is None):
        return None
    now = timezone.localtime(at or timezone.now(), account_zone(rule.account)).time()
    start = rule.active_from or time.min
    until = rule.active_until or time.max
    inside = start <= now < until if start <= until else (now >= start or now < until)
    if inside:
        return None
    return _("The rule is active only from %(start)s to %(until)s.") % {
        "start": start.strftime("%H:%M"),
        "until": until.strftime("%H:%M"),
    }


def stream_killed(stream: Stream | int | None) -> bool:
    if stream is None:
        return False
    stream_id = stream if isinstance(stream, int) else stream.pk
    return StreamKillSwitch.objects.filter(stream_id=stream_id, killed=True).exists()


def check_kill_switch(*, account: AdAccount, stream: Stream | None) -> str | None:
    if AdAccount.objects.filter(pk=account.pk, killed=True).exists():
        return _("The kill switch of the ad account is on.")
    if stream_killed(stream):
        return _("The kill switch of this stream is on.")
    return None


def stop_reason(
    *,
    campaign: Campaign,
    stream: Stream,
    rule: BoostRule | None,
    action: str,
    change: Decimal,
    at: datetime | None = None,
    exclude_decision: int | None = None,
    timing: bool = True,
) -> str | None:
    """The first limit a boost would break, or None. Proposals, acceptance and execution
    all ask it; `exclude_decision` keeps the decision's own intent out of the counts.
    `timing` (cool-down, active hours) is about when a rule may propose and accept: once
    a person has cleared a boost, a minute's wait for an approver must not void it."""
    account = campaign.account
    reason = check_kill_switch(account=account, stream=stream)
    if reason or action == ActionKind.NOTIFY:
        return reason
    if action in BUDGET_KINDS:
        reason = check_min_step(account, change) or check_daily_quota(
            campaign, at=at, exclude_decision=exclude_decision
        )
        if reason:
            return reason
    reason = check_caps(
        rule=rule, stream=stream, change=change, at=at, exclude_decision=exclude_decision
    )
    if reason:
        return reason
    if not timing:
        return None
    reason = check_cooldown(rule=rule, campaign=campaign, at=at, exclude_decision=exclude_decision)
    return reason or check_active_hours(rule, at)
