"""REST API of the rooms app: tokens, streams, a stream's event log, and the ingest webhook."""

import logging
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import generics, status
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from . import eventlog, ingest, selectors, services
from .serializers import (
    INGEST_EVENT_SERIALIZERS,
    AuthTokenRequestSerializer,
    AuthTokenResponseSerializer,
    EventPageSerializer,
    IngestErrorSerializer,
    IngestReceiptSerializer,
    StreamSerializer,
)

logger = logging.getLogger(__name__)


class AuthTokenApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        request=AuthTokenRequestSerializer,
        responses={200: AuthTokenResponseSerializer},
        summary="Exchange a username and password for an API token",
    )
    def post(self, request: Request) -> Response:
        form = AuthTokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=form.validated_data["username"],
            password=form.validated_data["password"],
        )
        if user is None:
            raise AuthenticationFailed("Unknown username or wrong password.")
        return Response({"token": services.api_token_issue(user=user)})


class StreamListApi(generics.ListAPIView):
    serializer_class = StreamSerializer

    def get_queryset(self):
        return selectors.stream_list_for_user(self.request.user).order_by("-planned_start")


class StreamDetailApi(generics.RetrieveAPIView):
    serializer_class = StreamSerializer

    def get_queryset(self):
        return selectors.stream_list_for_user(self.request.user)


class StreamEventsApi(APIView):
    """A page of a stream's event log: the snapshot a screen loads before it connects."""

    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Last event id held; 0 for all."),
            OpenApiParameter("limit", int, description="At most this many (1 to 5,000)."),
        ],
        responses={200: EventPageSerializer},
        summary="Events of a stream after a given id",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = get_object_or_404(selectors.stream_list_for_user(request.user), pk=pk)
        try:
            after = int(request.query_params.get("after", 0))
            limit = int(request.query_params.get("limit", 1000))
        except ValueError:
            raise ValidationError({"after": "after and limit must be whole numbers"}) from None
        if after < 0 or not 1 <= limit <= 5000:
            raise ValidationError({"limit": "after must be ≥ 0 and limit between 1 and 5,000"})
        resumable, head = eventlog.can_resume(stream.pk, after)
        events = eventlog.read_after(stream.pk, after, limit=limit) if resumable else []
        return Response({"events": events, "head": head, "resync": not resumable})


class IngestEventsApi(APIView):
    """The platform ingest webhook. Public contract: see the README."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Receive a signed batch of platform events",
        description=(
            "Headers: `X-MCN-Channel` (channel key), `X-MCN-Timestamp` (unix seconds, within "
            "300 s of server time), `X-MCN-Signature: v1=<hex HMAC-SHA256(secret, "
            '"<timestamp>.<raw body>")>` (several `v1=` values comma-separated while a secret '
            'is rotated). Body: `{"events": [...]}`, at most 1,000 events. Answers 202 once '
            "the events are durably stored; a redelivered event id counts as a duplicate."
        ),
        request=PolymorphicProxySerializer(
            component_name="PlatformEvent",
            serializers=list(INGEST_EVENT_SERIALIZERS.values()),
            resource_type_field_name="type",
            many=True,
        ),
        parameters=[
            OpenApiParameter("X-MCN-Channel", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-MCN-Timestamp", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-MCN-Signature", str, OpenApiParameter.HEADER, required=True),
        ],
        responses={
            202: IngestReceiptSerializer,
            400: OpenApiResponse(IngestErrorSerializer, description="Malformed; says why."),
            401: OpenApiResponse(IngestErrorSerializer, description="Bad or stale signature."),
            503: OpenApiResponse(IngestErrorSerializer, description="Storage unavailable."),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            channel = self._verified_channel(request)
            events = ingest.parse_batch(request.body, max_events=settings.MCN_INGEST_MAX_EVENTS)
            receipt = services.ingest_receive(channel=channel, events=events)
        except ingest.IngestRejected as rejected:
            return Response({"error": rejected.reason}, status=rejected.status)
        except RequestDataTooBig:
            limit = settings.MCN_INGEST_MAX_BODY_BYTES
            return Response({"error": f"body larger than {limit} bytes"}, status=400)
        except DatabaseError:
            logger.exception("ingest: storage unavailable")
            return Response(
                {"error": "storage unavailable; retry later"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "5"},
            )
        return Response(
            {
                "accepted": receipt.accepted,
                "duplicates": receipt.duplicates,
                "unknown_types": receipt.unknown_types,
            },
            status=status.HTTP_202_ACCEPTED,
        )

    def _verified_channel(self, request: Request):
        key = request.headers.get("X-MCN-Channel", "")
        channel = selectors.channel_by_key(key) if key else None
        if channel is None:
            raise ingest.IngestRejected(401, "unknown channel")
        ingest.verify_signature(
            secrets=selectors.channel_active_secrets(channel),
            timestamp=request.headers.get("X-MCN-Timestamp"),
            signature=request.headers.get("X-MCN-Signature"),
            body=request.body,
            now=time.time(),
            max_skew=settings.MCN_INGEST_MAX_SKEW_SECONDS,
        )
        return channel
