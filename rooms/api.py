"""REST API of the rooms app: tokens, planning (studios, channels, streams, crews, lineups,
templates, availability), a stream's event log, and the ingest webhook."""

import logging
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView, exception_handler, set_rollback

from . import eventlog, ingest, lineup_import, readiness, schedule, selectors, services
from . import show as show_data
from .auth import (
    ApiTokenAuthentication,
    ScreenTokenAuthentication,
    SignInGuard,
    set_screen_cookie,
)
from .models import ApiToken, Channel, ShowCue, StreamTemplate, User
from .serializers import (
    ApiErrorSerializer,
    AuthTokenRequestSerializer,
    AuthTokenResponseSerializer,
    ChannelCreatedSerializer,
    ChannelRequestSerializer,
    ChannelSerializer,
    ChannelUpdateRequestSerializer,
    CrewAssignmentSerializer,
    CrewAssignRequestSerializer,
    CueAdvanceRequestSerializer,
    CueCallRequestSerializer,
    EventPageQuerySerializer,
    EventPageSerializer,
    IngestBatchSerializer,
    IngestErrorSerializer,
    IngestReceiptSerializer,
    LineupImportRequestSerializer,
    LineupItemSerializer,
    LineupOrderRequestSerializer,
    LineupSetApplyRequestSerializer,
    LineupSetDetailSerializer,
    LineupSetRequestSerializer,
    LineupSetSerializer,
    LiveSnapshotSerializer,
    OccurrenceSerializer,
    PairingApproveRequestSerializer,
    PairingStartSerializer,
    PairingTokenRequestSerializer,
    ReadinessOverrideRequestSerializer,
    ReadinessOverrideSerializer,
    ReadinessSerializer,
    ScreenTokenSerializer,
    ShowMoveRequestSerializer,
    ShowPresenceRequestSerializer,
    StreamCreateRequestSerializer,
    StreamPlanRequestSerializer,
    StreamSerializer,
    StreamSummarySerializer,
    StreamTransitionRequestSerializer,
    StudioRequestSerializer,
    StudioSerializer,
    TemplatePreviewRequestSerializer,
    TemplateRequestSerializer,
    TemplateSerializer,
    TemplateStreamsRequestSerializer,
    TimeOffRequestSerializer,
    TimeOffSerializer,
    WorkingHoursSerializer,
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


# --- Planning ------------------------------------------------------------------------------


def planning_exception_handler(exc: Exception, context: dict) -> Response | None:
    """One error shape for the planning endpoints: `{"detail", "code", ...}`.

    Clashes and availability warnings are conflicts with existing plans (409) that name what
    is in the way; bad lineup rows name their row and column; any other refusal by a
    service is a 400 with its messages.
    """
    if isinstance(exc, services.BookingClash):
        return _error(
            exc.messages[0],
            "clash",
            status.HTTP_409_CONFLICT,
            clashes=[clash.as_dict() for clash in exc.clashes],
        )
    if isinstance(exc, services.AvailabilityWarning):
        return _error(
            exc.messages[0], "availability", status.HTTP_409_CONFLICT, warnings=exc.problems
        )
    if isinstance(exc, services.ShowConflict):
        return _error(exc.messages[0], "conflict", status.HTTP_409_CONFLICT, current=exc.current)
    if isinstance(exc, services.LineupRowsInvalid):
        return _error(
            exc.messages[0],
            "rows",
            status.HTTP_400_BAD_REQUEST,
            errors=[
                {"row": e.row, "column": e.column, "message": e.message} for e in exc.row_errors
            ],
        )
    if isinstance(exc, DjangoValidationError):
        # A booking that lost a race to a concurrent one (`services._save_bookings`).
        if getattr(exc, "code", None) == "clash":
            return _error(exc.messages[0], "clash", status.HTTP_409_CONFLICT, clashes=[])
        extra = {"messages": exc.messages}
        if hasattr(exc, "error_dict"):
            extra["fields"] = {
                (api_settings.NON_FIELD_ERRORS_KEY if name == "__all__" else name): messages
                for name, messages in exc.message_dict.items()
            }
        # A single refusal may say what kind it is (`not_ready` to go live, say).
        code = getattr(exc, "code", None) or "invalid"
        return _error(exc.messages[0], code, status.HTTP_400_BAD_REQUEST, **extra)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = response.data
        if not isinstance(fields, dict):
            fields = {api_settings.NON_FIELD_ERRORS_KEY: fields}
        response.data = {"detail": _first_message(fields), "code": "invalid", "fields": fields}
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data = {"detail": str(detail), "code": getattr(detail, "code", "error")}
    return response


def _error(detail: str, code: str, status_code: int, **extra) -> Response:
    set_rollback()
    return Response({"detail": detail, "code": code, **extra}, status=status_code)


def _first_message(errors: object) -> str:
    if isinstance(errors, dict):
        errors = list(errors.values())
    if isinstance(errors, list):
        for error in errors:
            found = _first_message(error)
            if found:
                return found
        return ""
    return str(errors)


class PlanningApi:
    """Mixed into every planning endpoint: errors in the shape of `ApiErrorSerializer`."""

    def get_exception_handler(self):
        return planning_exception_handler


ERRORS = {
    400: OpenApiResponse(ApiErrorSerializer, description="Bad input (`invalid`, `rows`)."),
    403: OpenApiResponse(ApiErrorSerializer, description="Not allowed to do this."),
    404: OpenApiResponse(ApiErrorSerializer, description="Not found, or not visible to you."),
}
CONFLICTS = {
    409: OpenApiResponse(
        ApiErrorSerializer,
        description="A studio or person is already booked (`clash`, with `clashes`), or "
        "the person may not be available (`availability`, with `warnings`).",
    ),
}


def _stream(request: Request, pk: int):
    return get_object_or_404(selectors.stream_list_for_user(request.user), pk=pk)


def _person(request: Request, pk: int) -> User:
    """A person whose schedule the requester may see; anyone else is not found."""
    person = get_object_or_404(User, pk=pk)
    if not request.user.has_perm("rooms.view_person_schedule", person):
        raise Http404
    return person


def _stream_response(stream, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(StreamSerializer(stream).data, status=status_code)


def _lineup_response(stream) -> Response:
    return Response(LineupItemSerializer(stream.lineup.order_by("position"), many=True).data)


# --- Studios and channels


class StudioListApi(PlanningApi, generics.ListAPIView):
    serializer_class = StudioSerializer

    def get_queryset(self):
        return selectors.studios_for_user(self.request.user).prefetch_related("members")

    @extend_schema(summary="Studios you are a member of (all, for superusers)")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=StudioRequestSerializer,
        responses={201: StudioSerializer} | ERRORS,
        summary="Set up a studio; you become one of its members",
    )
    def post(self, request: Request) -> Response:
        form = StudioRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        studio = services.studio_create(actor=request.user, **form.validated_data)
        return Response(StudioSerializer(studio).data, status=status.HTTP_201_CREATED)


class StudioDetailApi(PlanningApi, APIView):
    @extend_schema(
        request=StudioRequestSerializer,
        responses={200: StudioSerializer} | ERRORS,
        summary="Rename a studio, change its time zone or its members",
    )
    def patch(self, request: Request, pk: int) -> Response:
        studio = get_object_or_404(selectors.studios_for_user(request.user), pk=pk)
        form = StudioRequestSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        studio = services.studio_update(actor=request.user, studio=studio, **form.validated_data)
        return Response(StudioSerializer(studio).data)

    @extend_schema(
        request=None,
        responses={204: None} | ERRORS,
        summary="Delete a studio that has no streams",
    )
    def delete(self, request: Request, pk: int) -> Response:
        studio = get_object_or_404(selectors.studios_for_user(request.user), pk=pk)
        services.studio_delete(actor=request.user, studio=studio)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelListApi(PlanningApi, generics.ListAPIView):
    serializer_class = ChannelSerializer
    queryset = Channel.objects.order_by("name")

    @extend_schema(summary="Every channel (never its ingest secrets)")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ChannelRequestSerializer,
        responses={201: ChannelCreatedSerializer} | ERRORS,
        summary="Add a channel; the answer holds its ingest secret, this once",
    )
    def post(self, request: Request) -> Response:
        form = ChannelRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        channel, secret = services.channel_create(actor=request.user, **form.validated_data)
        return Response(
            {**ChannelSerializer(channel).data, "ingest_secret": secret},
            status=status.HTTP_201_CREATED,
        )


