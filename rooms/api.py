"""REST API of the rooms app: tokens, streams, a stream's event log, and the ingest webhook."""

import logging
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, status
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from . import eventlog, ingest, selectors, services
from .auth import ApiTokenAuthentication, SignInGuard
from .models import ApiToken
from .serializers import (
    AuthTokenRequestSerializer,
    AuthTokenResponseSerializer,
    EventPageQuerySerializer,
    EventPageSerializer,
    IngestBatchSerializer,
    IngestErrorSerializer,
    IngestReceiptSerializer,
    StreamSerializer,
)

logger = logging.getLogger(__name__)


class AuthTokenApi(APIView):
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
        guard = SignInGuard(
            username=form.validated_data["username"], address=request.META.get("REMOTE_ADDR")
        )
        if guard.locked():
            raise Throttled(
                wait=SignInGuard.WINDOW_SECONDS, detail="Too many failed sign-ins; try again later."
            )
        user = authenticate(
            request._request,
            username=form.validated_data["username"],
            password=form.validated_data["password"],
        )
        if user is None:
            guard.failed()
            raise AuthenticationFailed("Unknown username or wrong password.")
        guard.succeeded()
        return Response({"token": services.api_token_issue(user=user)})

    @extend_schema(
        request=None,
        responses={204: None},
        summary="Revoke the token this request is authenticated with",
    )
    def delete(self, request: Request) -> Response:
        token = request.auth
        if not isinstance(token, ApiToken):
            raise AuthenticationFailed("Send the token to revoke as Authorization: Token <token>.")
        services.api_token_revoke(actor=request.user, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get_authenticators(self):
        # Signing in needs no credentials; revoking needs the token being revoked.
        if self.request is not None and self.request.method == "DELETE":
            return [ApiTokenAuthentication()]
        return []

    def get_permissions(self):
        if self.request is not None and self.request.method == "DELETE":
            return [IsAuthenticated()]
        return [AllowAny()]


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
            OpenApiParameter("after", int, description="Events after this id (0: from the start)."),
            OpenApiParameter("tail", int, description="Instead of after: the newest N events."),
            OpenApiParameter("limit", int, description="With after: at most this many (1–5,000)."),
        ],
        responses={200: EventPageSerializer},
        summary="Events of a stream after a given id, or its newest events",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = get_object_or_404(selectors.stream_list_for_user(request.user), pk=pk)
        query = EventPageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data.get("tail") is not None:
            found = eventlog.tail(stream.pk, limit=query.validated_data["tail"])
        else:
            found = eventlog.page(
                stream.pk, query.validated_data["after"], limit=query.validated_data["limit"]
            )
        return Response({"events": found.events, "head": found.head, "resync": found.resync})


class IngestEventsApi(APIView):
    """The platform ingest webhook. Public contract: see the README."""

    authentication_classes = []
    permission_classes = [AllowAny]
    # The body is read raw (it is signed as sent); this only shapes the documented content type.
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Receive a signed batch of platform events",
        description=(
            "Headers: `X-MCN-Channel` (channel key), `X-MCN-Timestamp` (unix seconds, within "
            "300 s of server time), `X-MCN-Signature: v1=<hex HMAC-SHA256(secret, "
            '"<timestamp>.<raw body>")>` (several `v1=` values comma-separated while a secret '
            'is rotated). Body: `{"events": [...]}`, at most 1,000 events. Answers 202 once '
            "the events are durably stored; a redelivered event id counts as a duplicate."
        ),
        request=IngestBatchSerializer,
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
        except DataError as exc:
            return Response({"error": f"a value could not be stored: {exc}".strip()}, status=400)
        except (OperationalError, InterfaceError):
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
