"""Reads of ad boosts, scoped to what the requester may see.

The series readers load what the rules engine (`rules_engine`) judges: a campaign's
running totals per minute and the stream's own paid GMV and viewers, over the minutes a
rule looks back. They cost a few queries however many rules are judged.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncMinute
from django.utils import timezone
from django.utils.translation import gettext as _

from rooms import eventlog
from rooms.models import (
    CrewAssignment,
    CrewRole,
    LineupItem,
    ProductKind,
    Role,
    Show,
    Stream,
    StreamMinute,
    StreamOrder,
    Studio,
    User,
)
from rooms.rules import STUDIO_WIDE_ROLES

from . import rules_engine as engine
from .events import decision_data
from .models import (
    ActionKind,
    AdAccount,
    AuditEntry,
    BoostDecision,
    BoostIntent,
    Campaign,
    CampaignMinute,
    DecisionStatus,
    IntentState,
    StreamKillSwitch,
)

ZERO = Decimal(0)
CENT = Decimal("0.01")
# Cards a buyer can still act on, or that are on their way: shown first.
OPEN_STATUSES = (
    DecisionStatus.PROPOSED,
    DecisionStatus.AWAITING_APPROVAL,
    DecisionStatus.APPROVED,
    DecisionStatus.EXECUTING,
)
# Lineup kinds a buyer pushes traffic into at a loss (福利款 / 秒杀), as against the
# products that make the money (主推 hero, 利润款 profit).
LOSS_LEADERS = frozenset({ProductKind.TRAFFIC, ProductKind.FLASH})
BUDGET_ACTIONS = (ActionKind.ADD_BUDGET, ActionKind.SET_BUDGET, ActionKind.CUT)


# --- Scoping -----------------------------------------------------------------------------


def streams_with_boosts_for_user(user: User) -> QuerySet[Stream]:
    """Streams whose boosts the user may see: the rule of `ads.view_boosts` (ads/rules.py)
    applied to a queryset. Ad buyers crewed on the stream or in its studio, and the
    studio-wide roles of its studio."""
    streams = Stream.objects.select_related("channel", "studio")
    if user.is_superuser:
        return streams
    if not user.is_authenticated:
        return streams.none()
    visible = Q(
        pk__in=CrewAssignment.objects.filter(person=user, role=CrewRole.AD_BUYER).values(
            "stream_id"
        )
    )
    roles = set(user.groups.values_list("name", flat=True))
    if Role.AD_BUYER in roles or roles & STUDIO_WIDE_ROLES:
        visible |= Q(studio__in=Studio.objects.filter(members=user).values("pk"))
    return streams.filter(visible)


def stream_get_for_boosts(user: User, stream_id: int) -> Stream | None:
    return streams_with_boosts_for_user(user).filter(pk=stream_id).first()


# --- Series for the rules engine ---------------------------------------------------------


def campaign_series(
    stream: Stream, campaign_ids: Iterable[int], start: datetime, length: int
) -> dict[int, engine.CampaignSeries]:
    """Each campaign's running totals on the stream, minute by minute from `start`, in two
    queries: the minutes in range, and the last minute before it (where the totals stood)."""
    ids = sorted(set(campaign_ids))
    end = start + timedelta(minutes=length - 1)
    fields = ("campaign_id", "minute", "spend", "impressions", "clicks", "orders", "gmv")
    rows = CampaignMinute.objects.filter(stream=stream, campaign_id__in=ids)
    points: dict[int, list] = defaultdict(list)
    in_range = rows.filter(minute__gte=start, minute__lte=end).values_list(*fields)
    before = (
        rows.filter(minute__lt=start)
        .order_by("campaign_id", "-minute")
        .distinct("campaign_id")
        .values_list(*fields)
    )
    for campaign_id, *point in [*before, *in_range]:
        points[campaign_id].append(tuple(point))
    return {cid: engine.campaign_series(start, length, points[cid]) for cid in ids}


def stream_series(stream: Stream, start: datetime, length: int) -> engine.StreamSeries:
    """The stream's paid GMV per minute and its viewers, from `start`, in three queries.

    GMV counts paid orders by the minute they were paid (a refund takes its order out, as
    on the live tiles); GMV before `start` is left out: windows only subtract totals.
    """
    end = start + timedelta(minutes=length)
    gmv_points = (
        StreamOrder.objects.filter(
            stream=stream, status="paid", paid_at__gte=start, paid_at__lt=end
        )
        .annotate(minute=TruncMinute("paid_at"))
        .values("minute")
        .annotate(total=Sum("amount"))
        .values_list("minute", "total")
    )
    minutes = StreamMinute.objects.filter(stream=stream)
    viewer_points = list(
        minutes.filter(minute__gte=start, minute__lt=end).values_list(
            "minute", "online", "entered_total"
        )
    )
    last_before = (
        minutes.filter(minute__lt=start)
        .order_by("-minute")
        .values_list("minute", "online", "entered_total")
        .first()
    )
    if last_before:
        viewer_points.append(last_before)
    return engine.stream_series(start, length, gmv_points, viewer_points)


# --- Run-of-show and lineup: what a card says is on now and next ------------------------


@dataclass(frozen=True)
class ShowContext:
    """The run-of-show around a decision: `card` goes into the card's evidence."""

    card: dict
    pinned_stock: int | None


