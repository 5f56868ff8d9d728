"""REST API of ad boosts, under /api/v1/ads/: a stream's board (cards, campaigns, kill
switches, executions); decision cards accepted, edited, rejected and approved; kill
switches; a stream's executions with their audit trail.

Errors take the planning endpoints' shape (`rooms.api.PlanningApi`). A card changed by
someone else first is a 409 `conflict` carrying the card as it now stands (`current`); a
boost a guardrail stops is a 400 `guardrail` whose `detail` is the reason.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from rooms.api import ERRORS, PlanningApi, planning_exception_handler
from rooms.models import Stream
from rooms.serializers import ApiErrorSerializer

from . import selectors, services
from .events import decision_data
from .models import AdAccount, BoostDecision, Campaign, StreamKillSwitch
from .serializers import (
    AcceptRequestSerializer,
    ApproveRequestSerializer,
    BoardSerializer,
    DecisionSerializer,
    ExecutionSerializer,
    KillSwitchRequestSerializer,
    KillSwitchSerializer,
    RejectRequestSerializer,
    StreamKillSwitchesSerializer,
)

CONFLICT = {
    409: OpenApiResponse(
        ApiErrorSerializer,
        description="`conflict`: someone else accepted, rejected or approved the card first, "
        "or it changed since your screen showed it; `current` is the card now.",
    )
}
DECIDE_ERRORS = ERRORS | {
    400: OpenApiResponse(
        ApiErrorSerializer,
        description="`guardrail`: a limit stops the boost (a cap, the daily change quota, "
        "the minimum step, the cool-down, active hours, a kill switch); `detail` says which. "
        "`same_person`: the person who accepted a boost cannot approve it. `invalid`.",
    )
}


def ads_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, services.DecisionConflict):
        set_rollback()
        return Response(
            {"detail": exc.messages[0], "code": "conflict", "current": exc.current},
            status=status.HTTP_409_CONFLICT,
        )
    return planning_exception_handler(exc, context)


class AdsApi(PlanningApi):
    def get_exception_handler(self):
        return ads_exception_handler


def _form(serializer_class, data) -> dict:
    form = serializer_class(data=data)
    form.is_valid(raise_exception=True)
    return form.validated_data


def _decision(request: Request, pk: int) -> BoostDecision:
    decision = selectors.decision_get_for_user(request.user, pk)
    if decision is None:
        raise Http404
    return decision


def _stream(request: Request, pk: int) -> Stream:
    stream = selectors.stream_get_for_boosts(request.user, pk)
    if stream is None:
        raise Http404
    return stream


def _switch_data(switch: StreamKillSwitch | None, stopped: list[int]) -> dict:
    return {
        "killed": bool(switch and switch.killed),
        "changed_by": switch.changed_by.username if switch and switch.changed_by_id else None,
        "changed_at": switch.changed_at.isoformat() if switch else None,
        "stopped": stopped,
    }


# --- Decision cards --------------------------------------------------------------------------


class StreamBoardApi(AdsApi, APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "parts",
                str,
                description="Comma-separated: cards, campaigns, kill_switch, executions "
                "(default: all). `head` and `server_now` always come.",
            )
        ],
        responses={200: BoardSerializer} | ERRORS,
        summary="A stream's decision cards, campaigns, kill switches and executions",
        description="What the ad buyer's screen loads, and reloads on a websocket `resync`: "
        "read after the event log's `head`, so every change since arrives as an event "
        '("boost", "kill_switch", "ad_metrics").',
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        asked = request.query_params.get("parts")
        parts = (
            frozenset(asked.split(",")) & selectors.BOARD_PARTS if asked else selectors.BOARD_PARTS
        )
        return Response(selectors.buyer_board(request.user, stream, parts=parts))


class DecisionAcceptApi(AdsApi, APIView):
    @extend_schema(
        request=AcceptRequestSerializer,
        responses={200: DecisionSerializer} | DECIDE_ERRORS | CONFLICT,
        summary="Accept a card, as proposed or with another amount",
        description="Above its rule's threshold the card waits for an ad approver "
        "(`awaiting_approval`); otherwise it is `approved` and its execution is sent at once. "
        'Follow it on the stream\'s websocket: "boost" events carry the whole card.',
    )
    def post(self, request: Request, pk: int) -> Response:
        decision = _decision(request, pk)
        form = _form(AcceptRequestSerializer, request.data)
        decision = services.decision_accept(
            actor=request.user,
            decision=decision,
            seen_version=form["seen_version"],
            edited_amount=form.get("amount"),
            note=form["note"],
        )
        return Response(decision_data(decision))


class DecisionRejectApi(AdsApi, APIView):
    @extend_schema(
        request=RejectRequestSerializer,
        responses={200: DecisionSerializer} | ERRORS | CONFLICT,
        summary="Reject a card (an approver may reject one waiting for them)",
    )
    def post(self, request: Request, pk: int) -> Response:
        decision = _decision(request, pk)
        form = _form(RejectRequestSerializer, request.data)
        decision = services.decision_reject(
            actor=request.user,
            decision=decision,
            seen_version=form["seen_version"],
            note=form["note"],
        )
        return Response(decision_data(decision))


class DecisionApproveApi(AdsApi, APIView):
    @extend_schema(
        request=ApproveRequestSerializer,
        responses={200: DecisionSerializer} | DECIDE_ERRORS | CONFLICT,
        summary="Approve a card above its rule's threshold (ad approvers; not the buyer "
        "who accepted it)",
    )
    def post(self, request: Request, pk: int) -> Response:
        decision = _decision(request, pk)
        form = _form(ApproveRequestSerializer, request.data)
        decision = services.decision_approve(
            actor=request.user, decision=decision, seen_version=form["seen_version"]
        )
        return Response(decision_data(decision))


# --- Kill switches ---------------------------------------------------------------------------


class StreamKillSwitchApi(AdsApi, APIView):
    @extend_schema(
        responses={200: StreamKillSwitchesSerializer} | ERRORS,
        summary="The stream's kill switch, and those of its campaigns' ad accounts",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        switch = StreamKillSwitch.objects.filter(stream=stream).select_related("changed_by")
        accounts = AdAccount.objects.filter(
            pk__in=Campaign.objects.filter(stream=stream).values("account_id")
        ).order_by("pk")
        return Response(
            {
                "stream": _switch_data(switch.first(), []),
                "accounts": [
                    {"id": account.pk, "name": account.name, "killed": account.killed}
                    for account in accounts
                ],
            }
        )

    @extend_schema(
        request=KillSwitchRequestSerializer,
        responses={200: KillSwitchSerializer} | ERRORS,
        summary="Turn the stream's kill switch on or off",
        description="On, it stops every boost of the stream not yet sent (listed in "
        "`stopped`); nothing more is sent until it is off.",
    )
    def put(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        form = _form(KillSwitchRequestSerializer, request.data)
        switch, stopped = services.stream_kill_switch_set(
            actor=request.user, stream=stream, killed=form["killed"]
        )
        return Response(_switch_data(switch, stopped))


class AccountKillSwitchApi(AdsApi, APIView):
    @extend_schema(
        request=KillSwitchRequestSerializer,
        responses={200: KillSwitchSerializer} | ERRORS,
        summary="Turn an ad account's kill switch on or off",
        description="On, it stops every boost of the account's campaigns not yet sent, "
        "whatever the stream.",
    )
    def put(self, request: Request, pk: int) -> Response:
        account = get_object_or_404(AdAccount, pk=pk)
        form = _form(KillSwitchRequestSerializer, request.data)
        account, stopped = services.account_kill_switch_set(
            actor=request.user, account=account, killed=form["killed"]
        )
        return Response(
            {"killed": account.killed, "changed_by": None, "changed_at": None, "stopped": stopped}
        )


# --- Executions ------------------------------------------------------------------------------


class StreamExecutionsApi(AdsApi, APIView):
    @extend_schema(
        responses={200: ExecutionSerializer(many=True)} | ERRORS,
        summary="A stream's executions, newest first, with their audit trail",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        return Response(selectors.executions_for_stream(stream))
