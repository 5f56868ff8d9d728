"""Row locks for ad boosts, in one place so their order stays deliberate.

Order within a transaction: the ad account (kill switch), then campaigns in primary-key
order, then intents, then decisions, then the stream's event-log head (taken by
`eventlog.append`, always last).

The campaign row is the per-ad-object mutex: every change of a campaign's intents (claim,
settle, stop) happens under it, so "is another change of this campaign in the air?" is
answered by one transaction at a time. It is held only for those short transactions, never
across a call to the platform.
"""

from collections.abc import Iterable

from django.db import connection

from .models import AdAccount, BoostDecision, BoostIntent, Campaign


def account_for_update(account_id: int) -> AdAccount:
    return AdAccount.objects.select_for_update().select_related("channel").get(pk=account_id)


def campaigns_for_update(campaign_ids: Iterable[int]) -> list[Campaign]:
    # NO KEY UPDATE: metrics rows and decisions reference the campaign (KEY SHARE), and
    # must not wait for an execution's bookkeeping.
    return list(
        Campaign.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(set(campaign_ids)))
        .order_by("pk")
    )


def intent_for_update(intent_id: int) -> BoostIntent:
    return (
        BoostIntent.objects.select_for_update(no_key=True, of=("self",))
        .select_related("campaign__account__channel", "decision__rule__account", "decision__stream")
        .get(pk=intent_id)
    )


def decision_for_update(decision_id: int) -> BoostDecision:
    return (
        BoostDecision.objects.select_for_update(no_key=True, of=("self",))
        .select_related("campaign__account__channel", "rule__account", "stream")
        .get(pk=decision_id)
    )


# The first half of the two-number advisory lock key: boost evaluation's own namespace, so
# stream ids never collide with another user of advisory locks (support uses 0x5107).
EVALUATION_LOCK_SPACE = 0xAD5


def stream_evaluation(stream_id: int) -> None:
    """Take turns judging one stream's rules, until the transaction ends.

    Two workers dispatching metrics of one stream at once would each find no open card for
    a rule and both propose one: the same boost twice on the buyer's screen. Taken before
    any row lock of the ads app (it is the first lock an evaluation takes).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [EVALUATION_LOCK_SPACE, stream_id])
