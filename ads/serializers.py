"""Shapes of the ad boosts' REST API: requests are parsed here, answers documented."""

from decimal import Decimal

from rest_framework import serializers

from .models import ActionKind, DecisionStatus, IntentState


class DecisionSerializer(serializers.Serializer):
    """A decision card as every screen sees it (the same as in "boost" events)."""

    id = serializers.IntegerField()
    stream = serializers.IntegerField()
    campaign = serializers.DictField()
    rule = serializers.DictField(allow_null=True)
    action = serializers.ChoiceField(choices=ActionKind.choices)
    target_budget = serializers.CharField(allow_null=True, help_text="The budget after it.")
    amount = serializers.CharField(allow_null=True, help_text="The change it makes.")
    evidence = serializers.DictField()
    status = serializers.ChoiceField(choices=DecisionStatus.choices)
    version = serializers.IntegerField(
        help_text="Send it back as `seen_version`: 409 if the card changed since."
    )
    proposed_at = serializers.DateTimeField()
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.CharField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()
    needs_approval = serializers.BooleanField()


class AcceptRequestSerializer(serializers.Serializer):
    seen_version = serializers.IntegerField(min_value=0)
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        allow_null=True,
        help_text="To accept another amount than proposed, in the action's own terms: what "
        "to add, the budget to set, what to cut.",
    )
    note = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)


class RejectRequestSerializer(serializers.Serializer):
    seen_version = serializers.IntegerField(min_value=0)
    note = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)


class ApproveRequestSerializer(serializers.Serializer):
    seen_version = serializers.IntegerField(min_value=0)


class KillSwitchRequestSerializer(serializers.Serializer):
    killed = serializers.BooleanField()


class KillSwitchSerializer(serializers.Serializer):
    killed = serializers.BooleanField()
    changed_by = serializers.CharField(allow_null=True)
    changed_at = serializers.DateTimeField(allow_null=True)
    stopped = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Executions this change stopped before they were sent.",
    )


class StreamKillSwitchesSerializer(serializers.Serializer):
    stream = KillSwitchSerializer()
    accounts = serializers.ListField(
        child=serializers.DictField(),
        help_text="The ad accounts of the stream's campaigns: id, name, killed.",
    )


class AuditEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField(
        help_text="accepted, approved, rejected, blocked, read_back, platform_request, "
        "platform_response, confirmed, failed, stopped."
    )
    actor = serializers.CharField(allow_null=True)
    data = serializers.DictField(help_text="Inputs, or the request and response as exchanged.")


class ExecutionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    decision = serializers.IntegerField()
    campaign = serializers.IntegerField()
    idempotency_key = serializers.CharField()
    kind = serializers.ChoiceField(choices=ActionKind.choices)
    amount = serializers.CharField(allow_null=True)
    target_budget = serializers.CharField(allow_null=True)
    budget_before = serializers.CharField(allow_null=True)
    state = serializers.ChoiceField(choices=IntentState.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    platform_ref = serializers.CharField()
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    settled_at = serializers.DateTimeField(allow_null=True)
    decision_card = DecisionSerializer()
    audit = AuditEntrySerializer(many=True)


class CampaignFiguresSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    external_id = serializers.CharField()
    additive = serializers.BooleanField()
    account = serializers.DictField(help_text="id, name, killed.")
    budget = serializers.CharField()
    paused = serializers.BooleanField()
    at = serializers.DateTimeField(allow_null=True, help_text="The platform's latest report.")
    spend = serializers.CharField(help_text="Spent on the stream so far.")
    gmv = serializers.CharField()
    roi = serializers.CharField(allow_null=True)
    window_minutes = serializers.IntegerField()
    window_spend = serializers.CharField()
    window_gmv = serializers.CharField()
    window_roi = serializers.CharField(allow_null=True)
    paid_share = serializers.CharField(
        allow_null=True, help_text="The campaign's GMV over the stream's in the window."
    )


class BoardKillSwitchesSerializer(serializers.Serializer):
    stream = serializers.DictField(help_text="killed, changed_by, changed_at.")
    accounts = serializers.ListField(child=serializers.DictField(), help_text="id, name, killed.")


class BoardSerializer(serializers.Serializer):
    """The ad buyer's screen as it now stands, read after the event log's `head`."""

    head = serializers.IntegerField(help_text="Follow the websocket from here.")
    server_now = serializers.DateTimeField()
    cards = DecisionSerializer(
        many=True, required=False, help_text="Open cards, then the latest decided."
    )
    campaigns = CampaignFiguresSerializer(many=True, required=False)
    kill_switch = BoardKillSwitchesSerializer(required=False)
    executions = ExecutionSerializer(many=True, required=False)
