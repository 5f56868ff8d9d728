"""Screens of the scripts capability: the scripts of a studio, a version, and a diff."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rooms import sheets
from rooms.selectors import studios_for_user

from . import selectors, services, table
from .diff import diff_versions
from .forms import LockForm, ScriptCreateForm, ScriptImportForm, StreamScriptForm
from .models import Script, ScriptVersion, StreamScript, VersionStatus


def _script_or_404(request: HttpRequest, pk: int) -> Script:
    return get_object_or_404(selectors.scripts_for_user(request.user), pk=pk)


def _version(script: Script, number: str | None) -> ScriptVersion:
    versions = script.versions.order_by("-number")
    chosen = versions.filter(number=number).first() if number and number.isdigit() else None
    return chosen or versions.first()


@login_required
def script_list(request: HttpRequest) -> HttpResponse:
    studios = studios_for_user(request.user)
    form = ScriptCreateForm(request.POST or None, studios=studios)
    if request.method == "POST" and form.is_valid():
        script = services.script_create(actor=request.user, **form.cleaned_data)
        messages.success(request, _("Script created; import a sheet or write its first draft."))
        return redirect("script", script.pk)
    scripts = selectors.scripts_for_user(request.user).prefetch_related("versions")
    return render(request, "scripts/list.html", {"scripts": scripts, "form": form})


@login_required
def script_detail(request: HttpRequest, pk: int) -> HttpResponse:
    script = _script_or_404(request, pk)
    version = _version(script, request.GET.get("version"))
    return _render_script(request, script, version)


def _render_script(request, script, version, *, status=200, **forms) -> HttpResponse:
    can_change = request.user.has_perm("scripts.change_script", script)
    shown = selectors.version_view(version)
    return render(
        request,
        "scripts/detail.html",
        {
            "script": script,
            "version": version,
            "versions": script.versions.order_by("-number"),
            "segments": shown,
            "errors": sum(
                1 for s in shown for line in s.lines for f in line.findings if f.severity == "error"
            ),
            "can_change": can_change,
            "import_form": forms.get("import_form") or ScriptImportForm(),
            "lock_form": forms.get("lock_form") or LockForm(),
            "stream_form": forms.get("stream_form")
            or StreamScriptForm(streams=selectors.streams_for_script(script, request.user)),
            "streams": StreamScript.objects.filter(script=script).select_related("stream"),
        },
        status=status,
    )


@login_required
@require_POST
def script_import(request: HttpRequest, pk: int) -> HttpResponse:
    script = _script_or_404(request, pk)
    form = ScriptImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            draft = services.script_import_file(
                actor=request.user,
                script=script,
                filename=upload.name,
                content=upload.read(sheets.MAX_BYTES + 1),
            )
        except ValidationError as error:
            form.add_error(None, _("Nothing was imported. Fix these and upload again:"))
            form.add_error(None, error.messages)
        else:
            messages.success(request, _("Imported into draft v%(n)s.") % {"n": draft.number})
            return redirect(f"/scripts/{script.pk}/?version={draft.number}")
    version = _version(script, None)
    return _render_script(request, script, version, status=400, import_form=form)


@login_required
@require_POST
def script_draft(request: HttpRequest, pk: int) -> HttpResponse:
    script = _script_or_404(request, pk)
    draft = services.script_draft(actor=request.user, script=script)
    return redirect(f"/scripts/{script.pk}/?version={draft.number}")


@login_required
@require_POST
def version_lock(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    script = _script_or_404(request, pk)
    version = get_object_or_404(script.versions, number=number)
    form = LockForm(request.POST)
    form.is_valid()
    try:
        services.version_lock(
            actor=request.user,
            version=version,
            override_reason=form.cleaned_data.get("override_reason", ""),
        )
    except ValidationError as error:
        form.add_error(None, error.messages)
        return _render_script(request, script, version, status=400, lock_form=form)
    messages.success(request, _("Version %(n)s locked.") % {"n": version.number})
    return redirect(f"/scripts/{script.pk}/?version={version.number}")


@login_required
@require_POST
def script_stream(request: HttpRequest, pk: int) -> HttpResponse:
    script = _script_or_404(request, pk)
    form = StreamScriptForm(
        request.POST, streams=selectors.streams_for_script(script, request.user)
    )
    if form.is_valid():
        try:
            services.stream_script_set(
                actor=request.user, stream=form.cleaned_data["stream"], script=script
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(request, _("The stream runs this script now."))
            return redirect("script", script.pk)
    return _render_script(request, script, _version(script, None), status=400, stream_form=form)


@login_required
def script_export(request: HttpRequest, pk: int, number: int, fmt: str) -> HttpResponse:
    script = _script_or_404(request, pk)
    version = get_object_or_404(script.versions, number=number)
    if fmt == "xlsx":
        body, kind = (
            table.to_xlsx(version),
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )
    elif fmt == "csv":
        body, kind = table.to_csv(version), "text/csv; charset=utf-8"
    else:
        raise Http404
    response = HttpResponse(body, content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="script-{script.pk}-v{number}.{fmt}"'
    return response


@login_required
def script_diff(request: HttpRequest, pk: int) -> HttpResponse:
    """Two versions side by side: by segment, then line, then word."""
    script = _script_or_404(request, pk)
    newest = script.versions.order_by("-number").first()
    new = _version(script, request.GET.get("to")) or newest
    old = _version(script, request.GET.get("from"))
    if old == new and new.based_on_id:
        old = new.based_on
    diff = diff_versions(selectors.version_snapshot(old), selectors.version_snapshot(new))
    return render(
        request,
        "scripts/diff.html",
        {
            "script": script,
            "old": old,
            "new": new,
            "diff": diff,
            "versions": script.versions.order_by("-number"),
            "locked": VersionStatus.LOCKED,
        },
    )
