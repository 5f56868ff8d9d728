"""REST API of the support queue, under /api/v1/support/: a stream's queue, claims, answers,
escalation, agents' presence, canned replies and the supervisor's statistics.

Errors take the planning endpoints' shape (`rooms.api.PlanningApi`); a group changed by
someone else first is a 409 `conflict` carrying the group as it now stands (`current`), as
a show moved meanwhile is.
"""

import csv
import io
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from rooms import eventlog
from rooms.api import ERRORS, PlanningApi, planning_exception_handler
from rooms.models import Channel, Stream
from rooms.selectors import stream_list_for_user
from rooms.serializers import ApiErrorSerializer

from . import replies, selectors, services
from .models import Agent, CannedReply, QuestionGroup
from .serializers import (
    AgentSerializer,
    AgentStatusRequestSerializer,
    AgentUpdateRequestSerializer,
    AnswerRequestSerializer,
    CannedReplyRequestSerializer,
    CannedReplySerializer,
    ClaimNextRequestSerializer,
    ClaimNextSerializer,
    FilledReplySerializer,
    GroupSerializer,
    MergeRequestSerializer,
    QuestionSerializer,
    QueueQuerySerializer,
    QueueSerializer,
    SeenVersionSerializer,
    SplitRequestSerializer,
    StatsQuerySerializer,
    StatsSerializer,
)

CONFLICT = {
    409: OpenApiResponse(
        ApiErrorSerializer,
        description="`conflict`: someone else claimed, answered, released or escalated the "
        "group first, or it changed since your screen showed it; `current` is the group now.",
    )
}
CLAIM_ERRORS = ERRORS | {
    400: OpenApiResponse(
        ApiErrorSerializer,
        description="`not_online` (go online first), `capacity` (you hold your limit).",
    )
}
# How far back the statistics look unless told.
STATS_DEFAULT_RANGE = timedelta(hours=24)


def support_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, services.GroupConflict):
        set_rollback()
        return Response(
            {"detail": exc.messages[0], "code": "conflict", "current": exc.current},
            status=status.HTTP_409_CONFLICT,
        )
    return planning_exception_handler(exc, context)


class SupportApi(PlanningApi):
    def get_exception_handler(self):
        return support_exception_handler


def _stream(request: Request, pk: int) -> Stream:
    return get_object_or_404(stream_list_for_user(request.user), pk=pk)


def _group(request: Request, pk: int) -> QuestionGroup:
    return get_object_or_404(selectors.groups_for_user(request.user), pk=pk)


def _form(serializer_class, data) -> dict:
    form = serializer_class(data=data)
    form.is_valid(raise_exception=True)
    return form.validated_data


def _group_response(group: QuestionGroup) -> Response:
    return Response(selectors.groups_data([group])[0])


def _require(request: Request, perm: str, obj: object = None) -> None:
    if not request.user.has_perm(perm, obj):
        raise PermissionDenied()


# --- The queue -------------------------------------------------------------------------------


