"""Web screens of the support queue: the agents' keyboard-driven queue of a stream, the
support page (the streams one may work, and the supervisor's numbers), and a channel's
policy and canned replies."""

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rooms import eventlog
from rooms import selectors as rooms_selectors
from rooms.models import Channel, Stream

from . import selectors, services
from .forms import CannedReplyForm, SupportPolicyForm
from .models import Agent, AgentStatus, CannedReply, Category, GroupStatus, SupportPolicy
from .replies import REPLY_VARIABLES

# The language codes triage gives (support/triage.py), named for the filter.
LANGUAGES = {
    "zh": gettext_lazy("Chinese"),
    "en": gettext_lazy("English"),
    "ms": gettext_lazy("Malay"),
    "id": gettext_lazy("Indonesian"),
    "th": gettext_lazy("Thai"),
    "vi": gettext_lazy("Vietnamese"),
    "ja": gettext_lazy("Japanese"),
    "ko": gettext_lazy("Korean"),
    "und": gettext_lazy("No words (emoji)"),
}
STATS_RANGES = {
    "1h": (timedelta(hours=1), gettext_lazy("Last hour")),
    "24h": (timedelta(hours=24), gettext_lazy("Last 24 hours")),
    "7d": (timedelta(days=7), gettext_lazy("Last 7 days")),
    "30d": (timedelta(days=30), gettext_lazy("Last 30 days")),
}
STATS_DEFAULT_RANGE = "24h"
REPLY_VARIABLE_HELP = {
    "price": gettext_lazy("the product's live price now"),
    "regular_price": gettext_lazy("its regular price"),
    "stock": gettext_lazy("stock left"),
    "product": gettext_lazy("the product's name"),
    "link": gettext_lazy("its link number"),
    "coupon": gettext_lazy("the newest coupon issued on the stream"),
    "shipping": gettext_lazy("the channel's shipping time (below)"),
}


# --- The support page --------------------------------------------------------------------------


@login_required
def support_home(request: HttpRequest) -> HttpResponse:
    """Everyone who works questions: the streams whose queue they may open, live first.
    Supervisors also get the numbers, per stream and per agent, and the channels' policies."""
    now = timezone.now()
    streams = selectors.support_streams_for_user(request.user, now=now)
    counts = selectors.queue_counts([stream.pk for stream in streams], now=now)
    context: dict = {
        "streams": [{"stream": stream, **counts[stream.pk]} for stream in streams],
        "supervise": request.user.has_perm("support.supervise"),
    }
    if context["supervise"]:
        context.update(_supervisor_context(request, now))
    return render(request, "support/index.html", context)


def _supervisor_context(request: HttpRequest, now) -> dict:
    range_key = request.GET.get("range", STATS_DEFAULT_RANGE)
    if range_key not in STATS_RANGES:
        range_key = STATS_DEFAULT_RANGE
    since = now - STATS_RANGES[range_key][0]
    stats = selectors.support_stats(user=request.user, since=since, until=now, now=now)
    breached = selectors.queue_counts([line["id"] for line in stats["streams"]], now=now)
    stats_by_person = {line["id"]: line for line in stats["agents"]}
    agents = list(Agent.objects.select_related("user").order_by("user__username"))
    people = [
        {
            "agent": selectors.agent_summary(agent, now=now),
            "status": AgentStatus(agent.status).label,
            "stats": stats_by_person.get(agent.user_id),
        }
        for agent in agents
    ]
    # People who answered without an agent row (a producer stepping in) still count.
    people += [
        {"agent": None, "stats": line}
        for line in stats["agents"]
        if line["id"] not in {agent.user_id for agent in agents}
    ]
    query = {"since": since.isoformat(), "until": now.isoformat(), "format": "csv"}
    return {
        "stats": stats,
        "stream_lines": [
            {**line, "breached_now": breached[line["id"]]["breached"]} for line in stats["streams"]
        ],
        "people": people,
        "ranges": [(key, label) for key, (_delta, label) in STATS_RANGES.items()],
        "range_key": range_key,
        "csv_url": f"{reverse('api-support-stats')}?{urlencode(query)}",
        "channels": Channel.objects.order_by("name"),
    }


# --- The agent's screen ------------------------------------------------------------------------


@login_required
def agent_screen(request: HttpRequest, pk: int) -> HttpResponse:
    """A stream's question queue, live, for the agents who answer it (客服): keyboard first.
    People who may only watch the queue (the floor) get it read-only."""
    stream = rooms_selectors.stream_get_for_user(request.user, pk)
    if stream is None:
        raise Http404
    if not request.user.has_perm("support.view_queue", stream):
        raise PermissionDenied
    can_work = request.user.has_perm("support.work_queue", stream)
    return render(
        request,
        "support/agent.html",
        {
            "stream": stream,
            "can_work": can_work,
            "categories": Category.choices,
            "question_languages": LANGUAGES.items(),
            "lineup": stream.lineup.order_by("link_number").values("link_number", "name"),
            "page": _agent_page_data(request, stream, can_work=can_work),
        },
    )


