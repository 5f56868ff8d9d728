"""Writing boost rules: who may, what is refused (every fault at once, by field), what the
engine reads back, and the audit trail of every version."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ads import rules_engine as engine
from ads import services
from ads.models import AuditEntry, BoostRule
from rooms.models import Role
from tests.factories import AdAccountFactory, BoostDecisionFactory, BoostRuleFactory, UserFactory

pytestmark = pytest.mark.django_db

PUSH = {
    "name": "Push on ROI",
    "conditions": [{"metric": "roi", "window": 5, "op": ">", "value": "break_even"}],
    "min_spend": Decimal("300"),
    "action": "add_budget",
    "amount": Decimal("500"),
    "approval_above": Decimal("1000"),
}


def test_an_ad_buyer_writes_a_rule_the_engine_judges():
    account = AdAccountFactory()
    buyer = UserFactory(roles=[Role.AD_BUYER])

    rule = services.boost_rule_save(actor=buyer, account=account, **PUSH)

    spec = engine.rule_spec(rule)
    assert spec.problem is None
    assert [c.label() for c in spec.conditions] == ["roi[5m] > break_even"]
    assert spec.break_even_roi == Decimal("3.125")
    [entry] = AuditEntry.objects.filter(kind="rule_saved")
    assert (entry.actor, entry.data["before"], entry.data["after"]["amount"]) == (
        buyer,
        None,
        "500.00",
    )


def test_only_ad_buyers_write_rules():
    account = AdAccountFactory()
    approver = UserFactory(roles=[Role.AD_APPROVER])

    with pytest.raises(PermissionDenied):
        services.boost_rule_save(actor=approver, account=account, **PUSH)

    assert not BoostRule.objects.exists()


def test_every_fault_of_a_rule_is_named_by_its_field():
    account = AdAccountFactory()

    with pytest.raises(ValidationError) as refused:
        services.boost_rule_save(
            actor=None,
            account=account,
            **PUSH
            | {
                "name": " ",
                "conditions": [{"metric": "roi", "window": 500, "op": ">", "value": "2"}],
                "amount": None,
                "cap_per_day": Decimal("0"),
                "gross_margin": Decimal("0"),
                "return_rate": Decimal("1"),
            },
        )

    assert refused.value.message_dict == {
        "name": ["Give the rule a name."],
        "conditions": ["Condition 1: the window must be 1 to 180 minutes"],
        "amount": ["This action needs an amount above zero."],
        "cap_per_day": ["Leave it empty for no cap; a cap of zero would stop every boost."],
        "gross_margin": ["The gross margin is above 0 and at most 1 (0.40 is 40 %)."],
        "return_rate": ["The return rate is at least 0 and below 1 (0.20 is 20 %)."],
    }


def test_a_changed_rule_keeps_its_earlier_version_on_the_audit_log():
    rule = BoostRuleFactory(name="Push", amount=Decimal("300"))

    services.boost_rule_save(actor=None, account=rule.account, rule=rule, **PUSH)

    rule.refresh_from_db()
    assert (rule.name, rule.amount) == ("Push on ROI", Decimal("500"))
    entry = AuditEntry.objects.get(kind="rule_saved")
    assert (entry.data["before"]["amount"], entry.data["after"]["amount"]) == ("300.00", "500.00")


def test_a_pause_rule_keeps_no_amount():
    account = AdAccountFactory()

    rule = services.boost_rule_save(
        actor=None, account=account, **PUSH | {"action": "pause", "amount": Decimal("100")}
    )

    assert rule.amount is None


def test_a_rule_with_cards_is_not_deleted_one_without_is():
    used = BoostDecisionFactory().rule
    unused = BoostRuleFactory()

    with pytest.raises(ValidationError):
        services.boost_rule_delete(actor=None, rule=used)
    services.boost_rule_delete(actor=None, rule=unused)

    assert list(BoostRule.objects.values_list("pk", flat=True)) == [used.pk]
    assert AuditEntry.objects.get(kind="rule_deleted").data["before"]["id"] == unused.pk