def _product_entry(item: LineupItem, sold: dict[str, int]) -> dict:
    stock_left = None if item.stock is None else max(item.stock - sold.get(item.sku, 0), 0)
    return {
        "link_number": item.link_number,
        "product": item.name,
        "sku": item.sku,
        "kind": item.kind,
        "kind_label": str(item.get_kind_display()),
        "loss_leader": item.kind in LOSS_LEADERS,
        "live_price": None if item.live_price is None else str(item.live_price),
        "stock": item.stock,
        "stock_left": stock_left,
    }


def show_context(stream: Stream) -> ShowContext:
    """What is on now and next, what is pinned, and stock left: the lineup's stock less
    what was ordered and not refunded (a placed order holds its stock).

    Three queries: the show, the lineup, and orders per SKU.
    """
    show = Show.objects.filter(stream=stream).first()
    items = {item.link_number: item for item in LineupItem.objects.filter(stream=stream)}
    skus = [item.sku for item in items.values() if item.sku]
    sold = dict(
        StreamOrder.objects.filter(stream=stream, sku__in=skus)
        .exclude(status="refunded")
        .values("sku")
        .annotate(quantity=Sum("quantity"))
        .values_list("sku", "quantity")
    )

    def product(link_number: int | None) -> dict | None:
        item = items.get(link_number) if link_number is not None else None
        return _product_entry(item, sold) if item is not None else None

    def segment(index: int) -> dict | None:
        if show is None or not 0 <= index < len(show.segments):
            return None
        row = show.segments[index]
        return {
            "index": index,
            "title": row.get("title", ""),
            "link_number": row.get("link_number"),
            "product": product(row.get("link_number")),
        }

    position = show.position if show is not None else -1
    pinned = [entry for link in (show.pinned if show else []) if (entry := product(link))]
    return ShowContext(
        card={
            "now": segment(position),
            "next": segment(position + 1),
            "pinned": pinned,
        },
        # The product pinned last is the one being explained (讲解) now.
        pinned_stock=pinned[-1]["stock_left"] if pinned else None,
    )


# --- Cards and campaigns -----------------------------------------------------------------


def decisions_for_stream(user: User, stream: Stream) -> list[dict]:
    """A stream's decision cards as the user may see them: open ones first (newest first),
    then the rest, newest first."""
    if stream_get_for_boosts(user, stream.pk) is None:
        return []
    decisions = (
        BoostDecision.objects.filter(stream=stream)
        .select_related("campaign", "rule", "decided_by", "approved_by")
        .order_by("-proposed_at", "-pk")
    )
    cards = [decision_data(decision) for decision in decisions]
    return sorted(cards, key=lambda card: card["status"] not in OPEN_STATUSES)


@dataclass(frozen=True)
class CampaignFigures:
    """A campaign on a stream with its latest running totals and the last `window`
    minutes."""

    campaign: Campaign
    at: datetime | None
    spend: Decimal
    gmv: Decimal
    roi: Decimal | None
    window_spend: Decimal
    window_gmv: Decimal
    window_roi: Decimal | None
    paid_share: Decimal | None
    killed: bool