def _agent_page_data(request: HttpRequest, stream: Stream, *, can_work: bool) -> dict:
    """What the agent's script starts from: the queue and the log's head (read first, so
    any change after it arrives as an event), the agent's presence, the canned replies."""
    head = eventlog.head(stream.pk)
    waiting = selectors.queue_for_stream(stream, user=request.user)
    with_host = selectors.queue_for_stream(
        stream, user=request.user, statuses=[GroupStatus.ESCALATED]
    )
    agent = Agent.objects.select_related("user").filter(user=request.user).first()
    group_url = reverse("api-support-group", args=[0])
    return {
        "stream": {"id": stream.pk, "title": stream.title, "status": stream.status},
        "head": head,
        "serverNow": timezone.now().isoformat(),
        "me": {"id": request.user.pk, "name": str(request.user)},
        "canWork": can_work,
        "agent": selectors.agent_summary(agent) if agent else _agent_absent(request),
        "groups": selectors.groups_data(list(waiting)),
        "withHost": selectors.groups_data(list(with_host)),
        "cannedReplies": list(
            CannedReply.objects.filter(channel_id=stream.channel_id)
            .order_by("shortcut", "title")
            .values("id", "shortcut", "title", "text", "category")
        ),
        "lineup": list(stream.lineup.order_by("link_number").values("link_number", "name")),
        "priority": selectors.queue_priority_inputs(stream),
        "csrfToken": get_token(request),
        "heartbeatSeconds": settings.MCN_WS_HEARTBEAT_SECONDS,
        "language": translation.get_language(),
        "urls": {
            "queue": reverse("api-support-queue", args=[stream.pk]),
            "claimNext": reverse("api-support-claim-next", args=[stream.pk]),
            # A group's id replaces the 0 of /groups/0/.
            "group": group_url,
            "claim": reverse("api-support-claim", args=[0]),
            "release": reverse("api-support-release", args=[0]),
            "answer": reverse("api-support-answer", args=[0]),
            "escalate": reverse("api-support-escalate", args=[0]),
            "split": reverse("api-support-split", args=[0]),
            "merge": reverse("api-support-merge", args=[0]),
            "questions": reverse("api-support-group-questions", args=[0]),
            "replies": reverse("api-support-group-replies", args=[0]),
            "agentStatus": reverse("api-support-agent-status"),
            "heartbeat": reverse("api-support-agent-heartbeat"),
        },
        "labels": _agent_labels(),
    }


def _agent_absent(request: HttpRequest) -> dict:
    """Someone who never went online: offline, holding nothing, the default capacity."""
    return {
        "id": None,
        "user": request.user.pk,
        "name": str(request.user),
        "status": AgentStatus.OFFLINE,
        "capacity": Agent._meta.get_field("capacity").default,
        "languages": [],
        "categories": [],
        "last_seen_at": None,
        "holding": [],
        "heartbeat_seconds": int(selectors.AGENT_HEARTBEAT.total_seconds()),
        "lease_seconds": int(selectors.CLAIM_LEASE.total_seconds()),
    }


def _agent_labels() -> dict:
    """Words the agent's script shows, in the agent's language."""
    return {
        "categories": {value: str(label) for value, label in Category.choices},
        "languages": {code: str(name) for code, name in LANGUAGES.items()},
        "presence": {value: str(label) for value, label in AgentStatus.choices},
        "connection": {
            "connecting": _("Connecting…"),
            "live": _("Connected"),
            "reconnecting": _("Reconnecting…"),
            "forbidden": _("Access withdrawn"),
        },
        "catchingUp": _("Catching up…"),
        "you": _("You"),
        "holder": _("%(name)s is answering"),
        "holderYou": _("You hold this question"),
        "free": _("Free: press c to claim it"),
        "waiting": _("Nobody is answering it yet"),
        "answered": _("Answered by %(name)s: %(reply)s"),
        "answeredOnAir": _("Answered on air (confirmed by %(name)s)"),
        "withHost": _("Handed to the host to answer on air"),
        "merged": _("Merged into another group"),
        "dismissed": _("Dismissed"),
        "askers": _("Asked by %(names)s"),
        "moreAskers": _("and %(n)s more"),
        "times": _("×%(n)s"),
        "vip": _("VIP"),
        "left": _("%(time)s left"),
        "overdue": _("%(time)s overdue"),
        "holding": _("Holding %(n)s of %(capacity)s"),
        "noGroups": _("No open questions."),
        "noMatch": _("No open questions match these filters."),
        "nothingForYou": _("Nothing is waiting that you can take."),
        "selectFirst": _("Select a question first (j / k)."),
        "claimFirst": _("Claim this question first (c)."),
        "writeFirst": _("Write a reply or press a canned reply's key (1–9)."),
        "notCaughtUp": _("Wait: the queue is catching up after the connection dropped."),
        "readOnly": _("You can watch this queue but not answer it."),
        "sent": _("Reply sent: %(reply)s"),
        "released": _("Put back in the queue."),
        "escalated": _("Handed to the host."),
        "claimed": _("You claimed it."),
        "mergeStart": _(
            "Merging “%(text)s”: select the question to fold it into and press m (Esc cancels)."
        ),
        "mergedInto": _("Merged."),
        "split": _("Split off into a new group."),
        "splitNothing": _("Tick the questions to split off (Space), then Enter."),
        "handBack": _("Hand them back and go %(status)s"),
        "heartbeatFailed": _(
            "The server is not answering: your claims lapse %(seconds)s s after the last contact."
        ),
        "missing": _("Cannot be sent now: %(why)s"),
        "activityAnswered": _("%(name)s answered “%(text)s”: %(reply)s"),
        "activityEscalated": _("“%(text)s” went to the host"),
        "activityOnAir": _("“%(text)s” was answered on air"),
        "activityMerged": _("“%(text)s” was merged"),
        "networkError": _("No answer from the server. Check the connection and try again."),
    }


