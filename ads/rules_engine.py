"""Boost rules over rolling windows: pure arithmetic, no database.

A rule is judged against a `WindowView`: a campaign's per-minute series joined with its
stream's own numbers, the minute being judged, and what holds at that minute (budget,
stock of the pinned product, minutes left). The same code judges live metrics as they
arrive and replays a past stream minute by minute, so what a replay says a rule would have
done is what the rule does live.

Series hold running totals per minute, so a window of N minutes is one subtraction,
`total[i] - total[i - N]`, however long the stream: replaying a 3-hour stream costs the
same per minute as judging the live one.

Metrics (DESIGN.md, "Metric dictionary"; a window compares the last N minutes with the N
before; the minute being judged counts as the last of its window):
  roi           campaign GMV / spend over the last N minutes
  marginal_roi  (GMV of the last N − GMV of the N before) / (spend of the last N − spend of
                the N before): what the extra money bought; undefined unless spend rose
  gpm           the stream's paid GMV per 1,000 viewers entered, over the last N minutes
  viewer_trend  mean online viewers of the last N minutes / of the N before − 1 (0.2: +20 %)
  ctr           clicks / impressions over the last N minutes
  cvr           campaign orders / clicks over the last N minutes
  spend_pace    spend per minute over the last N against budget left per minute left of the
                planned stream: above 1 the budget runs out before the stream ends
  pinned_stock  stock left of the product pinned last (no window)
A condition's value is a number or "break_even": 1 / (gross margin × (1 − return rate)).
ROI and marginal ROI are judged only once the window's spend reaches the rule's
`min_spend`: an ROI of 12 on ¥8 of spend is noise, not a reason to spend more.
"""

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

ZERO = Decimal(0)
ONE = Decimal(1)
INFINITY = Decimal("Infinity")
CENT = Decimal("0.01")
RATIO = Decimal("0.0001")
BREAK_EVEN = "break_even"
# Numbers on a card are shown over this window when no condition names one.
DEFAULT_WINDOW = 10
WINDOWED = frozenset({"roi", "marginal_roi", "gpm", "viewer_trend", "ctr", "cvr", "spend_pace"})
METRICS = WINDOWED | {"pinned_stock"}
SPEND_JUDGED = frozenset({"roi", "marginal_roi"})
OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
ACTIONS = frozenset({"add_budget", "set_budget", "cut", "pause", "notify"})
# Actions whose `amount` the rule must give: money added, the budget set, money cut.
PRICED_ACTIONS = frozenset({"add_budget", "set_budget", "cut"})


def break_even_roi(gross_margin: Decimal, return_rate: Decimal) -> Decimal | None:
    """The ROI at which a boost pays for itself: below it every sale it buys loses money."""
    kept = Decimal(gross_margin) * (ONE - Decimal(return_rate))
    return ONE / kept if kept > 0 else None


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError from None
    if not number.is_finite():
        raise ValueError
    return number


# --- Rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    metric: str
    window: int
    op: str
    value: Decimal | None  # None: the rule's break-even ROI

    def label(self) -> str:
        value = BREAK_EVEN if self.value is None else str(self.value)
        window = f"[{self.window}m]" if self.metric in WINDOWED else ""
        return f"{self.metric}{window} {self.op} {value}"