def stream_campaigns(stream: Stream, *, window: int = 15) -> list[CampaignFigures]:
    """The stream's campaigns (linked to it, or that reported figures for it) with their
    latest figures; unscoped (the wall screen reads it), see `campaigns_for_stream`."""
    campaigns = list(
        Campaign.objects.filter(
            Q(stream=stream)
            | Exists(CampaignMinute.objects.filter(campaign=OuterRef("pk"), stream=stream))
        )
        .select_related("account")
        .order_by("pk")
    )
    if not campaigns:
        return []
    latest = (
        CampaignMinute.objects.filter(stream=stream, campaign__in=campaigns)
        .order_by("campaign_id", "-minute")
        .distinct("campaign_id")
    )
    last_minute = {row.campaign_id: row for row in latest}
    newest = max((row.minute for row in last_minute.values()), default=timezone.now())
    newest = engine.minute_of(newest)
    start = newest - timedelta(minutes=window)
    series = campaign_series(stream, [c.pk for c in campaigns], start, window + 1)
    stream_gmv = stream_series(stream, start, window + 1).gmv
    stream_window_gmv = stream_gmv[-1] - stream_gmv[0]
    figures = []
    for campaign in campaigns:
        row = last_minute.get(campaign.pk)
        s = series[campaign.pk]
        spend, gmv = s.spend[-1] - s.spend[0], s.gmv[-1] - s.gmv[0]
        figures.append(
            CampaignFigures(
                campaign=campaign,
                at=row.at if row else None,
                spend=s.spend[-1],
                gmv=s.gmv[-1],
                roi=_roi(s.gmv[-1], s.spend[-1]),
                window_spend=spend,
                window_gmv=gmv,
                window_roi=_roi(gmv, spend),
                paid_share=(gmv / stream_window_gmv).quantize(engine.RATIO)
                if stream_window_gmv
                else None,
                killed=campaign.account.killed,
            )
        )
    return figures


def campaigns_for_stream(user: User, stream: Stream, *, window: int = 15) -> list[CampaignFigures]:
    if stream_get_for_boosts(user, stream.pk) is None:
        return []
    return stream_campaigns(stream, window=window)


def _roi(gmv: Decimal, spend: Decimal) -> Decimal | None:
    return (gmv / spend).quantize(CENT) if spend else None


def stream_killed(stream: Stream) -> bool:
    return StreamKillSwitch.objects.filter(stream=stream, killed=True).exists()


# --- Outcome of each boost (复盘) ---------------------------------------------------------

OUTCOME_MINUTES = 15


@dataclass(frozen=True)
class BoostOutcome:
    """A boost that reached the platform, with its campaign's spend, GMV and ROI over the
    `minutes` before it landed and the `minutes` after (the minute it landed counts after).
    """

    decision: BoostDecision
    at: datetime
    minutes: int
    spend_before: Decimal
    gmv_before: Decimal
    roi_before: Decimal | None
    spend_after: Decimal
    gmv_after: Decimal
    roi_after: Decimal | None


def boost_outcomes(stream: Stream, *, minutes: int = OUTCOME_MINUTES) -> list[BoostOutcome]:
    """Every confirmed boost of the stream, in the order it landed. Two queries for the
    boosts and one per campaign's series, loaded once for all its boosts."""
    decisions = list(
        BoostDecision.objects.filter(
            stream=stream, intent__state=IntentState.CONFIRMED, intent__settled_at__isnull=False
        )
        .select_related("campaign", "rule", "intent", "decided_by", "approved_by")
        .order_by("intent__settled_at", "pk")
    )
    if not decisions:
        return []
    first = engine.minute_of(min(d.intent.settled_at for d in decisions))
    last = engine.minute_of(max(d.intent.settled_at for d in decisions))
    start = first - timedelta(minutes=minutes + 1)
    length = engine.minutes_between(start, last) + minutes + 1
    series = campaign_series(stream, {d.campaign_id for d in decisions}, start, length)
    outcomes = []
    for decision in decisions:
        s = series[decision.campaign_id]
        at = decision.intent.settled_at
        # The minute it landed is the first "after" minute: totals up to the minute before
        # are all "before".
        landed = engine.minutes_between(start, at)
        before_end, before_start = landed - 1, landed - 1 - minutes
        after_end = landed - 1 + minutes
        spend_before = s.spend[before_end] - s.spend[before_start]
        gmv_before = s.gmv[before_end] - s.gmv[before_start]
        spend_after = s.spend[after_end] - s.spend[before_end]
        gmv_after = s.gmv[after_end] - s.gmv[before_end]
        outcomes.append(
            BoostOutcome(
                decision=decision,
                at=at,
                minutes=minutes,
                spend_before=spend_before,
                gmv_before=gmv_before,
                roi_before=_roi(gmv_before, spend_before),
                spend_after=spend_after,
                gmv_after=gmv_after,
                roi_after=_roi(gmv_after, spend_after),
            )
        )
    return outcomes


