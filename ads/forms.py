"""Forms of the ads screens: a boost rule with its conditions, and the replay's rule picker."""

from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from . import rules_engine as engine
from .models import ActionKind, BoostRule

METRICS = (
    ("roi", _("ROI (campaign GMV ÷ spend)")),
    ("marginal_roi", _("Marginal ROI (what the extra spend bought)")),
    ("gpm", _("GPM (stream GMV per 1,000 viewers entered)")),
    ("viewer_trend", _("Viewer trend (against the window before; 0.2 is +20 %)")),
    ("ctr", _("CTR (clicks ÷ impressions)")),
    ("cvr", _("CVR (orders ÷ clicks)")),
    ("spend_pace", _("Spend pace (above 1 the budget runs out before the end)")),
    ("pinned_stock", _("Stock left of the pinned product")),
)
OPERATORS = ((">", ">"), (">=", "≥"), ("<", "<"), ("<=", "≤"))


class ConditionForm(forms.Form):
    """One condition: a metric over the last N minutes, compared with a number or with the
    rule's break-even ROI."""

    metric = forms.ChoiceField(label=_("Metric"), choices=METRICS)
    window = forms.IntegerField(
        label=_("Window (minutes)"), min_value=1, max_value=180, required=False, initial=10
    )
    op = forms.ChoiceField(label=_("Is"), choices=OPERATORS)
    value = forms.DecimalField(label=_("Value"), required=False, max_digits=14, decimal_places=4)
    break_even = forms.BooleanField(label=_("the break-even ROI"), required=False)

    def clean(self):
        data = super().clean()
        metric = data.get("metric")
        if metric in engine.WINDOWED and data.get("window") is None:
            self.add_error("window", _("Give the window in minutes."))
        if not data.get("break_even") and data.get("value") is None and "value" not in self.errors:
            self.add_error("value", _("Give a value, or compare with the break-even ROI."))
        return data

    def condition(self) -> dict:
        data = self.cleaned_data
        condition = {
            "metric": data["metric"],
            "op": data["op"],
            "value": engine.BREAK_EVEN if data["break_even"] else str(data["value"]),
        }
        if data["metric"] in engine.WINDOWED:
            condition["window"] = data["window"]
        return condition

    @staticmethod
    def initial_for(condition: dict) -> dict:
        value = condition.get("value")
        return {
            "metric": condition.get("metric"),
            "window": condition.get("window"),
            "op": condition.get("op"),
            "value": None if value == engine.BREAK_EVEN else value,
            "break_even": value == engine.BREAK_EVEN,
        }


ConditionFormSet = forms.formset_factory(
    ConditionForm, extra=0, can_delete=True, min_num=1, validate_min=True, max_num=12
)


def _money(label, **kwargs) -> forms.DecimalField:
    return forms.DecimalField(label=label, max_digits=12, decimal_places=2, **kwargs)


class BoostRuleForm(forms.Form):
    """Everything of a rule but its conditions (`ConditionFormSet`)."""

    name = forms.CharField(label=_("Name"), max_length=100)
    enabled = forms.BooleanField(label=_("On"), required=False, initial=True)
    min_spend = _money(
        _("Judge ROI only after this spend in the window"),
        min_value=Decimal(0),
        initial=Decimal("100"),
        help_text=_("An ROI of 12 on ¥8 of spend is noise, not a reason to spend more."),
    )
    action = forms.ChoiceField(label=_("Action"), choices=ActionKind.choices)
    amount = _money(
        _("Amount"),
        required=False,
        help_text=_("What to add, the budget to set, or what to cut."),
    )
    cap_per_boost = _money(_("At most per boost"), required=False)
    cap_per_stream = _money(_("At most added per stream"), required=False)
    cap_per_day = _money(_("At most added per day"), required=False)
    cooldown_minutes = forms.IntegerField(
        label=_("Cool-down (minutes)"), min_value=0, max_value=24 * 60, initial=10
    )
    active_from = forms.TimeField(
        label=_("Active from"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    active_until = forms.TimeField(
        label=_("Active until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text=_("In the channel's time zone; 22:00 to 02:00 runs past midnight."),
    )
    approval_above = _money(
        _("Needs an approver above"),
        required=False,
        min_value=Decimal(0),
        help_text=_("A boost adding more than this waits for an ad approver."),
    )
    gross_margin = forms.DecimalField(
        label=_("Gross margin"),
        max_digits=5,
        decimal_places=4,
        initial=Decimal("0.40"),
        help_text=_("0.40 is 40 %."),
    )
    return_rate = forms.DecimalField(
        label=_("Return rate"),
        max_digits=5,
        decimal_places=4,
        initial=Decimal("0.20"),
        help_text=_("0.20 is 20 %."),
    )

    @staticmethod
    def initial_for(rule: BoostRule) -> dict:
        return {
            "name": rule.name,
            "enabled": rule.enabled,
            "min_spend": rule.min_spend,
            "action": rule.action,
            "amount": rule.amount,
            "cap_per_boost": rule.cap_per_boost,
            "cap_per_stream": rule.cap_per_stream,
            "cap_per_day": rule.cap_per_day,
            "cooldown_minutes": rule.cooldown_minutes,
            "active_from": rule.active_from,
            "active_until": rule.active_until,
            "approval_above": rule.approval_above,
            "gross_margin": rule.gross_margin,
            "return_rate": rule.return_rate,
        }

    def break_even_roi(self) -> Decimal | None:
        """The break-even ROI of the margin and return rate as typed (or as saved)."""
        source = self.data if self.is_bound else {}

        def read(name: str):
            raw = source.get(self.add_prefix(name)) if self.is_bound else self.initial.get(name)
            if raw in (None, ""):
                raw = self.fields[name].initial
            try:
                return Decimal(str(raw))
            except ArithmeticError:
                return None

        margin, returns = read("gross_margin"), read("return_rate")
        if margin is None or returns is None:
            return None
        value = engine.break_even_roi(margin, returns)
        return None if value is None else value.quantize(Decimal("0.01"), ROUND_HALF_UP)