class ChannelDetailApi(PlanningApi, APIView):
    @extend_schema(
        request=ChannelUpdateRequestSerializer,
        responses={200: ChannelSerializer} | ERRORS,
        summary="Change a channel's name, platform, currency or time zone (not its key)",
    )
    def patch(self, request: Request, pk: int) -> Response:
        channel = get_object_or_404(Channel, pk=pk)
        form = ChannelUpdateRequestSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        channel = services.channel_update(
            actor=request.user, channel=channel, **form.validated_data
        )
        return Response(ChannelSerializer(channel).data)

    @extend_schema(
        request=None,
        responses={204: None} | ERRORS,
        summary="Delete a channel that has no streams and no platform events",
    )
    def delete(self, request: Request, pk: int) -> Response:
        channel = get_object_or_404(Channel, pk=pk)
        services.channel_delete(actor=request.user, channel=channel)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Streams


class StreamListApi(PlanningApi, generics.ListAPIView):
    serializer_class = StreamSerializer

    def get_queryset(self):
        return selectors.streams_with_crew_for_user(self.request.user).order_by("-planned_start")

    @extend_schema(summary="Streams you may see, newest first")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=StreamCreateRequestSerializer,
        responses={201: StreamSerializer} | ERRORS | CONFLICTS,
        summary="Plan a stream; the studio must be free, set-up and teardown included",
    )
    def post(self, request: Request) -> Response:
        form = StreamCreateRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        stream = services.stream_create(actor=request.user, **form.validated_data)
        return _stream_response(stream, status.HTTP_201_CREATED)