def _change_label(decision: BoostDecision, currency: str) -> str:
    if decision.action == ActionKind.PAUSE:
        return str(_("Pause"))
    if decision.action == ActionKind.NOTIFY or decision.amount is None:
        return str(decision.get_action_display())
    sign = "+" if decision.amount > 0 else "−"
    return f"{sign}{abs(decision.amount).quantize(CENT)} {currency}"


def boost_outcome_section(stream: Stream, user: User | None) -> dict | None:
    """The post-stream summary's table of boosts (rooms.selectors.SUMMARY_SECTIONS)."""
    if user is None or stream_get_for_boosts(user, stream.pk) is None:
        return None
    outcomes = boost_outcomes(stream)
    if not outcomes:
        return None
    currency = stream.channel.currency
    zone = ZoneInfo(stream.studio.time_zone)

    def shown(value: Decimal | None) -> str:
        return "–" if value is None else str(value.quantize(CENT))

    return {
        "key": "ads.boost_outcomes",
        "title": _("Boosts: %(minutes)s minutes before and after") % {"minutes": OUTCOME_MINUTES},
        "columns": [
            _("Landed (%(zone)s)") % {"zone": stream.studio.time_zone},
            _("Campaign"),
            _("Rule"),
            _("Change"),
            _("Budget after"),
            _("Spend before"),
            _("GMV before"),
            _("ROI before"),
            _("Spend after"),
            _("GMV after"),
            _("ROI after"),
        ],
        "rows": [
            [
                timezone.localtime(outcome.at, zone).strftime("%H:%M:%S"),
                outcome.decision.campaign.name,
                outcome.decision.rule.name if outcome.decision.rule else "–",
                _change_label(outcome.decision, currency),
                shown(outcome.decision.target_budget),
                shown(outcome.spend_before),
                shown(outcome.gmv_before),
                shown(outcome.roi_before),
                shown(outcome.spend_after),
                shown(outcome.gmv_after),
                shown(outcome.roi_after),
            ]
            for outcome in outcomes
        ],
    }


# --- The wall screen: boost status and markers --------------------------------------------

PANEL_WINDOW = 15


def boost_status_panel(stream: Stream) -> dict | None:
    """The wall's "Boost status" (rooms.selectors.WALL_PANELS): each campaign's budget,
    spend and ROI of the last 15 minutes, the last decision and its state, the kill switch."""
    figures = stream_campaigns(stream, window=PANEL_WINDOW)
    if not figures:
        return None
    currency = stream.channel.currency
    killed = stream_killed(stream) or any(f.killed for f in figures)
    items = [
        {
            "label": _("Kill switch"),
            "detail": _("ON: no boost goes out") if killed else _("off"),
            "killed": killed,
        }
    ]
    for f in figures:
        items.append(
            {
                "label": f.campaign.name,
                "detail": _("budget %(budget)s · spent %(spend)s in %(minutes)s min · ROI %(roi)s")
                % {
                    "budget": f"{f.campaign.budget.quantize(CENT)} {currency}",
                    "spend": f.window_spend.quantize(CENT),
                    "minutes": PANEL_WINDOW,
                    "roi": "–" if f.window_roi is None else f.window_roi,
                },
                "campaign": f.campaign.pk,
                "paused": f.campaign.paused,
            }
        )
    last = (
        BoostDecision.objects.filter(stream=stream)
        .select_related("campaign")
        .order_by("-proposed_at", "-pk")
        .first()
    )
    if last is not None:
        items.append(
            {
                "label": _("Last decision: %(change)s %(campaign)s")
                % {"change": _change_label(last, currency), "campaign": last.campaign.name},
                "detail": str(last.get_status_display()),
                "decision": last.pk,
                "status": last.status,
            }
        )
    return {"key": "ads.boost_status", "title": _("Boost status"), "items": items}