# --- A channel's policy and canned replies (supervisors) -------------------------------------


@login_required
def channel_support(request: HttpRequest, pk: int) -> HttpResponse:
    """The supervisor's page for one channel: its support policy, and its canned replies.

    Each form posts on its own (`action`); a refused form comes back with its errors and
    everything typed in it, the others as saved.
    """
    if not request.user.has_perm("support.supervise"):
        raise PermissionDenied
    channel = get_object_or_404(Channel, pk=pk)
    policy = SupportPolicy.objects.filter(channel=channel).first()
    replies = list(channel.canned_replies.order_by("shortcut", "title"))
    action = request.POST.get("action", "") if request.method == "POST" else ""
    policy_form = SupportPolicyForm.for_policy(policy, request.POST if action == "policy" else None)
    new_form = CannedReplyForm(request.POST if action == "reply-add" else None, prefix="new")
    edit_forms = {
        reply.pk: CannedReplyForm(
            request.POST if action == f"reply-{reply.pk}" else None,
            prefix=f"reply-{reply.pk}",
            initial={
                "shortcut": reply.shortcut,
                "title": reply.title,
                "text": reply.text,
                "category": reply.category,
            },
        )
        for reply in replies
    }
    if action:
        done = _channel_action(request, channel, action, policy_form, new_form, edit_forms)
        if done:
            messages.success(request, done)
            return redirect("support-channel", pk=channel.pk)
    return render(
        request,
        "support/channel.html",
        {
            "channel": channel,
            "policy_form": policy_form,
            "new_form": new_form,
            "replies": [(reply, edit_forms[reply.pk]) for reply in replies],
            "variables": [(name, REPLY_VARIABLE_HELP[name]) for name in REPLY_VARIABLES],
        },
        status=400 if action else 200,
    )


def _channel_action(request, channel, action, policy_form, new_form, edit_forms) -> str | None:
    """Carry out one form's action; the message to show once done, or None if refused."""
    actor = request.user
    try:
        if action == "policy":
            if policy_form.is_valid():
                services.support_policy_update(
                    actor=actor, channel=channel, **policy_form.service_arguments()
                )
                return _("Policy saved.")
            return None
        if action == "reply-add":
            if new_form.is_valid():
                services.canned_reply_create(actor=actor, channel=channel, **new_form.cleaned_data)
                return _("Canned reply added.")
            return None
        if action.startswith("reply-delete-"):
            reply = get_object_or_404(
                CannedReply, pk=_int(action.removeprefix("reply-delete-")), channel=channel
            )
            services.canned_reply_delete(actor=actor, reply=reply)
            return _("Canned reply deleted.")
        if action.startswith("reply-"):
            reply_id = _int(action.removeprefix("reply-"))
            form = edit_forms.get(reply_id)
            if form is None:
                raise Http404
            if form.is_valid():
                reply = get_object_or_404(CannedReply, pk=reply_id, channel=channel)
                services.canned_reply_update(actor=actor, reply=reply, **form.cleaned_data)
                return _("Canned reply saved.")
            return None
    except ValidationError as error:
        form = {"policy": policy_form, "reply-add": new_form}.get(action) or edit_forms.get(
            _int(action.removeprefix("reply-"))
        )
        if form is None:
            messages.error(request, " ".join(error.messages))
            return None
        _add_errors(form, error)
        return None
    raise Http404


def _int(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


def _add_errors(form, error: ValidationError) -> None:
    """Show a service's refusal on the form: field errors by field, the rest on top."""
    if hasattr(error, "error_dict"):
        for name, field_messages in error.message_dict.items():
            name = form.SERVICE_FIELDS.get(name, name)
            form.add_error(name if name in form.fields else None, field_messages)
    else:
        form.add_error(None, error.messages)
