"""Shapes of the support queue's REST API: requests are parsed here, answers documented."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from rooms.serializers import AwareDateTimeField

from .models import Agent, AgentStatus, CannedReply, Category, GroupStatus


class GroupSerializer(serializers.Serializer):
    """A question group as every screen sees it (the same as in "question" events)."""

    id = serializers.IntegerField()
    category = serializers.ChoiceField(choices=Category.choices)
    language = serializers.CharField()
    link_number = serializers.IntegerField(allow_null=True)
    text = serializers.CharField()
    count = serializers.IntegerField(help_text="How many times it was asked.")
    vip = serializers.BooleanField()
    askers = serializers.ListField(child=serializers.CharField(), help_text="Newest first.")
    first_asked_at = serializers.DateTimeField()
    last_asked_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    warned = serializers.BooleanField()
    breached = serializers.BooleanField()
    status = serializers.ChoiceField(choices=GroupStatus.choices)
    version = serializers.IntegerField(
        help_text="Send it back as `seen_version`: 409 if the group changed since."
    )
    claimed_by = serializers.IntegerField(allow_null=True)
    claimed_by_name = serializers.CharField(allow_null=True)
    claim_expires_at = serializers.DateTimeField(allow_null=True)
    answered_by = serializers.CharField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    reply = serializers.CharField()
    merged_into = serializers.IntegerField(allow_null=True)


class QuestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.CharField(help_text="The viewer's platform id.")
    user_name = serializers.CharField()
    text = serializers.CharField()
    asked_at = serializers.DateTimeField()


class QueueQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=GroupStatus.choices, default=GroupStatus.OPEN, required=False
    )
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    language = serializers.CharField(max_length=8, required=False)
    link_number = serializers.IntegerField(min_value=1, max_value=9999, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=200)


class QueueSerializer(serializers.Serializer):
    head = serializers.IntegerField(
        help_text="The stream's last event id: connect the websocket with after=head."
    )
    groups = GroupSerializer(many=True)


class ClaimNextRequestSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=Category.choices, required=False, default="")
    language = serializers.CharField(max_length=8, required=False, default="")
    link_number = serializers.IntegerField(min_value=1, max_value=9999, required=False)


class ClaimNextSerializer(serializers.Serializer):
    group = GroupSerializer(allow_null=True, help_text="Null when nothing is waiting for you.")


class SeenVersionSerializer(serializers.Serializer):
    seen_version = serializers.IntegerField(
        min_value=0, required=False, help_text="`version` as your screen shows it."
    )


class AnswerRequestSerializer(serializers.Serializer):
    seen_version = serializers.IntegerField(min_value=0)
    text = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    canned_replies = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=list,
        max_length=9,
        help_text="Canned reply ids, stacked in this order before `text`.",
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs["text"].strip() and not attrs["canned_replies"]:
            raise serializers.ValidationError(_("Write a reply or choose a canned one."))
        return attrs


class SplitRequestSerializer(serializers.Serializer):
    question_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
    )


class MergeRequestSerializer(serializers.Serializer):
    group_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=100,
        help_text="Groups to fold into this one.",
    )


class CannedReplySerializer(serializers.ModelSerializer):
    class Meta:
        model = CannedReply
        fields = ["id", "channel", "shortcut", "title", "text", "category"]
        read_only_fields = ["id", "channel"]


class CannedReplyRequestSerializer(serializers.Serializer):
    shortcut = serializers.IntegerField(min_value=1, max_value=9, required=False, allow_null=True)
    title = serializers.CharField(max_length=100)
    text = serializers.CharField(
        help_text="May use {price} {regular_price} {stock} {product} {link} {coupon} {shipping}."
    )
    category = serializers.ChoiceField(
        choices=Category.choices, required=False, default="", allow_blank=True
    )


class FilledReplySerializer(serializers.Serializer):
    """A canned reply as it would go out for one group now, or why it cannot."""

    id = serializers.IntegerField()
    shortcut = serializers.IntegerField(allow_null=True)
    title = serializers.CharField()
    category = serializers.CharField()
    text = serializers.CharField()
    filled = serializers.CharField(allow_null=True, help_text="Null when a variable is missing.")
    missing = serializers.CharField(help_text="Why it cannot be sent now, or empty.")


class AgentSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    holding = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids of the groups this agent holds now."
    )
    heartbeat_seconds = serializers.IntegerField(
        help_text="Send a heartbeat this often while the screen is open."
    )
    lease_seconds = serializers.IntegerField(
        help_text="A claim lapses this long after the last heartbeat."
    )

    class Meta:
        model = Agent
        fields = [
            "id",
            "user",
            "name",
            "status",
            "capacity",
            "languages",
            "categories",
            "last_seen_at",
            "holding",
            "heartbeat_seconds",
            "lease_seconds",
        ]

    def get_name(self, agent: Agent) -> str:
        return str(agent.user)


class AgentStatusRequestSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AgentStatus.choices)
    hand_back = serializers.BooleanField(
        default=False, help_text="Return the groups you hold to the queue (needed to leave)."
    )


class AgentUpdateRequestSerializer(serializers.Serializer):
    capacity = serializers.IntegerField(min_value=1, max_value=50, required=False)
    languages = serializers.ListField(
        child=serializers.CharField(max_length=8), required=False, max_length=20
    )
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices), required=False
    )


class StatsQuerySerializer(serializers.Serializer):
    since = AwareDateTimeField(required=False, help_text="Default: 24 hours ago.")
    until = AwareDateTimeField(required=False, help_text="Default: now.")
    stream = serializers.IntegerField(min_value=1, required=False)
    format = serializers.ChoiceField(choices=["json", "csv"], default="json")

    def validate(self, attrs: dict) -> dict:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": _("Give an end after the start.")})
        return attrs


class StatsLineSerializer(serializers.Serializer):
    groups = serializers.IntegerField()
    questions = serializers.IntegerField()
    answered = serializers.IntegerField()
    p50_seconds = serializers.FloatField(allow_null=True, help_text="First asked → answered.")
    p90_seconds = serializers.FloatField(allow_null=True)
    p99_seconds = serializers.FloatField(allow_null=True)
    sla_met = serializers.IntegerField()
    sla_missed = serializers.IntegerField()
    sla_hit_rate = serializers.FloatField(allow_null=True, help_text="met / (met + missed)")


class StatsTotalSerializer(StatsLineSerializer):
    open_now = serializers.IntegerField()
    with_host_now = serializers.IntegerField()


class StatsStreamSerializer(StatsTotalSerializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class StatsAgentSerializer(StatsLineSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    holding_now = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total = StatsTotalSerializer()
    streams = StatsStreamSerializer(many=True)
    agents = StatsAgentSerializer(many=True)
