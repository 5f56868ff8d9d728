"""Web screens of ad boosts: the ads index, the ad buyer's live board of a stream, an ad
account's rules, and the replay of rules over an ended stream."""

import time
from decimal import ROUND_HALF_UP
from zoneinfo import ZoneInfo

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
from django.utils.translation import pgettext

from rooms.models import Stream, StreamStatus

from . import rules_engine as engine
from . import selectors, services
from .forms import BoostRuleForm, ConditionForm, ConditionFormSet
from .models import ActionKind, AdAccount, BoostRule, DecisionStatus, IntentState
from .replay import replay

ENDED = (StreamStatus.ENDED, StreamStatus.REVIEWED)
# The rule form's fields as the page groups them, around the conditions.
RULE_FIELD_GROUPS = {
    "head": ("name", "enabled"),
    "action": ("action", "amount", "min_spend"),
    "limits": (
        "cap_per_boost",
        "cap_per_stream",
        "cap_per_day",
        "cooldown_minutes",
        "active_from",
        "active_until",
        "approval_above",
    ),
    "margin": ("gross_margin", "return_rate"),
}


def _stream_or_404(request: HttpRequest, pk: int) -> Stream:
    stream = selectors.stream_get_for_boosts(request.user, pk)
    if stream is None:
        raise Http404
    return stream


def _account_or_404(request: HttpRequest, pk: int) -> AdAccount:
    account = selectors.account_get_for_user(request.user, pk)
    if account is None:
        raise Http404
    return account


# --- The index ---------------------------------------------------------------------------------


@login_required
def ads_home(request: HttpRequest) -> HttpResponse:
    """The streams whose boosts one may see, live first, and their channels' ad accounts."""
    return render(
        request,
        "ads/index.html",
        {
            "streams": selectors.ads_streams_for_user(request.user),
            "accounts": selectors.accounts_for_user(request.user),
            "ended": ENDED,
        },
    )


# --- The ad buyer's board ----------------------------------------------------------------------


@login_required
def buyer_screen(request: HttpRequest, pk: int) -> HttpResponse:
    """A stream's decision cards, live, for its ad buyers (投手) and approvers; read-only for
    the others who may see the stream's boosts."""
    stream = _stream_or_404(request, pk)
    board = selectors.buyer_board(request.user, stream)
    user = request.user
    can = {
        "decide": user.has_perm("ads.decide", stream),
        "approve": user.has_perm("ads.approve", stream),
        "killStream": user.has_perm("ads.kill_stream", stream),
        "killAccount": user.has_perm("ads.kill_account"),
    }
    return render(
        request,
        "ads/buyer.html",
        {
            "stream": stream,
            "can": can,
            "read_only": not (can["decide"] or can["approve"]),
            "page": {
                "stream": {
                    "id": stream.pk,
                    "title": stream.title,
                    "status": stream.status,
                    "currency": stream.channel.currency,
                    "timeZone": stream.studio.time_zone,
                },
                "board": board,
                "me": {"id": user.pk, "username": user.get_username(), "name": str(user)},
                "can": can,
                "csrfToken": get_token(request),
                "heartbeatSeconds": settings.MCN_WS_HEARTBEAT_SECONDS,
                "language": translation.get_language(),
                "urls": {
                    "board": reverse("api-ads-cards", args=[stream.pk]),
                    "executions": reverse("api-ads-executions", args=[stream.pk]),
                    # A decision's or account's id replaces the 0.
                    "accept": reverse("api-ads-accept", args=[0]),
                    "reject": reverse("api-ads-reject", args=[0]),
                    "approve": reverse("api-ads-approve", args=[0]),
                    "streamKill": reverse("api-ads-stream-kill-switch", args=[stream.pk]),
                    "accountKill": reverse("api-ads-account-kill-switch", args=[0]),
                },
                "labels": _board_labels(),
            },
        },
    )