def parse_condition(raw: Any) -> Condition:
    """One entry of `BoostRule.conditions`; ValueError names what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError(_("a condition must be an object"))
    metric, op = raw.get("metric"), raw.get("op")
    if metric not in METRICS:
        raise ValueError(_("unknown metric %(metric)r") % {"metric": metric})
    if op not in OPS:
        raise ValueError(_("unknown comparison %(op)r") % {"op": op})
    window = raw.get("window", DEFAULT_WINDOW)
    if metric in WINDOWED and (
        isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 180
    ):
        raise ValueError(_("the window must be 1 to 180 minutes"))
    value = raw.get("value")
    if value == BREAK_EVEN:
        return Condition(metric, window, op, None)
    try:
        return Condition(metric, window, op, _decimal(value))
    except ValueError:
        raise ValueError(
            _("the value must be a number or %(break_even)r") % {"break_even": BREAK_EVEN}
        ) from None


@dataclass(frozen=True)
class RuleSpec:
    """A boost rule as the engine judges it, read once from its row."""

    id: int | None
    name: str
    account_id: int | None
    conditions: tuple[Condition, ...]
    min_spend: Decimal
    action: str
    amount: Decimal | None
    break_even_roi: Decimal | None
    cooldown_minutes: int
    # Why the rule cannot be judged at all (a malformed condition, an action without its
    # amount); such a rule never proposes anything.
    problem: str | None = None

    @property
    def window(self) -> int:
        """The window a card's numbers are shown over: the rule's longest."""
        windows = [c.window for c in self.conditions if c.metric in WINDOWED]
        return max(windows, default=DEFAULT_WINDOW)


def rule_spec(rule: Any) -> RuleSpec:
    """A `BoostRule` (or anything with its fields) as the engine judges it."""
    problem = None
    conditions: list[Condition] = []
    raw_conditions = rule.conditions if isinstance(rule.conditions, list) else None
    if raw_conditions is None:
        problem = _("the conditions must be a list")
    else:
        try:
            conditions = [parse_condition(raw) for raw in raw_conditions]
        except ValueError as exc:
            problem = str(exc)
    if rule.action not in ACTIONS:
        problem = problem or _("unknown action %(action)r") % {"action": rule.action}
    elif rule.action in PRICED_ACTIONS and (rule.amount is None or rule.amount < 0):
        problem = problem or _("the action needs an amount")
    return RuleSpec(
        id=rule.pk,
        name=rule.name,
        account_id=rule.account_id,
        conditions=tuple(conditions),
        min_spend=Decimal(rule.min_spend or 0),
        action=rule.action,
        amount=None if rule.amount is None else Decimal(rule.amount),
        break_even_roi=break_even_roi(rule.gross_margin, rule.return_rate),
        cooldown_minutes=rule.cooldown_minutes,
        problem=problem,
    )


# --- Series ------------------------------------------------------------------------------


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def minutes_between(start: datetime, end: datetime) -> int:
    return int((minute_of(end) - minute_of(start)).total_seconds() // 60)


@dataclass(frozen=True)
class CampaignSeries:
    """A campaign's running totals at the end of each minute from `start` (index 0).

    Minutes without a report carry the last one forward, and a total never goes back: a
    late or repeated report cannot make money unspent.
    """

    start: datetime
    spend: list[Decimal]
    impressions: list[int]
    clicks: list[int]
    orders: list[int]
    gmv: list[Decimal]


def campaign_series(
    start: datetime,
    length: int,
    points: Iterable[tuple[datetime, Decimal, int, int, int, Decimal]],
) -> CampaignSeries:
    """`points`: (minute, spend, impressions, clicks, orders, gmv), in any order; points
    before `start` give the totals index 0 starts from, points after the end are ignored."""
    width = 5
    current: list[Any] = [ZERO, 0, 0, 0, ZERO]
    columns: list[list[Any]] = [[] for _ in range(width)]
    ordered = sorted(points, key=lambda point: point[0])
    position = 0
    for index in range(length):
        minute = start + timedelta(minutes=index)
        while position < len(ordered) and ordered[position][0] <= minute:
            point = ordered[position]
            for k in range(width):
                if point[k + 1] > current[k]:
                    current[k] = point[k + 1]
            position += 1
        for k in range(width):
            columns[k].append(current[k])
    return CampaignSeries(start, *columns)


@dataclass(frozen=True)
class StreamSeries:
    """The stream's own numbers per minute from `start`: paid GMV and viewers entered as
    running totals, and a running sum of online viewers (so a window's mean is one
    subtraction)."""

    start: datetime
    gmv: list[Decimal]
    online: list[int]
    online_sum: list[int]
    entered: list[int]


def stream_series(
    start: datetime,
    length: int,
    gmv_points: Iterable[tuple[datetime, Decimal]],
    viewer_points: Iterable[tuple[datetime, int, int]],
) -> StreamSeries:
    """`gmv_points`: (minute, paid GMV of that minute); `viewer_points`: (minute, online at
    the end of it, viewers entered so far). Points before `start` set the starting values."""
    gmv_by_minute: dict[datetime, Decimal] = {}
    for minute, amount in gmv_points:
        key = max(minute, start)
        gmv_by_minute[key] = gmv_by_minute.get(key, ZERO) + amount
    viewers = sorted(viewer_points, key=lambda point: point[0])
    gmv, online, online_sum, entered = [], [], [], []
    running_gmv, current_online, running_sum, current_entered = ZERO, 0, 0, 0
    position = 0
    for index in range(length):
        minute = start + timedelta(minutes=index)
        running_gmv += gmv_by_minute.get(minute, ZERO)
        while position < len(viewers) and viewers[position][0] <= minute:
            _minute, current_online, seen = viewers[position]
            current_entered = max(current_entered, seen)
            position += 1
        running_sum += current_online
        gmv.append(running_gmv)
        online.append(current_online)
        online_sum.append(running_sum)
        entered.append(current_entered)
    return StreamSeries(start, gmv, online, online_sum, entered)


@dataclass(frozen=True)
class WindowView:
    """What a rule sees when judging `index`, the minute just reported."""

    campaign: CampaignSeries
    stream: StreamSeries
    index: int
    budget: Decimal
    paused: bool = False
    minutes_left: int | None = None
    pinned_stock: int | None = None

    @property
    def minute(self) -> datetime:
        return self.campaign.start + timedelta(minutes=self.index)


def _last(values: list, i: int, n: int):
    return values[i] - values[max(i - n, 0)]


def _before(values: list, i: int, n: int):
    return values[max(i - n, 0)] - values[max(i - 2 * n, 0)]


def _ratio(numerator, denominator) -> Decimal | None:
    return Decimal(numerator) / Decimal(denominator) if denominator else None


def metric_value(view: WindowView, metric: str, window: int) -> Decimal | None:
    """A metric at the view's minute over the last `window` minutes; None when undefined
    (nothing spent, shown or clicked in the window, no product pinned)."""
    c, s, i, n = view.campaign, view.stream, view.index, window
    if metric == "roi":
        return _ratio(_last(c.gmv, i, n), _last(c.spend, i, n))
    if metric == "marginal_roi":
        extra_spend = _last(c.spend, i, n) - _before(c.spend, i, n)
        if extra_spend <= 0:
            return None
        return (_last(c.gmv, i, n) - _before(c.gmv, i, n)) / extra_spend
    if metric == "ctr":
        return _ratio(_last(c.clicks, i, n), _last(c.impressions, i, n))
    if metric == "cvr":
        return _ratio(_last(c.orders, i, n), _last(c.clicks, i, n))
    if metric == "gpm":
        entered = _last(s.entered, i, n)
        return _last(s.gmv, i, n) * 1000 / entered if entered else None
    if metric == "viewer_trend":
        recent_minutes = i - max(i - n, 0)
        before_minutes = max(i - n, 0) - max(i - 2 * n, 0)
        if not recent_minutes or not before_minutes:
            return None
        before = Decimal(_before(s.online_sum, i, n)) / before_minutes
        if not before:
            return None
        return Decimal(_last(s.online_sum, i, n)) / recent_minutes / before - ONE
    if metric == "spend_pace":
        per_minute = _last(c.spend, i, n) / n
        if not per_minute:
            return ZERO
        left = view.budget - c.spend[i]
        if left <= 0:
            return INFINITY
        # A stream running over its plan still has a minute to spend in.
        minutes_left = max(view.minutes_left or 0, 1)
        return per_minute * minutes_left / left
    if metric == "pinned_stock":
        return None if view.pinned_stock is None else Decimal(view.pinned_stock)
    raise ValueError(metric)


def _shown(value: Decimal | None, places: Decimal = RATIO) -> str | None:
    if value is None:
        return None
    if not value.is_finite():
        return "Infinity"
    return str(value.quantize(places))


def window_numbers(view: WindowView, window: int) -> dict:
    """The numbers a card shows for its campaign and stream over the last `window`
    minutes, as strings (money to the cent)."""
    c, s, i, n = view.campaign, view.stream, view.index, window
    spend, gmv = _last(c.spend, i, n), _last(c.gmv, i, n)
    stream_gmv = _last(s.gmv, i, n)
    return {
        "window": n,
        "spend": _shown(spend, CENT),
        "gmv": _shown(gmv, CENT),
        "orders": _last(c.orders, i, n),
        "clicks": _last(c.clicks, i, n),
        "impressions": _last(c.impressions, i, n),
        "roi": _shown(metric_value(view, "roi", n)),
        "marginal_roi": _shown(metric_value(view, "marginal_roi", n)),
        "ctr": _shown(metric_value(view, "ctr", n)),
        "cvr": _shown(metric_value(view, "cvr", n)),
        "spend_pace": _shown(metric_value(view, "spend_pace", n)),
        "spend_total": _shown(c.spend[i], CENT),
        "gmv_total": _shown(c.gmv[i], CENT),
        "budget": _shown(view.budget, CENT),
        "budget_left": _shown(view.budget - c.spend[i], CENT),
        "stream_gmv": _shown(stream_gmv, CENT),
        # The campaign's share of the stream's sales (paid vs organic), as far as the
        # platform attributes them; above 1 when it credits the campaign generously.
        "paid_share": _shown(_ratio(gmv, stream_gmv)),
        "gpm": _shown(metric_value(view, "gpm", n), CENT),
        "online": s.online[i],
        "viewer_trend": _shown(metric_value(view, "viewer_trend", n)),
        "pinned_stock": view.pinned_stock,
        "minutes_left": view.minutes_left,
    }


# --- Judging -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """What the rule proposes: `amount` is the change in budget (negative for a cut),
    `target_budget` the budget after it; both None for a pause or a notice."""

    rule: RuleSpec
    action: str
    amount: Decimal | None
    target_budget: Decimal | None
    evidence: dict


@dataclass(frozen=True)
class NoProposal:
    """Why the rule proposes nothing this minute.

    code: "invalid" (the rule cannot be judged), "min_data" (too little spend to judge ROI),
    "no_data" (a metric is undefined), "condition" (a condition does not hold),
    "nothing_to_do" (the action would change nothing).
    """

    code: str
    why: str


def as_absolute(
    budget: Decimal, action: str, amount: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    """The action as (budget after it, change): a card says "1,000 → 1,300", not only
    "+300". A cut never takes the budget below zero."""
    if action == "add_budget":
        return budget + amount, amount
    if action == "set_budget":
        return amount, amount - budget
    if action == "cut":
        target = max(budget - amount, ZERO)
        return target, target - budget
    return None, None


def _condition_row(condition: Condition, threshold: Decimal | None, actual) -> dict:
    return {
        "metric": condition.metric,
        "window": condition.window if condition.metric in WINDOWED else None,
        "op": condition.op,
        "value": _shown(threshold),
        "break_even": condition.value is None,
        "actual": _shown(actual),
    }


def evaluate(rule: RuleSpec, view: WindowView) -> Proposal | NoProposal:
    """Judge the rule at the view's minute: every condition must hold."""
    if rule.problem:
        return NoProposal("invalid", rule.problem)
    checked = []
    for condition in rule.conditions:
        if condition.metric in SPEND_JUDGED:
            spend = _last(view.campaign.spend, view.index, condition.window)
            if spend < rule.min_spend:
                return NoProposal(
                    "min_data",
                    _(
                        "%(spend)s spent in the last %(window)s minutes: ROI is judged from "
                        "%(min_spend)s."
                    )
                    % {
                        "spend": _shown(spend, CENT),
                        "window": condition.window,
                        "min_spend": _shown(rule.min_spend, CENT),
                    },
                )
        actual = metric_value(view, condition.metric, condition.window)
        threshold = rule.break_even_roi if condition.value is None else condition.value
        if threshold is None:
            return NoProposal(
                "invalid", _("The break-even ROI is undefined: check margin and return rate.")
            )
        if actual is None:
            return NoProposal(
                "no_data",
                _("%(condition)s: no data in the window.") % {"condition": condition.label()},
            )
        if not OPS[condition.op](actual, threshold):
            return NoProposal(
                "condition",
                _("%(metric)s is %(actual)s, not %(op)s %(value)s.")
                % {
                    "metric": condition.metric,
                    "actual": _shown(actual),
                    "op": condition.op,
                    "value": _shown(threshold),
                },
            )
        checked.append(_condition_row(condition, threshold, actual))
    target, change = as_absolute(view.budget, rule.action, rule.amount)
    if rule.action in PRICED_ACTIONS and not change:
        return NoProposal("nothing_to_do", _("The budget is already there."))
    if rule.action == "pause" and view.paused:
        return NoProposal("nothing_to_do", _("The campaign is paused already."))
    evidence = {
        "at": view.minute.isoformat(),
        "rule": {
            "id": rule.id,
            "name": rule.name,
            "action": rule.action,
            "amount": _shown(rule.amount, CENT),
            "min_spend": _shown(rule.min_spend, CENT),
        },
        "conditions": checked,
        "break_even_roi": _shown(rule.break_even_roi),
        "budget_before": _shown(view.budget, CENT),
        "numbers": window_numbers(view, rule.window),
    }
    return Proposal(rule, rule.action, change, target, evidence)
