"""Event types the ads app publishes to a stream's log. Called only from services.

Every "boost" event carries the whole decision card as it now stands (`decision_data`), so a
screen applies it by replacing its copy: applying one twice, or late, changes nothing.
  op: "proposed", "accepted", "rejected", "approved", "executing", "confirmed", "failed",
      "stopped"
A "kill_switch" event (op "on" or "off") says a kill switch the stream depends on changed:
the stream's own, or the ad account of one of its campaigns; data is the switch as it now
stands (`kill_switch_data`).
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from rooms import eventlog
from rooms.eventlog import NewEvent
from rooms.events import platform_events_logged
from rooms.models import IngestEvent, Stream

from .models import BoostDecision


def ad_metrics_sampled(*, stream: Stream, samples: Iterable[IngestEvent]) -> None:
    platform_events_logged(
        stream=stream,
        rows=samples,
        type="ad_metrics",
        op="sampled",
        fields=("campaign_id", "spend", "impressions", "clicks", "orders", "gmv"),
        with_currency=True,
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def needs_approval(decision: BoostDecision) -> bool:
    """A second person (ad approver) must approve when the money the decision adds is
    above the rule's threshold. Cuts, pauses and notices never need one."""
    rule = decision.rule
    if rule is None or rule.approval_above is None or decision.amount is None:
        return False
    return decision.amount > rule.approval_above


def decision_data(decision: BoostDecision) -> dict:
    """The whole decision card, as screens and the event log show it. Money as strings."""
    campaign = decision.campaign
    rule = decision.rule
    return {
        "id": decision.pk,
        "stream": decision.stream_id,
        "campaign": {
            "id": campaign.pk,
            "name": campaign.name,
            "external_id": campaign.external_id,
            "additive": campaign.additive,
        },
        "rule": {"id": rule.pk, "name": rule.name} if rule else None,
        "action": decision.action,
        "target_budget": _money(decision.target_budget),
        "amount": _money(decision.amount),
        "evidence": decision.evidence,
        "status": decision.status,
        "version": decision.version,
        "proposed_at": _iso(decision.proposed_at),
        "decided_by": decision.decided_by.username if decision.decided_by_id else None,
        "decided_at": _iso(decision.decided_at),
        "approved_by": decision.approved_by.username if decision.approved_by_id else None,
        "approved_at": _iso(decision.approved_at),
        "note": decision.note,
        "needs_approval": needs_approval(decision),
    }


def decisions_changed(*, stream_id: int, op: str, decisions: Iterable[BoostDecision]) -> None:
    """One "boost" event per decision, in the order given."""
    eventlog.append(
        stream_id, [NewEvent(type="boost", op=op, data=decision_data(d)) for d in decisions]
    )


def kill_switch_data(
    *,
    scope: str,
    killed: bool,
    changed_by: str | None,
    changed_at: datetime,
    stream_id: int | None = None,
    account_id: int | None = None,
    stopped: list[int] | None = None,
) -> dict:
    """A kill switch as screens show it: `scope` "stream" or "account", who threw it last."""
    return {
        "scope": scope,
        "stream": stream_id,
        "account": account_id,
        "killed": killed,
        "changed_by": changed_by,
        "changed_at": _iso(changed_at),
        "stopped": stopped or [],
    }


def kill_switch_changed(*, stream_ids: Iterable[int], data: dict) -> None:
    """One "kill_switch" event in the log of each stream the switch holds back."""
    op = "on" if data["killed"] else "off"
    for stream_id in sorted(set(stream_ids)):
        eventlog.append(stream_id, [NewEvent(type="kill_switch", op=op, data=data)])