def _board_labels() -> dict:
    """Words the board's script shows, in the viewer's language."""
    return {
        "connection": {
            "connecting": _("Connecting…"),
            "live": _("Connected"),
            "reconnecting": _("Reconnecting…"),
            "forbidden": _("Access withdrawn"),
        },
        "statuses": {value: str(label) for value, label in DecisionStatus.choices},
        "streamStatuses": {value: str(label) for value, label in StreamStatus.choices},
        "intentStates": {value: str(label) for value, label in IntentState.choices},
        "actions": {value: str(label) for value, label in ActionKind.choices},
        "metricShort": {
            "roi": _("ROI"),
            "marginal_roi": _("Marginal ROI"),
            "gpm": _("GPM"),
            "viewer_trend": _("Viewer trend"),
            "ctr": _("CTR"),
            "cvr": _("CVR"),
            "spend_pace": _("Spend pace"),
            "pinned_stock": _("Pinned stock left"),
        },
        "lastMinutes": _("last %(n)s min"),
        "breakEven": _("break-even %(value)s"),
        "held": _("✓ held"),
        "addBudget": _("Add %(amount)s"),
        "setBudget": _("Set the budget to %(amount)s"),
        "cut": _("Cut %(amount)s"),
        "pause": _("Pause the campaign"),
        "notify": _("Notice only: no money moves"),
        "budgetMove": _("Budget %(before)s → %(after)s"),
        "change": _("change %(change)s"),
        "numbers": _(
            "Last %(window)s min: spend %(spend)s · GMV %(gmv)s · ROI %(roi)s · "
            "orders %(orders)s · CTR %(ctr)s · CVR %(cvr)s"
        ),
        "stockLine": _("Budget left %(left)s · paid share %(share)s · online %(online)s"),
        "minSpend": _("Judged after %(amount)s of spend in the window."),
        "now": _("Now"),
        "next": pgettext("show segment", "Next"),
        "nothingOn": _("Nothing on air"),
        "endOfPlan": _("End of the plan"),
        "lossLeader": _("loss-leader"),
        "stockLeft": _("%(n)s left"),
        "pinned": _("Pinned: %(products)s"),
        "blocked": _("Stopped by a guardrail: %(reason)s"),
        "needsApprover": _("Needs an approver"),
        "acceptedBy": _("Accepted by %(name)s"),
        "approvedBy": _("Approved by %(name)s"),
        "rejectedBy": _("Rejected by %(name)s"),
        "youAccepted": _("You accepted it: another person must approve."),
        "waitingApprover": _("Waiting for an ad approver."),
        "sending": _("Sending to the platform…"),
        "executing": _("Executing…"),
        "confirmed": _("Confirmed by the platform"),
        "failed": _("Failed: %(reason)s"),
        "stopped": _("Stopped: %(reason)s"),
        "expired": _("Expired unanswered"),
        "proposedAt": _("proposed %(time)s"),
        "accept": _("Accept"),
        "edit": _("Edit"),
        "reject": _("Reject"),
        "approve": _("Approve"),
        "cancel": _("Cancel"),
        "acceptEdited": _("Accept this amount"),
        "editAmountAdd": _("Amount to add"),
        "editAmountSet": _("Budget to set"),
        "editAmountCut": _("Amount to cut"),
        "note": _("Note (optional)"),
        "noCards": _("No cards open: they appear here as the numbers arrive."),
        "noHistory": _("Nothing decided yet."),
        "noCampaigns": _("No campaign reports for this stream yet."),
        "noExecutions": _("No boost has gone to a platform yet."),
        "accepted": _("Accepted."),
        "approved": _("Approved: the boost goes out now."),
        "rejected": _("Rejected."),
        "killOn": _("ON: no boost goes out"),
        "killOff": _("Off"),
        "killStreamOn": _("Stop all boosts of this stream?"),
        "killStreamOff": _("Let boosts of this stream go out again?"),
        "killAccountOn": _("Stop every boost of the ad account %(name)s, on every stream?"),
        "killAccountOff": _("Let boosts of the ad account %(name)s go out again?"),
        "turnOn": _("Turn on"),
        "turnOff": _("Turn off"),
        "stoppedCount": _("%(n)s boosts not yet sent were stopped."),
        "changedBy": _("by %(name)s at %(time)s"),
        "attempts": _("%(n)s attempts"),
        "auditTrail": _("Audit trail (%(n)s entries)"),
        "system": _("system"),
        "selectFirst": _("Select a card first (j / k)."),
        "notYours": _("This card is not waiting for you."),
        "networkError": _("No answer from the server. Check the connection and try again."),
    }


# --- Rules of an ad account --------------------------------------------------------------------


@login_required
def account_rules(request: HttpRequest, pk: int) -> HttpResponse:
    """An ad account's rules: ad buyers write them, others who see the account read them.

    `?rule=<id>` opens a rule in the form; a refused form comes back with its errors and
    everything typed in it.
    """
    account = _account_or_404(request, pk)
    can_edit = request.user.has_perm("ads.manage_rules", account)
    rules = list(account.rules.order_by("name", "pk"))
    editing = _rule_chosen(request, account)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if request.POST.get("op") == "delete":
            return _rule_delete(request, account, editing)
        form = BoostRuleForm(request.POST)
        conditions = ConditionFormSet(request.POST, prefix="conditions")
        if _rule_save(request, account, editing, form, conditions):
            return redirect("ads-account-rules", pk=account.pk)
        status = 400
    else:
        form = BoostRuleForm(initial=BoostRuleForm.initial_for(editing) if editing else None)
        conditions = ConditionFormSet(
            prefix="conditions",
            initial=[ConditionForm.initial_for(c) for c in editing.conditions]
            if editing
            else [{"metric": "roi", "window": 10, "op": ">", "break_even": True}],
        )
        status = 200
    return render(
        request,
        "ads/rules.html",
        {
            "account": account,
            "can_edit": can_edit,
            "rules": [_rule_row(rule) for rule in rules],
            "editing": editing,
            "form": form,
            "field_groups": {
                group: [form[name] for name in names] for group, names in RULE_FIELD_GROUPS.items()
            },
            "conditions": conditions,
            "break_even": form.break_even_roi(),
            "windowed": sorted(engine.WINDOWED),
        },
        status=status,
    )