class StreamDetailApi(PlanningApi, generics.RetrieveAPIView):
    serializer_class = StreamSerializer

    def get_queryset(self):
        return selectors.streams_with_crew_for_user(self.request.user)

    @extend_schema(
        request=StreamPlanRequestSerializer,
        responses={200: StreamSerializer} | ERRORS | CONFLICTS,
        summary="Change a stream's plan: reschedule (its crew moves along), retitle, move",
    )
    def patch(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = StreamPlanRequestSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        stream = services.stream_update(actor=request.user, stream=stream, **form.validated_data)
        return _stream_response(stream)

    @extend_schema(responses={204: None} | ERRORS, summary="Delete a stream that has not gone live")
    def delete(self, request: Request, pk: int) -> Response:
        services.stream_delete(actor=request.user, stream=_stream(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class StreamTransitionApi(PlanningApi, APIView):
    @extend_schema(
        request=StreamTransitionRequestSerializer,
        responses={200: StreamSerializer} | ERRORS,
        summary="Move a stream along draft → scheduled → live → ended → reviewed",
        description="Going live needs a complete readiness checklist or an override.",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = StreamTransitionRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        stream = services.stream_transition(
            actor=request.user, stream=stream, to=form.validated_data["to"]
        )
        return _stream_response(stream)


class StreamReadinessApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: ReadinessSerializer} | ERRORS,
        summary="The checklist a stream must pass to go live, and any overrides",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        items = readiness.checklist(stream)
        return Response(
            ReadinessSerializer(
                {
                    "items": items,
                    "blocking": [item.key for item in readiness.uncovered(stream, items)],
                    "overrides": stream.readiness_overrides.select_related("by"),
                }
            ).data
        )


class StreamReadinessOverrideApi(PlanningApi, APIView):
    @extend_schema(
        request=ReadinessOverrideRequestSerializer,
        responses={201: ReadinessOverrideSerializer} | ERRORS,
        summary="Allow going live with the checklist incomplete, saying why",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = ReadinessOverrideRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        override = services.readiness_override(
            actor=request.user, stream=stream, reason=form.validated_data["reason"]
        )
        return Response(ReadinessOverrideSerializer(override).data, status=status.HTTP_201_CREATED)


# --- Crew


class StreamCrewApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: CrewAssignmentSerializer(many=True)} | ERRORS,
        summary="A stream's crew",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        crew = stream.crew.select_related("person").order_by("pk")
        return Response(CrewAssignmentSerializer(crew, many=True).data)

    @extend_schema(
        request=CrewAssignRequestSerializer,
        responses={201: CrewAssignmentSerializer} | ERRORS | CONFLICTS,
        summary="Put a person on the crew",
        description="A clash with another stream is a 409 `clash`; a day off or hours "
        "outside their usual ones a 409 `availability`, which `accept_availability: true` "
        "overrides (the warning is kept on the assignment).",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = CrewAssignRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        assignment = services.crew_assign(actor=request.user, stream=stream, **form.validated_data)
        return Response(CrewAssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)


class StreamCrewMemberApi(PlanningApi, APIView):
    @extend_schema(responses={204: None} | ERRORS, summary="Take a person off the crew")
    def delete(self, request: Request, pk: int, assignment_id: int) -> Response:
        assignment = get_object_or_404(_stream(request, pk).crew, pk=assignment_id)
        services.crew_unassign(actor=request.user, assignment=assignment)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Lineup


class StreamLineupApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: LineupItemSerializer(many=True)} | ERRORS,
        summary="A stream's lineup, in order",
    )
    def get(self, request: Request, pk: int) -> Response:
        return _lineup_response(_stream(request, pk))

    @extend_schema(
        request=LineupItemSerializer,
        responses={201: LineupItemSerializer} | ERRORS,
        summary="Add a product at the end of the lineup",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = LineupItemSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        item = services.lineup_item_add(actor=request.user, stream=stream, **form.validated_data)
        return Response(LineupItemSerializer(item).data, status=status.HTTP_201_CREATED)


class StreamLineupItemApi(PlanningApi, APIView):
    @extend_schema(
        request=LineupItemSerializer,
        responses={200: LineupItemSerializer} | ERRORS,
        summary="Change a product of the lineup",
    )
    def patch(self, request: Request, pk: int, item_id: int) -> Response:
        item = get_object_or_404(_stream(request, pk).lineup, pk=item_id)
        form = LineupItemSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        item = services.lineup_item_update(actor=request.user, item=item, **form.validated_data)
        return Response(LineupItemSerializer(item).data)

    @extend_schema(responses={204: None} | ERRORS, summary="Remove a product from the lineup")
    def delete(self, request: Request, pk: int, item_id: int) -> Response:
        item = get_object_or_404(_stream(request, pk).lineup, pk=item_id)
        services.lineup_item_remove(actor=request.user, item=item)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StreamLineupOrderApi(PlanningApi, APIView):
    @extend_schema(
        request=LineupOrderRequestSerializer,
        responses={200: LineupItemSerializer(many=True)} | ERRORS,
        summary="Put the lineup in a new order",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = LineupOrderRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.lineup_reorder(
            actor=request.user, stream=stream, item_ids=form.validated_data["items"]
        )
        return _lineup_response(stream)


class StreamLineupImportApi(PlanningApi, APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": LineupImportRequestSerializer},
        responses={200: LineupItemSerializer(many=True)} | ERRORS,
        summary="Replace the lineup with a .csv or .xlsx sheet",
        description="All or nothing: any bad cell is a 400 `rows` naming every bad cell by "
        "row and column, and the lineup is left as it was.",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = LineupImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        # One byte past the limit is enough for the parser to refuse the file.
        services.lineup_import_file(
            actor=request.user,
            stream=stream,
            filename=upload.name,
            content=upload.read(lineup_import.MAX_BYTES + 1),
        )
        return _lineup_response(stream)


class StreamLineupApplySetApi(PlanningApi, APIView):
    @extend_schema(
        request=LineupSetApplyRequestSerializer,
        responses={200: LineupItemSerializer(many=True)} | ERRORS,
        summary="Replace the lineup with a copy of a lineup set",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = LineupSetApplyRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.lineup_set_apply(
            actor=request.user, stream=stream, lineup_set=form.validated_data["lineup_set"]
        )
        return _lineup_response(stream)


class LineupSetListApi(PlanningApi, generics.ListAPIView):
    serializer_class = LineupSetSerializer

    def get_queryset(self):
        return selectors.lineup_sets_for_user(self.request.user).order_by("name")

    @extend_schema(summary="Reusable lineups")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=LineupSetRequestSerializer,
        responses={201: LineupSetDetailSerializer} | ERRORS,
        summary="Save a reusable lineup",
    )
    def post(self, request: Request) -> Response:
        form = LineupSetRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        lineup_set = services.lineup_set_save(
            actor=request.user,
            name=form.validated_data["name"],
            notes=form.validated_data["notes"],
            rows=form.validated_data["items"],
        )
        return Response(LineupSetDetailSerializer(lineup_set).data, status=status.HTTP_201_CREATED)


class LineupSetDetailApi(PlanningApi, generics.RetrieveAPIView):
    serializer_class = LineupSetDetailSerializer

    def get_queryset(self):
        return selectors.lineup_sets_for_user(self.request.user).prefetch_related("items")

    @extend_schema(summary="A reusable lineup and its products")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


# --- Templates


class TemplateListApi(PlanningApi, generics.ListAPIView):
    serializer_class = TemplateSerializer

    def get_queryset(self):
        return selectors.templates_for_user(self.request.user).order_by("studio__name", "name")

    @extend_schema(summary="Templates of your studios")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=TemplateRequestSerializer,
        responses={201: TemplateSerializer} | ERRORS,
        summary="Create a template for a recurring show",
    )
    def post(self, request: Request) -> Response:
        form = TemplateRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        template = services.template_save(actor=request.user, **_template_fields(form))
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateDetailApi(PlanningApi, generics.RetrieveAPIView):
    serializer_class = TemplateSerializer

    def get_queryset(self):
        return selectors.templates_for_user(self.request.user)

    @extend_schema(summary="A template")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=TemplateRequestSerializer,
        responses={200: TemplateSerializer} | ERRORS,
        summary="Replace a template's settings and crew slots",
    )
    def put(self, request: Request, pk: int) -> Response:
        template = self.get_object()
        form = TemplateRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        template = services.template_save(
            actor=request.user, template=template, **_template_fields(form)
        )
        return Response(TemplateSerializer(template).data)


def _template_fields(form: TemplateRequestSerializer) -> dict:
    fields = dict(form.validated_data)
    fields["slots"] = [(slot["role"], slot["person"]) for slot in fields["slots"]]
    return fields


# With no repeat rule: just the first day, converted from the studio's wall clock the same
# way as every occurrence of a rule.
def _occurrence_starts(template: StreamTemplate, form) -> list:
    return schedule.template_starts(
        template, first_day=form.validated_data["first_day"], rule=form.validated_data.get("rule")
    )


class TemplatePreviewApi(PlanningApi, APIView):
    @extend_schema(
        request=TemplatePreviewRequestSerializer,
        responses={200: OccurrenceSerializer(many=True)} | ERRORS,
        summary="What planning streams from a template would run into, saving nothing",
        description="Each occurrence with the studio and crew clashes it would have and the "
        "usual crew's availability warnings.",
    )
    def post(self, request: Request, pk: int) -> Response:
        template = get_object_or_404(selectors.templates_for_user(request.user), pk=pk)
        form = TemplatePreviewRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        found = selectors.template_preview(
            template=template, starts=_occurrence_starts(template, form)
        )
        return Response(
            OccurrenceSerializer(
                [
                    {
                        "starts": occurrence.starts,
                        "ends": occurrence.ends,
                        "clashes": [clash.as_dict() for clash in occurrence.clashes],
                        "warnings": occurrence.warnings,
                    }
                    for occurrence in found
                ],
                many=True,
            ).data
        )


class TemplateStreamsApi(PlanningApi, APIView):
    @extend_schema(
        request=TemplateStreamsRequestSerializer,
        responses={201: StreamSerializer(many=True)} | ERRORS | CONFLICTS,
        summary="Plan streams from a template, all or none",
        description="A clash on any occurrence plans none (409 `clash` listing them all); "
        "`skip` the starts the preview showed clashing.",
    )
    def post(self, request: Request, pk: int) -> Response:
        template = get_object_or_404(selectors.templates_for_user(request.user), pk=pk)
        form = TemplateStreamsRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        skip = set(form.validated_data["skip"])
        streams = services.streams_from_template(
            actor=request.user,
            template=template,
            starts=[start for start in _occurrence_starts(template, form) if start not in skip],
            title=form.validated_data.get("title"),
        )
        return Response(StreamSerializer(streams, many=True).data, status=status.HTTP_201_CREATED)


# --- Availability


class PersonWorkingHoursApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: WorkingHoursSerializer} | ERRORS,
        summary="A person's usual working hours",
    )
    def get(self, request: Request, pk: int) -> Response:
        person = _person(request, pk)
        return Response(
            WorkingHoursSerializer(
                {"time_zone": person.time_zone, "hours": person.working_hours.all()}
            ).data
        )

    @extend_schema(
        request=WorkingHoursSerializer,
        responses={200: WorkingHoursSerializer} | ERRORS,
        summary="Replace a person's usual working hours",
    )
    def put(self, request: Request, pk: int) -> Response:
        person = _person(request, pk)
        form = WorkingHoursSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        hours = services.working_hours_set(
            actor=request.user,
            person=person,
            hours=[schedule.Hours(**entry) for entry in form.validated_data["hours"]],
        )
        return Response(
            WorkingHoursSerializer({"time_zone": person.time_zone, "hours": hours}).data
        )


class PersonTimeOffApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: TimeOffSerializer(many=True)} | ERRORS, summary="A person's days off"
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(TimeOffSerializer(_person(request, pk).time_off.all(), many=True).data)

    @extend_schema(
        request=TimeOffRequestSerializer,
        responses={201: TimeOffSerializer} | ERRORS,
        summary="Record days off",
    )
    def post(self, request: Request, pk: int) -> Response:
        person = _person(request, pk)
        form = TimeOffRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        time_off = services.time_off_add(actor=request.user, person=person, **form.validated_data)
        return Response(TimeOffSerializer(time_off).data, status=status.HTTP_201_CREATED)