CURRENCY_SIGNS = {
    "CNY": "¥",
    "USD": "$",
    "SGD": "S$",
    "MYR": "RM",
    "THB": "฿",
    "IDR": "Rp",
    "VND": "₫",
    "PHP": "₱",
}


def _marker_label(decision: BoostDecision, currency: str) -> str:
    """Short enough for a chart: "+¥500", "−¥200", "Pause"."""
    if decision.amount is None or decision.action not in BUDGET_ACTIONS:
        return str(decision.get_action_display())
    amount = abs(decision.amount)
    number = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    sign = "+" if decision.amount > 0 else "−"
    symbol = CURRENCY_SIGNS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def boost_markers(stream: Stream) -> list[dict]:
    """Confirmed boosts on the trend chart (rooms.selectors.TREND_MARKERS)."""
    currency = stream.channel.currency
    decisions = (
        BoostDecision.objects.filter(
            stream=stream, intent__state=IntentState.CONFIRMED, intent__settled_at__isnull=False
        )
        .select_related("intent")
        .order_by("intent__settled_at", "pk")
    )
    return [
        {
            "at": decision.intent.settled_at.isoformat(),
            "kind": "boost",
            "label": _marker_label(decision, currency),
            "decision": decision.pk,
        }
        for decision in decisions
    ]


def accounts_of_channel(channel_id: int) -> QuerySet[AdAccount]:
    return AdAccount.objects.filter(channel_id=channel_id).order_by("pk")


# --- Executions (helper "execution") -------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def intent_data(intent: BoostIntent) -> dict:
    """An execution as screens and the audit log show it. Money as strings."""
    return {
        "id": intent.pk,
        "decision": intent.decision_id,
        "campaign": intent.campaign_id,
        "idempotency_key": intent.idempotency_key,
        "kind": intent.kind,
        "amount": _amount(intent.amount),
        "target_budget": _amount(intent.target_budget),
        "budget_before": _amount(intent.budget_before),
        "state": intent.state,
        "attempts": intent.attempts,
        "next_attempt_at": _iso(intent.next_attempt_at),
        "platform_ref": intent.platform_ref,
        "last_error": intent.last_error,
        "created_at": _iso(intent.created_at),
        "settled_at": _iso(intent.settled_at),
    }


def decision_get_for_user(user: User, decision_id: int) -> BoostDecision | None:
    return (
        BoostDecision.objects.filter(stream__in=streams_with_boosts_for_user(user))
        .select_related("stream", "campaign__account__channel", "rule__account")
        .filter(pk=decision_id)
        .first()
    )


def executions_for_stream(stream: Stream) -> list[dict]:
    """A stream's executions, newest first, each with its decision and its audit trail
    (inputs, people, every request and response), oldest entry first."""
    intents = list(
        BoostIntent.objects.filter(decision__stream=stream)
        .select_related("decision__campaign", "decision__rule", "decision__decided_by")
        .select_related("decision__approved_by")
        .order_by("-created_at", "-pk")
    )
    trail: dict[int, list[dict]] = defaultdict(list)
    entries = (
        AuditEntry.objects.filter(decision__in=[intent.decision_id for intent in intents])
        .select_related("actor")
        .order_by("at", "pk")
    )
    for entry in entries:
        trail[entry.decision_id].append(
            {
                "at": _iso(entry.at),
                "kind": entry.kind,
                "actor": entry.actor.username if entry.actor_id else None,
                "data": entry.data,
            }
        )
    return [
        intent_data(intent)
        | {"decision_card": decision_data(intent.decision), "audit": trail[intent.decision_id]}
        for intent in intents
    ]