class QueueApi(SupportApi, APIView):
    @extend_schema(
        parameters=[QueueQuerySerializer],
        responses={200: QueueSerializer} | ERRORS,
        summary="A stream's question groups, most pressing first, with the log's head",
        description="Open groups unless `status` says otherwise; then follow the stream's "
        'websocket from `head`: every change is a "question" event carrying the whole group, '
        'except the deadline sweep\'s flags: one "sla" event per sweep naming the groups '
        "(`warned`, `breached`: lists of group ids).",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        _require(request, "support.view_queue", stream)
        query = _form(QueueQuerySerializer, request.query_params)
        head = eventlog.head(stream.pk)
        groups = selectors.queue_for_stream(
            stream,
            user=request.user,
            category=query.get("category"),
            language=query.get("language"),
            link_number=query.get("link_number"),
            statuses=[query["status"]],
            limit=query["limit"],
        )
        return Response({"head": head, "groups": selectors.groups_data(list(groups))})


class ClaimNextApi(SupportApi, APIView):
    @extend_schema(
        request=ClaimNextRequestSerializer,
        responses={200: ClaimNextSerializer} | CLAIM_ERRORS,
        summary="Take the most pressing group you can answer (within capacity and skills)",
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        filters = _form(ClaimNextRequestSerializer, request.data)
        group = services.group_claim_next(actor=request.user, stream=stream, **filters)
        return Response({"group": selectors.groups_data([group])[0] if group else None})


class GroupApi(SupportApi, APIView):
    @extend_schema(responses={200: GroupSerializer} | ERRORS, summary="One question group")
    def get(self, request: Request, pk: int) -> Response:
        group = _group(request, pk)
        _require(request, "support.view_queue", group.stream)
        return Response(selectors.groups_data([group])[0])


class GroupClaimApi(SupportApi, APIView):
    @extend_schema(
        request=SeenVersionSerializer,
        responses={200: GroupSerializer} | CLAIM_ERRORS | CONFLICT,
        summary="Claim a group: you alone hold it while your screen is there",
        description="The claim is a lease renewed by your heartbeat; 30 s of silence loses it.",
    )
    def post(self, request: Request, pk: int) -> Response:
        group = _group(request, pk)
        form = _form(SeenVersionSerializer, request.data)
        group = services.group_claim(
            actor=request.user, group=group, seen_version=form.get("seen_version")
        )
        return _group_response(group)


class GroupReleaseApi(SupportApi, APIView):
    @extend_schema(
        request=None,
        responses={200: GroupSerializer} | ERRORS | CONFLICT,
        summary="Put a group you hold back in the queue",
    )
    def post(self, request: Request, pk: int) -> Response:
        group = services.group_release(actor=request.user, group=_group(request, pk))
        return _group_response(group)


class GroupAnswerApi(SupportApi, APIView):
    @extend_schema(
        request=AnswerRequestSerializer,
        responses={200: GroupSerializer} | ERRORS | CONFLICT,
        summary="Answer a group you hold: canned replies (filled from live data) and/or text",
        description="400 `missing_value` when a canned reply's variable has no value now "
        "(no coupon issued, no live price): nothing is sent.",
    )
    def post(self, request: Request, pk: int) -> Response:
        group = _group(request, pk)
        form = _form(AnswerRequestSerializer, request.data)
        group = services.group_answer(
            actor=request.user,
            group=group,
            seen_version=form["seen_version"],
            text=form["text"],
            canned_reply_ids=form["canned_replies"],
        )
        return _group_response(group)


class GroupEscalateApi(SupportApi, APIView):
    @extend_schema(
        request=SeenVersionSerializer,
        responses={200: GroupSerializer} | ERRORS | CONFLICT,
        summary="Hand a group to the host to answer on air",
    )
    def post(self, request: Request, pk: int) -> Response:
        group = _group(request, pk)
        form = _form(SeenVersionSerializer, request.data)
        group = services.group_escalate(
            actor=request.user, group=group, seen_version=form.get("seen_version")
        )
        return _group_response(group)


class GroupAnsweredOnAirApi(SupportApi, APIView):
    @extend_schema(
        request=None,
        responses={200: GroupSerializer} | ERRORS | CONFLICT,
        summary="The host answered an escalated group on air (room operator)",
    )
    def post(self, request: Request, pk: int) -> Response:
        group = services.group_answered_on_air(actor=request.user, group=_group(request, pk))
        return _group_response(group)


class GroupSplitApi(SupportApi, APIView):
    @extend_schema(
        request=SplitRequestSerializer,
        responses={201: GroupSerializer} | ERRORS | CONFLICT,
        summary="Take some questions out of a group into a new one (answers the new one)",
    )
    def post(self, request: Request, pk: int) -> Response:
        group = _group(request, pk)
        form = _form(SplitRequestSerializer, request.data)
        split_off = services.group_split(
            actor=request.user, group=group, question_ids=form["question_ids"]
        )
        return Response(selectors.groups_data([split_off])[0], status=status.HTTP_201_CREATED)


class GroupMergeApi(SupportApi, APIView):
    @extend_schema(
        request=MergeRequestSerializer,
        responses={200: GroupSerializer} | ERRORS | CONFLICT,
        summary="Fold other groups of the stream into this one",
    )
    def post(self, request: Request, pk: int) -> Response:
        group = _group(request, pk)
        form = _form(MergeRequestSerializer, request.data)
        others = list(
            selectors.groups_for_user(request.user).filter(
                pk__in=form["group_ids"], stream_id=group.stream_id
            )
        )
        if len(others) != len(set(form["group_ids"])):
            raise ValidationError(
                {"group_ids": _("A group to merge is not one of this stream's questions.")}
            )
        merged = services.group_merge(actor=request.user, into=group, groups=others)
        return _group_response(merged)


class GroupQuestionsApi(SupportApi, APIView):
    @extend_schema(
        responses={200: QuestionSerializer(many=True)} | ERRORS,
        summary="Everyone who asked in a group, first asked first (what a split picks from)",
    )
    def get(self, request: Request, pk: int) -> Response:
        group = _group(request, pk)
        _require(request, "support.view_queue", group.stream)
        return Response(selectors.group_askers(group))


class GroupRepliesApi(SupportApi, APIView):
    @extend_schema(
        responses={200: FilledReplySerializer(many=True)} | ERRORS,
        summary="The channel's canned replies as they would go out for this group now",
    )
    def get(self, request: Request, pk: int) -> Response:
        group = _group(request, pk)
        _require(request, "support.work_queue", group.stream)
        return Response(replies.filled_for_group(group))


# --- Agents ----------------------------------------------------------------------------------


def _agent_response(agent: Agent) -> Response:
    return Response(selectors.agent_summary(agent))


class AgentMeApi(SupportApi, APIView):
    @extend_schema(
        responses={200: AgentSerializer},
        summary="Your presence, capacity, skills and the groups you hold",
    )
    def get(self, request: Request) -> Response:
        agent, _ = Agent.objects.select_related("user").get_or_create(user=request.user)
        return _agent_response(agent)


class AgentStatusApi(SupportApi, APIView):
    @extend_schema(
        request=AgentStatusRequestSerializer,
        responses={200: AgentSerializer} | ERRORS,
        summary="Go online, on a break or offline",
        description="400 `holding_claims` when leaving with groups in hand: repeat with "
        "`hand_back: true` to return them to the queue.",
    )
    def post(self, request: Request) -> Response:
        form = _form(AgentStatusRequestSerializer, request.data)
        agent = services.agent_set_status(actor=request.user, **form)
        return _agent_response(agent)


class AgentHeartbeatApi(SupportApi, APIView):
    @extend_schema(
        request=None,
        responses={200: AgentSerializer},
        summary="Your screen is there (every 10 s): keeps your claims",
    )
    def post(self, request: Request) -> Response:
        return _agent_response(services.agent_heartbeat(actor=request.user))


class AgentListApi(SupportApi, APIView):
    @extend_schema(
        responses={200: AgentSerializer(many=True)} | ERRORS, summary="Every agent (supervisors)"
    )
    def get(self, request: Request) -> Response:
        _require(request, "support.supervise")
        now = timezone.now()
        agents = Agent.objects.select_related("user").order_by("user__username")
        return Response([selectors.agent_summary(agent, now=now) for agent in agents])


class AgentDetailApi(SupportApi, APIView):
    @extend_schema(
        request=AgentUpdateRequestSerializer,
        responses={200: AgentSerializer} | ERRORS,
        summary="Set an agent's capacity, languages and categories (supervisors)",
    )
    def patch(self, request: Request, pk: int) -> Response:
        _require(request, "support.supervise")
        agent = get_object_or_404(Agent.objects.select_related("user"), pk=pk)
        form = _form(AgentUpdateRequestSerializer, request.data)
        return _agent_response(services.agent_update(actor=request.user, agent=agent, **form))


# --- Canned replies --------------------------------------------------------------------------


class StreamCannedRepliesApi(SupportApi, APIView):
    @extend_schema(
        responses={200: CannedReplySerializer(many=True)} | ERRORS,
        summary="The canned replies of a stream's channel, by shortcut key",
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = _stream(request, pk)
        _require(request, "support.view_queue", stream)
        found = CannedReply.objects.filter(channel_id=stream.channel_id)
        return Response(CannedReplySerializer(found, many=True).data)


class ChannelCannedRepliesApi(SupportApi, APIView):
    @extend_schema(
        responses={200: CannedReplySerializer(many=True)} | ERRORS,
        summary="A channel's canned replies (supervisors)",
    )
    def get(self, request: Request, pk: int) -> Response:
        _require(request, "support.supervise")
        channel = get_object_or_404(Channel, pk=pk)
        return Response(CannedReplySerializer(channel.canned_replies.all(), many=True).data)

    @extend_schema(
        request=CannedReplyRequestSerializer,
        responses={201: CannedReplySerializer} | ERRORS,
        summary="Add a canned reply to a channel (supervisors)",
    )
    def post(self, request: Request, pk: int) -> Response:
        channel = get_object_or_404(Channel, pk=pk)
        form = _form(CannedReplyRequestSerializer, request.data)
        reply = services.canned_reply_create(actor=request.user, channel=channel, **form)
        return Response(CannedReplySerializer(reply).data, status=status.HTTP_201_CREATED)


class CannedReplyDetailApi(SupportApi, APIView):
    @extend_schema(
        request=CannedReplyRequestSerializer,
        responses={200: CannedReplySerializer} | ERRORS,
        summary="Change a canned reply (supervisors)",
    )
    def patch(self, request: Request, pk: int) -> Response:
        reply = get_object_or_404(CannedReply, pk=pk)
        form = CannedReplyRequestSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        reply = services.canned_reply_update(actor=request.user, reply=reply, **form.validated_data)
        return Response(CannedReplySerializer(reply).data)

    @extend_schema(request=None, responses={204: None} | ERRORS, summary="Delete a canned reply")
    def delete(self, request: Request, pk: int) -> Response:
        reply = get_object_or_404(CannedReply, pk=pk)
        services.canned_reply_delete(actor=request.user, reply=reply)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Statistics ------------------------------------------------------------------------------


class _IgnoreFormat(DefaultContentNegotiation):
    """`format=csv` picks the export, not a DRF renderer; errors stay JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class StatsApi(SupportApi, APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _IgnoreFormat

    @extend_schema(
        parameters=[StatsQuerySerializer],
        responses={200: StatsSerializer, (200, "text/csv"): StatsSerializer} | ERRORS,
        summary="Queue depth, response time percentiles and SLA hit rate (supervisors)",
        description="Per stream and per agent, for groups first asked in [since, until). "
        "`format=csv` downloads the same figures as a spreadsheet.",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        _require(request, "support.supervise")
        query = _form(StatsQuerySerializer, request.query_params)
        until = query.get("until") or timezone.now()
        since = query.get("since") or until - STATS_DEFAULT_RANGE
        stats = selectors.support_stats(
            user=request.user, since=since, until=until, stream_id=query.get("stream")
        )
        if query["format"] == "csv":
            body = io.StringIO()
            csv.writer(body).writerows(selectors.support_stats_rows(stats))
            response = HttpResponse(body.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="support-{since:%Y%m%d}-{until:%Y%m%d}.csv"'
            )
            return response
        return Response(StatsSerializer(stats).data)
