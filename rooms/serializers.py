from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from . import ingest
from .models import Stream


class AuthTokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class AuthTokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")


class StreamSerializer(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="key", read_only=True)
    platform = serializers.CharField(source="channel.platform", read_only=True)
    studio = serializers.CharField(source="studio.name", read_only=True)
    time_zone = serializers.CharField(source="studio.time_zone", read_only=True)

    class Meta:
        model = Stream
        fields = [
            "id",
            "title",
            "status",
            "channel",
            "platform",
            "studio",
            "time_zone",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
        ]


class EventSerializer(serializers.Serializer):
    """One event of a stream's log: the same shape as over the websocket."""

    id = serializers.IntegerField(help_text="Strictly increasing, gapless, per stream.")
    stream = serializers.IntegerField()
    type = serializers.CharField()
    op = serializers.CharField()
    at = serializers.DateTimeField()
    data = serializers.DictField()


class EventPageQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=5000, default=1000)
    tail = serializers.IntegerField(min_value=1, max_value=5000, required=False)


class EventPageSerializer(serializers.Serializer):
    events = EventSerializer(many=True)
    head = serializers.IntegerField(help_text="The stream's last event id.")
    resync = serializers.BooleanField(
        help_text="True when events after `after` were pruned: reload the snapshot."
    )


# --- Ingest webhook (documentation of the public contract; parsing is rooms.ingest) -------


class _PlatformEventBase(serializers.Serializer):
    id = serializers.CharField(max_length=128, help_text="The platform's event id; dedupe key.")
    at = serializers.DateTimeField(help_text="ISO 8601 with a UTC offset.")


def _doc_field(spec: ingest.Field) -> serializers.Field:
    if spec.kind == "text":
        return serializers.CharField()
    if spec.kind == "count":
        return serializers.IntegerField(min_value=0)
    if spec.kind == "money":
        return serializers.DecimalField(max_digits=18, decimal_places=4, min_value=0)
    return serializers.ChoiceField(choices=spec.choices)


# Built from rooms.ingest.FIELDS, so the OpenAPI document cannot drift from the parser.
INGEST_EVENT_SERIALIZERS = {
    event_type: type(
        "".join(part.title() for part in event_type.split("_")) + "Event",
        (_PlatformEventBase,),
        {
            "type": serializers.ChoiceField(choices=[event_type]),
            **{name: _doc_field(spec) for name, spec in fields.items()},
        },
    )
    for event_type, fields in ingest.FIELDS.items()
}


class IngestBatchSerializer(serializers.Serializer):
    """The webhook body: `{"events": [...]}`, each event one of the types above."""

    events = PolymorphicProxySerializer(
        component_name="PlatformEvent",
        serializers=list(INGEST_EVENT_SERIALIZERS.values()),
        resource_type_field_name="type",
        many=True,
        help_text="Up to 1,000 events.",
    )


class IngestReceiptSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored by this request.")
    duplicates = serializers.IntegerField(help_text="Events already stored (redeliveries).")
    unknown_types = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Accepted events of types the console does not handle yet, by type.",
    )


class IngestErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