class PersonTimeOffDetailApi(PlanningApi, APIView):
    @extend_schema(responses={204: None} | ERRORS, summary="Remove days off")
    def delete(self, request: Request, pk: int, time_off_id: int) -> Response:
        time_off = get_object_or_404(_person(request, pk).time_off, pk=time_off_id)
        services.time_off_remove(actor=request.user, time_off=time_off)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- The live room


class ScreenOrUser(IsAuthenticated):
    """A signed-in person, or a paired screen (read-only)."""

    def has_permission(self, request: Request, view) -> bool:
        screen = isinstance(request.auth, selectors.ScreenIdentity)
        return screen or super().has_permission(request, view)


def _live_stream(request: Request, pk: int):
    if isinstance(request.auth, selectors.ScreenIdentity):
        stream = selectors.stream_get_for_screen(request.auth, pk)
        if stream is None:
            raise Http404
        return stream
    return _stream(request, pk)


class LiveSnapshotApi(PlanningApi, APIView):
    authentication_classes = [
        ApiTokenAuthentication,
        SessionAuthentication,
        ScreenTokenAuthentication,
    ]
    permission_classes = [ScreenOrUser]

    @extend_schema(
        responses={200: LiveSnapshotSerializer} | ERRORS,
        parameters=[
            OpenApiParameter(
                "only", str, enum=["panels"], description="Just the panels other apps add."
            )
        ],
        summary="The live picture of a stream: tiles, trend, markers, run-of-show",
        description="For the operator console, the crew's follow screens and wall screens "
        "(a paired screen reads its own studio's streams with `Authorization: Screen <token>`).",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = _live_stream(request, pk)
        if request.query_params.get("only") == "panels":
            # What screens re-read when another app's events say its panel changed.
            return Response({"panels": selectors.live_panels(stream)})
        return Response(selectors.live_snapshot(stream))


def _show_response(stream) -> Response:
    return Response(selectors.show_snapshot(stream))


class ShowMoveApi(PlanningApi, APIView):
    @extend_schema(
        request=ShowMoveRequestSerializer,
        responses={200: OpenApiTypes.OBJECT} | ERRORS | CONFLICTS,
        summary="Advance or step back the run-of-show",
        description="409 `conflict` (with `current`) when another console moved it first.",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = ShowMoveRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.show_move(actor=request.user, stream=stream, **form.validated_data)
        return _show_response(stream)


class ShowPresenceApi(PlanningApi, APIView):
    @extend_schema(
        request=ShowPresenceRequestSerializer,
        responses={204: None} | ERRORS,
        summary="The operator console is open (every 10 s), or closing",
        description="Crew screens show when the console has gone quiet for 30 s.",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = ShowPresenceRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        services.show_operator_seen(actor=request.user, stream=stream, **form.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CueListApi(PlanningApi, APIView):
    @extend_schema(
        request=CueCallRequestSerializer,
        responses={201: OpenApiTypes.OBJECT} | ERRORS,
        summary="Call a cue to standby (a script cue by key, or an ad hoc one), or fire it",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = CueCallRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        cue = services.cue_call(actor=request.user, stream=stream, **form.validated_data)
        return Response(show_data.cue_data(cue), status=status.HTTP_201_CREATED)


class CueAdvanceApi(PlanningApi, APIView):
    @extend_schema(
        request=CueAdvanceRequestSerializer,
        responses={200: OpenApiTypes.OBJECT} | ERRORS | CONFLICTS,
        summary="GO, confirm or cancel a cue",
        description="409 `conflict` (with `current`) when another console got there first; "
        "400 `pin_limit` when three products are pinned already.",
    )
    def post(self, request: Request, pk: int, cue_id: int) -> Response:
        stream = _stream(request, pk)
        cue = get_object_or_404(ShowCue, pk=cue_id, stream=stream)
        form = CueAdvanceRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        cue = services.cue_advance(actor=request.user, cue=cue, **form.validated_data)
        return Response(show_data.cue_data(cue))


# --- Screen pairing (RFC 8628 style)


class PairingStartApi(PlanningApi, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        request=None,
        responses={201: PairingStartSerializer},
        summary="A screen asks to be paired: a device code to keep, a user code to show",
    )
    def post(self, request: Request) -> Response:
        device_code, pairing = services.screen_pairing_start()
        return Response(
            {
                "device_code": device_code,
                "user_code": pairing.user_code,
                "verification_uri": request.build_absolute_uri("/screens/pair/"),
                "expires_in": int(services.PAIRING_LIFETIME.total_seconds()),
                "interval": services.PAIRING_POLL_SECONDS,
            },
            status=status.HTTP_201_CREATED,
        )


class PairingTokenApi(PlanningApi, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=PairingTokenRequestSerializer,
        responses={200: OpenApiTypes.OBJECT} | ERRORS,
        summary="The screen collects its token once the code was entered",
        description="400 with `code` `authorization_pending` (keep polling), `slow_down`, "
        "`expired_token` or `invalid_grant`. On success the token is returned and also set "
        "as the screen's cookie.",
    )
    def post(self, request: Request) -> Response:
        form = PairingTokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            raw, token = services.screen_pairing_collect(
                device_code=form.validated_data["device_code"]
            )
        except services.PairingPending as pending:
            code = "slow_down" if pending.slow_down else "authorization_pending"
            return _error("Waiting for the code to be entered.", code, status.HTTP_400_BAD_REQUEST)
        response = Response(
            {"token": raw, "studio": token.studio_id, "expires_at": token.expires_at},
        )
        set_screen_cookie(response, raw, token.expires_at)
        return response


class PairingApproveApi(PlanningApi, APIView):
    @extend_schema(
        request=PairingApproveRequestSerializer,
        responses={200: OpenApiTypes.OBJECT} | ERRORS,
        summary="Enter the code a screen shows, to pair it with one of your studios",
    )
    def post(self, request: Request) -> Response:
        form = PairingApproveRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        studio = get_object_or_404(
            selectors.studios_for_user(request.user), pk=form.validated_data["studio"]
        )
        pairing = services.screen_pairing_approve(
            actor=request.user,
            user_code=form.validated_data["code"],
            studio=studio,
            name=form.validated_data["name"],
            lifetime=services.SCREEN_TOKEN_LIFETIMES[form.validated_data["lifetime"]],
        )
        return Response({"code": pairing.user_code, "studio": studio.pk, "name": pairing.name})


class ScreenTokenListApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: ScreenTokenSerializer(many=True)},
        summary="Paired screens of the studios you may pair screens for",
    )
    def get(self, request: Request) -> Response:
        tokens = selectors.screen_tokens_for_user(request.user)
        return Response(ScreenTokenSerializer(tokens, many=True).data)


class ScreenTokenRevokeApi(PlanningApi, APIView):
    @extend_schema(
        request=None,
        responses={204: None} | ERRORS,
        summary="Unpair a screen: its socket is closed within a heartbeat",
    )
    def delete(self, request: Request, pk: int) -> Response:
        token = get_object_or_404(selectors.screen_tokens_for_user(request.user), pk=pk)
        services.screen_token_revoke(actor=request.user, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- After the stream


class StreamSummaryApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: StreamSummarySerializer} | ERRORS,
        summary="The post-stream summary (复盘): GMV and GPM per segment and per product",
        description="Totals, peak and average viewers, each segment against its plan, each "
        "product's sales and refunds, and the cue log. Money as strings in `currency`; while "
        "the stream is live, the numbers so far.",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        return Response(StreamSummarySerializer(selectors.stream_summary(stream)).data)
