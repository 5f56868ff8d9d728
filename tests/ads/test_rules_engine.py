"""The rules engine: metrics over rolling windows, guards and proposals, on series written
out by hand (no database)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ads import rules_engine as engine
from tests.factories import BoostRuleFactory

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTES = 21  # index 0 (where totals start) and 20 reported minutes


def cumulative(first: int, second: int) -> list[Decimal]:
    """Running totals: `first` a minute over minutes 1–10, `second` over minutes 11–20."""
    totals, running = [], 0
    for index in range(MINUTES):
        if index:
            running += first if index <= 10 else second
        totals.append(Decimal(running))
    return totals


def campaign() -> engine.CampaignSeries:
    """Spend ¥10/min then ¥20/min; GMV ¥30/min then ¥50/min; 1,000 impressions, 20 clicks
    and 2 orders a minute throughout."""
    return engine.CampaignSeries(
        start=START,
        spend=cumulative(10, 20),
        impressions=[int(v) for v in cumulative(1000, 1000)],
        clicks=[int(v) for v in cumulative(20, 20)],
        orders=[int(v) for v in cumulative(2, 2)],
        gmv=cumulative(30, 50),
    )


def stream() -> engine.StreamSeries:
    """The stream sells ¥100/min to 50 new viewers a minute; 100 online, then 150."""
    online = [100 if index <= 10 else 150 for index in range(MINUTES)]
    online_sum, running = [], 0
    for value in online:
        running += value
        online_sum.append(running)
    return engine.StreamSeries(
        start=START,
        gmv=cumulative(100, 100),
        online=online,
        online_sum=online_sum,
        entered=[int(v) for v in cumulative(50, 50)],
    )


def view(index: int = 20, **context) -> engine.WindowView:
    fields = {"budget": Decimal("1000"), "minutes_left": 70} | context
    return engine.WindowView(campaign=campaign(), stream=stream(), index=index, **fields)


def spec(conditions, **fields) -> engine.RuleSpec:
    defaults = {"min_spend": Decimal("0"), "action": "add_budget", "amount": Decimal("300")}
    return engine.rule_spec(BoostRuleFactory.build(conditions=conditions, **(defaults | fields)))


def when(metric: str, op: str, value, window: int = 10) -> dict:
    return {"metric": metric, "window": window, "op": op, "value": value}


# Last 10 minutes at minute 20: spend 200, GMV 500; the 10 before: spend 100, GMV 300.
METRIC_CASES = [
    ("roi", 10, Decimal("2.5")),  # 500 / 200
    ("roi", 5, Decimal("2.5")),  # 250 / 100
    ("marginal_roi", 10, Decimal("2")),  # (500 − 300) / (200 − 100)
    ("ctr", 10, Decimal("0.02")),  # 200 clicks / 10,000 impressions
    ("cvr", 10, Decimal("0.1")),  # 20 orders / 200 clicks
    ("gpm", 10, Decimal("2000")),  # ¥1,000 × 1,000 / 500 entered
    ("viewer_trend", 10, Decimal("0.5")),  # mean 150 against mean 100
    ("spend_pace", 10, Decimal("2")),  # ¥20/min against ¥700 left / 70 min
]


@pytest.mark.parametrize(("metric", "window", "expected"), METRIC_CASES)
def test_metrics_over_the_last_window_against_the_one_before(metric, window, expected):
    assert engine.metric_value(view(), metric, window) == expected


def test_a_window_reaching_before_the_first_report_covers_what_there_is():
    # At minute 4 a 10-minute window holds minutes 1–4: spend 40, GMV 120.
    assert engine.metric_value(view(index=4), "roi", 10) == Decimal("3")
    # …and there is no window before it to compare with.
    assert engine.metric_value(view(index=4), "viewer_trend", 10) is None


def test_marginal_roi_is_undefined_when_spend_did_not_rise():
    # Minutes 1–10 against nothing before: spend rose. Minutes 6–10 against 1–5: it did not.
    assert engine.metric_value(view(index=10), "marginal_roi", 5) is None


def test_spend_pace_is_unbounded_once_the_budget_is_spent():
    assert engine.metric_value(view(budget=Decimal("300")), "spend_pace", 10) == engine.INFINITY


def test_break_even_roi_from_margin_and_return_rate():
    assert engine.break_even_roi(Decimal("0.40"), Decimal("0.20")) == Decimal("3.125")
    assert engine.break_even_roi(Decimal("0.50"), Decimal("0")) == Decimal("2")
    assert engine.break_even_roi(Decimal("0"), Decimal("0.2")) is None


JUDGING_CASES = [
    # (conditions, rule fields, view context, expected code or (action, amount, target))
    ([when("roi", ">", 2)], {}, {}, ("add_budget", "300", "1300")),
    ([when("roi", ">", "break_even")], {}, {}, "condition"),  # 2.5 is not > 3.125
    (
        [when("roi", ">", "break_even")],
        {"gross_margin": Decimal("0.5"), "return_rate": Decimal("0")},
        {},
        ("add_budget", "300", "1300"),  # 2.5 > 2
    ),
    ([when("roi", ">", 2)], {"min_spend": Decimal("250")}, {}, "min_data"),  # 200 < 250
    ([when("roi", ">", 2)], {"min_spend": Decimal("200")}, {}, ("add_budget", "300", "1300")),
    ([when("marginal_roi", ">=", 2)], {}, {}, ("add_budget", "300", "1300")),
    ([when("marginal_roi", ">", 1, window=5)], {}, {}, "no_data"),  # spend flat over 11–20
    ([when("ctr", "<", "0.01")], {}, {}, "condition"),
    ([when("cvr", ">=", "0.1"), when("gpm", ">", 1500)], {}, {}, ("add_budget", "300", "1300")),
    ([when("cvr", ">=", "0.1"), when("gpm", ">", 2500)], {}, {}, "condition"),
    (
        [when("viewer_trend", ">", "0.4")],
        {"action": "set_budget", "amount": Decimal("1500")},
        {},
        ("set_budget", "500", "1500"),
    ),
    (
        [when("spend_pace", ">", "1.5")],
        {"action": "cut", "amount": Decimal("200")},
        {},
        ("cut", "-200", "800"),
    ),
    (
        [when("spend_pace", ">", "1.5")],
        {"action": "cut", "amount": Decimal("5000")},
        {},
        ("cut", "-1000", "0"),  # never below zero
    ),
    ([when("pinned_stock", "<", 10)], {"action": "pause", "amount": None}, {}, "no_data"),
    (
        [when("pinned_stock", "<", 10)],
        {"action": "pause", "amount": None},
        {"pinned_stock": 5},
        ("pause", None, None),
    ),
    (
        [when("pinned_stock", "<", 10)],
        {"action": "pause", "amount": None},
        {"pinned_stock": 5, "paused": True},
        "nothing_to_do",
    ),
    (
        [when("roi", ">", 2)],
        {"action": "set_budget", "amount": Decimal("1000")},
        {},
        "nothing_to_do",
    ),
    ([when("roi", ">", 2)], {"action": "notify", "amount": None}, {}, ("notify", None, None)),
    ([when("reach", ">", 2)], {}, {}, "invalid"),
    ([when("roi", "!=", 2)], {}, {}, "invalid"),
    ([when("roi", ">", "lots")], {}, {}, "invalid"),
    ([when("roi", ">", 2)], {"amount": None}, {}, "invalid"),
]


@pytest.mark.parametrize(("conditions", "fields", "context", "expected"), JUDGING_CASES)
def test_judging(conditions, fields, context, expected):
    outcome = engine.evaluate(spec(conditions, **fields), view(**context))

    if isinstance(expected, str):
        assert isinstance(outcome, engine.NoProposal)
        assert (outcome.code, bool(outcome.why)) == (expected, True)
    else:
        action, amount, target = expected
        assert isinstance(outcome, engine.Proposal)
        assert outcome.action == action
        assert outcome.amount == (None if amount is None else Decimal(amount))
        assert outcome.target_budget == (None if target is None else Decimal(target))


def test_a_proposal_carries_its_evidence():
    rule = spec([when("roi", ">", 2), when("cvr", ">=", "0.1")], min_spend=Decimal("150"))

    proposal = engine.evaluate(rule, view())

    evidence = proposal.evidence
    assert evidence["at"] == (START + timedelta(minutes=20)).isoformat()
    assert evidence["rule"]["min_spend"] == "150.00"
    assert evidence["budget_before"] == "1000.00"
    assert evidence["break_even_roi"] == "3.1250"
    assert [(c["metric"], c["op"], c["value"], c["actual"]) for c in evidence["conditions"]] == [
        ("roi", ">", "2.0000", "2.5000"),
        ("cvr", ">=", "0.1000", "0.1000"),
    ]
    numbers = evidence["numbers"]
    assert (numbers["window"], numbers["spend"], numbers["gmv"]) == (10, "200.00", "500.00")
    assert (numbers["spend_total"], numbers["gmv_total"], numbers["budget_left"]) == (
        "300.00",
        "800.00",
        "700.00",
    )
    # The campaign's ¥500 of the stream's ¥1,000 over the window: half the sales were paid for.
    assert (numbers["stream_gmv"], numbers["paid_share"]) == ("1000.00", "0.5000")
    assert (numbers["online"], numbers["viewer_trend"]) == (150, "0.5000")


def test_why_not_names_the_numbers():
    outcome = engine.evaluate(spec([when("roi", ">", 3)]), view())

    assert outcome.code == "condition"
    assert "2.5000" in outcome.why and "3.0000" in outcome.why


def test_campaign_series_carries_reports_forward_and_never_back():
    minute = [START + timedelta(minutes=k) for k in range(6)]
    points = [
        # Out of order, with a late report lower than the one before it.
        (minute[3], Decimal("90"), 900, 9, 1, Decimal("200")),
        (minute[1], Decimal("50"), 500, 5, 0, Decimal("100")),
        (minute[4], Decimal("80"), 950, 9, 1, Decimal("180")),
        (minute[0] - timedelta(minutes=3), Decimal("20"), 100, 1, 0, Decimal("0")),
    ]

    series = engine.campaign_series(minute[0], 6, points)

    assert series.spend == [Decimal(v) for v in (20, 50, 50, 90, 90, 90)]
    assert series.impressions == [100, 500, 500, 900, 950, 950]
    assert series.gmv == [Decimal(v) for v in (0, 100, 100, 200, 200, 200)]


def test_stream_series_adds_gmv_and_carries_viewers_forward():
    minute = [START + timedelta(minutes=k) for k in range(4)]

    series = engine.stream_series(
        minute[0],
        4,
        gmv_points=[(minute[1], Decimal("30")), (minute[3], Decimal("20"))],
        viewer_points=[(minute[0] - timedelta(minutes=1), 80, 400), (minute[2], 120, 520)],
    )

    assert series.gmv == [Decimal(v) for v in (0, 30, 30, 50)]
    assert series.online == [80, 80, 120, 120]
    assert series.online_sum == [80, 160, 280, 400]
    assert series.entered == [400, 400, 520, 520]