# --- Screens: the ad buyer's board, the ads index, replay totals (helper "screens") ---------

# Decided cards a board loads besides the open ones: the last half hour or so of a stream.
CLOSED_CARDS_SHOWN = 30
# The index lists streams this far back and ahead, live ones first.
INDEX_PAST = timedelta(days=14)
INDEX_AHEAD = timedelta(days=7)


def accounts_for_user(user: User) -> QuerySet[AdAccount]:
    """Ad accounts of the channels whose streams' boosts the user may see."""
    accounts = AdAccount.objects.select_related("channel").order_by("channel__name", "name", "pk")
    if user.is_superuser:
        return accounts
    channels = streams_with_boosts_for_user(user).values("channel_id")
    return accounts.filter(channel_id__in=channels)


def account_get_for_user(user: User, account_id: int) -> AdAccount | None:
    return accounts_for_user(user).filter(pk=account_id).first()


def ads_streams_for_user(user: User, *, now: datetime | None = None) -> list[dict]:
    """The streams of the ads index: live first, then coming up (soonest first), then ended
    (latest first), each with its campaigns and the cards waiting for someone."""
    now = now or timezone.now()
    streams = list(
        streams_with_boosts_for_user(user)
        .filter(planned_start__gte=now - INDEX_PAST, planned_start__lte=now + INDEX_AHEAD)
        .order_by("planned_start", "pk")
    )
    ids = [stream.pk for stream in streams]
    waiting = defaultdict(int)
    for stream_id, status in BoostDecision.objects.filter(
        stream_id__in=ids,
        status__in=[DecisionStatus.PROPOSED, DecisionStatus.AWAITING_APPROVAL],
    ).values_list("stream_id", "status"):
        waiting[(stream_id, status)] += 1
    campaigns = defaultdict(int)
    for stream_id in Campaign.objects.filter(stream_id__in=ids).values_list("stream_id", flat=True):
        campaigns[stream_id] += 1
    rank = {"live": 0, "scheduled": 1, "draft": 1}

    def order(stream: Stream):
        group = rank.get(stream.status, 2)
        moment = stream.planned_start.timestamp()
        return (group, -moment if group == 2 else moment)

    return [
        {
            "stream": stream,
            "campaigns": campaigns[stream.pk],
            "proposed": waiting[(stream.pk, DecisionStatus.PROPOSED)],
            "awaiting_approval": waiting[(stream.pk, DecisionStatus.AWAITING_APPROVAL)],
        }
        for stream in sorted(streams, key=order)
    ]


def cards_for_stream(stream: Stream, *, closed_limit: int = CLOSED_CARDS_SHOWN) -> list[dict]:
    """The board's cards: every open one, and the latest decided ones, newest first."""
    decisions = BoostDecision.objects.filter(stream=stream).select_related(
        "campaign", "rule", "decided_by", "approved_by"
    )
    newest = ("-proposed_at", "-pk")
    open_cards = list(decisions.filter(status__in=OPEN_STATUSES).order_by(*newest))
    closed = list(decisions.exclude(status__in=OPEN_STATUSES).order_by(*newest)[:closed_limit])
    return [decision_data(decision) for decision in [*open_cards, *closed]]


def _shown_money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT))


def campaign_data(figures: CampaignFigures) -> dict:
    """A campaign on the board: its budget, spend and ROI, in all and over the last window."""
    campaign = figures.campaign
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "external_id": campaign.external_id,
        "additive": campaign.additive,
        "account": {
            "id": campaign.account_id,
            "name": campaign.account.name,
            "killed": campaign.account.killed,
        },
        "budget": _shown_money(campaign.budget),
        "paused": campaign.paused,
        "at": _iso(figures.at),
        "spend": _shown_money(figures.spend),
        "gmv": _shown_money(figures.gmv),
        "roi": _shown_money(figures.roi),
        "window_minutes": PANEL_WINDOW,
        "window_spend": _shown_money(figures.window_spend),
        "window_gmv": _shown_money(figures.window_gmv),
        "window_roi": _shown_money(figures.window_roi),
        "paid_share": None if figures.paid_share is None else str(figures.paid_share),
    }