def _rule_chosen(request: HttpRequest, account: AdAccount) -> BoostRule | None:
    raw = request.POST.get("rule") if request.method == "POST" else request.GET.get("rule")
    if not raw:
        return None
    if not str(raw).isdigit():
        raise Http404
    return get_object_or_404(BoostRule, pk=int(raw), account=account)


def _rule_save(request, account, rule, form, conditions) -> bool:
    form_valid = form.is_valid()
    conditions_valid = conditions.is_valid()
    kept = [
        c.condition()
        for c in conditions
        if c.is_valid() and c.cleaned_data and not c.cleaned_data["DELETE"]
    ]
    if form_valid and not conditions_valid:
        # The rest of the rule is judged now too, so every fault shows at once.
        problems = services.boost_rule_problems(
            account=account, rule=rule, conditions=kept, **_checked_fields(form.cleaned_data)
        )
        problems.pop("conditions", None)
        if problems:
            _show_refusal(form, conditions, ValidationError(problems))
    if not (form_valid and conditions_valid):
        return False
    try:
        saved = services.boost_rule_save(
            actor=request.user, account=account, rule=rule, conditions=kept, **form.cleaned_data
        )
    except ValidationError as error:
        _show_refusal(form, conditions, error)
        return False
    messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
    return True


def _checked_fields(data: dict) -> dict:
    """The form's fields `boost_rule_problems` judges."""
    skipped = ("enabled", "active_from", "active_until")
    return {name: value for name, value in data.items() if name not in skipped}


def _show_refusal(form: BoostRuleForm, conditions, error: ValidationError) -> None:
    """A service's refusal on the form: conditions above their rows, fields by field."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, field_messages in error.message_dict.items():
        if name == "conditions":
            conditions._non_form_errors = conditions.error_class(
                [*conditions.non_form_errors(), *field_messages]
            )
        else:
            form.add_error(name if name in form.fields else None, field_messages)


def _rule_delete(request: HttpRequest, account: AdAccount, rule: BoostRule | None):
    if rule is None:
        raise Http404
    try:
        services.boost_rule_delete(actor=request.user, rule=rule)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(f"{reverse('ads-account-rules', args=[account.pk])}?rule={rule.pk}")
    messages.success(request, _("Rule “%(name)s” deleted.") % {"name": rule.name})
    return redirect("ads-account-rules", pk=account.pk)


def _rule_row(rule: BoostRule) -> dict:
    spec = engine.rule_spec(rule)
    return {
        "rule": rule,
        "conditions": [condition.label() for condition in spec.conditions],
        "problem": spec.problem,
        "break_even": None
        if spec.break_even_roi is None
        else spec.break_even_roi.quantize(engine.CENT, ROUND_HALF_UP),
    }


# --- Replay ------------------------------------------------------------------------------------


@login_required
def stream_replay(request: HttpRequest, pk: int) -> HttpResponse:
    """Run rules of the stream's ad accounts over its recorded metrics and show what they
    would have done, and when, next to what was done. Read-only: nothing is saved."""
    stream = _stream_or_404(request, pk)
    account_ids = {f.campaign.account_id for f in selectors.stream_campaigns(stream)}
    available = list(
        BoostRule.objects.filter(account_id__in=account_ids)
        .select_related("account__channel")
        .order_by("account_id", "name", "pk")
    )
    ended = stream.status in ENDED
    chosen_ids = {int(raw) for raw in request.GET.getlist("rule") if raw.isdigit()}
    chosen = [rule for rule in available if rule.pk in chosen_ids]
    context = {
        "stream": stream,
        "ended": ended,
        "rules": available,
        "chosen": {rule.pk for rule in chosen},
        "ran": False,
    }
    if ended and request.GET.get("run"):
        started = time.perf_counter()
        lines = replay(stream, chosen)
        took = time.perf_counter() - started
        context |= {
            "ran": True,
            "took_ms": round(took * 1000, 1),
            "lines": lines,
            "totals": selectors.replay_totals(stream, lines),
            "currency": stream.channel.currency,
            "zone": stream.studio.time_zone,
        }
        zone = ZoneInfo(stream.studio.time_zone)
        context["rows"] = [_replay_row(line, zone) for line in lines]
    return render(request, "ads/replay.html", context)


def _replay_row(line, zone: ZoneInfo) -> dict:
    return {
        "line": line,
        "time": timezone.localtime(line.at, zone).strftime("%H:%M"),
        "action": _action_text(line.action, line.amount, line.target_budget),
        "status": str(DecisionStatus(line.status).label)
        if line.status in DecisionStatus.values
        else line.status,
        "conditions": [
            f"{c['metric']} {c.get('actual') or '–'} {c['op']} {c.get('value') or '–'}"
            for c in line.conditions
        ],
    }


def _action_text(action: str, amount, target) -> str:
    label = str(ActionKind(action).label) if action in ActionKind.values else action
    if action in (ActionKind.ADD_BUDGET, ActionKind.CUT, ActionKind.SET_BUDGET) and amount:
        sign = "+" if amount > 0 else "−"
        text = f"{label} {sign}{abs(amount).quantize(engine.CENT)}"
        return f"{text} → {target.quantize(engine.CENT)}" if target is not None else text
    return label