def kill_switches_for_stream(stream: Stream, figures: list[CampaignFigures]) -> dict:
    """The stream's kill switch and those of its campaigns' ad accounts."""
    switch = StreamKillSwitch.objects.filter(stream=stream).select_related("changed_by").first()
    accounts = {f.campaign.account_id: f.campaign.account for f in figures}
    return {
        "stream": {
            "killed": bool(switch and switch.killed),
            "changed_by": switch.changed_by.username if switch and switch.changed_by_id else None,
            "changed_at": _iso(switch.changed_at) if switch else None,
        },
        "accounts": [
            {"id": account.pk, "name": account.name, "killed": account.killed}
            for account in sorted(accounts.values(), key=lambda account: account.pk)
        ],
    }


BOARD_PARTS = frozenset({"cards", "campaigns", "kill_switch", "executions"})


def buyer_board(user: User, stream: Stream, *, parts: frozenset[str] = BOARD_PARTS) -> dict | None:
    """Everything the ad buyer's screen starts from, read after the event log's head, so any
    change after the read arrives as an event; or only some `parts` of it, for a screen
    that follows the log and needs fresh figures. None when the user may not see it."""
    if stream_get_for_boosts(user, stream.pk) is None:
        return None
    board: dict = {"head": eventlog.head(stream.pk), "server_now": timezone.now().isoformat()}
    if "cards" in parts:
        board["cards"] = cards_for_stream(stream)
    if parts & {"campaigns", "kill_switch"}:
        figures = stream_campaigns(stream, window=PANEL_WINDOW)
        if "campaigns" in parts:
            board["campaigns"] = [campaign_data(f) for f in figures]
        if "kill_switch" in parts:
            board["kill_switch"] = kill_switches_for_stream(stream, figures)
    if "executions" in parts:
        board["executions"] = executions_for_stream(stream)
    return board


@dataclass(frozen=True)
class ReplayTotals:
    """What a replay adds up to, next to what was done. ROI after: the campaign's recorded
    GMV over spend in the `minutes` after each addition, pooled; None when nothing was spent
    then (the replay cannot know what money never spent would have bought)."""

    minutes: int
    replay_cards: int
    replay_blocked: int
    replay_added: Decimal
    replay_roi_after: Decimal | None
    actual_cards: int
    actual_added: Decimal
    actual_roi_after: Decimal | None


def replay_totals(stream: Stream, lines: list, *, minutes: int = OUTCOME_MINUTES) -> ReplayTotals:
    """Totals of `ads.replay.replay(stream, rules)`'s lines."""
    replayed = [line for line in lines if line.source == "replay"]
    additions = [
        line
        for line in replayed
        if line.status == "proposed"
        and line.action in BUDGET_ACTIONS
        and line.amount is not None
        and line.amount > 0
    ]
    spend_after = gmv_after = ZERO
    if additions:
        start = engine.minute_of(min(line.at for line in additions))
        length = engine.minutes_between(start, max(line.at for line in additions)) + minutes + 1
        series = campaign_series(stream, {line.campaign_id for line in additions}, start, length)
        for line in additions:
            s = series[line.campaign_id]
            index = engine.minutes_between(start, line.at)
            spend_after += s.spend[index + minutes] - s.spend[index]
            gmv_after += s.gmv[index + minutes] - s.gmv[index]
    outcomes = [
        outcome
        for outcome in boost_outcomes(stream, minutes=minutes)
        if outcome.decision.amount is not None and outcome.decision.amount > 0
    ]
    actual_spend = sum((outcome.spend_after for outcome in outcomes), ZERO)
    actual_gmv = sum((outcome.gmv_after for outcome in outcomes), ZERO)
    return ReplayTotals(
        minutes=minutes,
        replay_cards=len(replayed),
        replay_blocked=sum(1 for line in replayed if line.status == "blocked"),
        replay_added=sum((line.amount for line in additions), ZERO).quantize(CENT),
        replay_roi_after=_roi(gmv_after, spend_after),
        actual_cards=sum(1 for line in lines if line.source == "actual"),
        actual_added=sum((outcome.decision.amount for outcome in outcomes), ZERO).quantize(CENT),
        actual_roi_after=_roi(actual_gmv, actual_spend),
    )
