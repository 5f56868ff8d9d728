"""Screens of the scripts capability: the scripts of a studio, a version, and a diff."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rooms import sheets
from rooms.lineup_import import RowError
from rooms.models import CrewRole
from rooms.selectors import studios_for_user, templates_for_user

from . import memorise, pdfs, selectors, services, table
from .diff import diff_versions
from .forms import LockForm, ScriptCreateForm, ScriptImportForm, StreamScriptForm
from .models import Line, Script, ScriptVersion, StreamScript, VersionStatus


def _number(raw: str | None) -> int | None:
    """A whole number from a form or query string, or None for anything else."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw)


def _script_or_404(request: HttpRequest, pk: int) -> Script:
    return get_object_or_404(selectors.scripts_for_user(request.user), pk=pk)


def _version(script: Script, number: str | None) -> ScriptVersion:
    versions = script.versions.order_by("-number")
    wanted = _number(number)
    chosen = versions.filter(number=wanted).first() if wanted is not None else None
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
            "templates": templates_for_user(request.user).filter(studio_id=script.studio_id),
            "template_links": script.templates.select_related("template"),
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
@require_POST
def script_template(request: HttpRequest, pk: int) -> HttpResponse:
    """Make a stream template's streams run this script."""
    script = _script_or_404(request, pk)
    template = get_object_or_404(
        templates_for_user(request.user).filter(studio_id=script.studio_id),
        pk=_number(request.POST.get("template")) or 0,
    )
    try:
        services.template_script_set(actor=request.user, template=template, script=script)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, _("Streams planned from “%(t)s” run this script.") % {"t": template}
        )
    return redirect("script", script.pk)


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
    new = _version(script, request.GET.get("to"))
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


# --- Memorisation ---------------------------------------------------------------------------


def _role(request: HttpRequest) -> str:
    raw = request.GET.get("role") or request.POST.get("role") or CrewRole.HOST
    return raw if raw in CrewRole.values else CrewRole.HOST


def _study_version(script: Script) -> ScriptVersion:
    version = script.versions.filter(status=VersionStatus.LOCKED).order_by("-number").first()
    if version is None:
        raise Http404
    return version


def _sheet_context(request: HttpRequest, pk: int) -> dict:
    script = _script_or_404(request, pk)
    version = _version(script, request.GET.get("version"))
    role = _role(request)
    speaking = role in memorise.SPEAKING_ROLES
    context = {
        "script": script,
        "version": version,
        "role": role,
        "role_label": CrewRole(role).label,
        "roles": CrewRole.choices,
        "speaking": speaking,
    }
    acknowledged = selectors.acknowledged_version(request.user, script)
    context["changes_waiting"] = (
        acknowledged is not None
        and version.status == VersionStatus.LOCKED
        and acknowledged < version.number
    )
    if speaking:
        context["sheet"] = selectors.memorisation_sheet(version, role, person=request.user)
        context["mastered"], context["total"] = selectors.mastery(request.user, version, role)
    else:
        context["crew_sheet"] = selectors.crew_sheet(version, role)
    return context


@login_required
def script_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    """A role's memorisation sheet (lines) or a crew role's cue sheet, on screen and for
    print."""
    return render(request, "scripts/sheet.html", _sheet_context(request, pk))


@login_required
def script_sheet_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The same sheet as a PDF, laid out by the page's print styles."""
    context = _sheet_context(request, pk)
    html = render_to_string("scripts/sheet.html", context, request=request)
    try:
        pdf = pdfs.from_html(html)
    except pdfs.PdfUnavailable as error:
        messages.error(request, str(error))
        return redirect(f"{request.path.removesuffix('pdf/')}?{request.GET.urlencode()}")
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"script-{context['script'].pk}-v{context['version'].number}-{context['role']}.pdf"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return response


@login_required
def script_practice(request: HttpRequest, pk: int) -> HttpResponse:
    """One card at a time: the cue, a hint, the line behind a reveal, and four grades."""
    script = _script_or_404(request, pk)
    version = _study_version(script)
    role = _role(request)
    acknowledged = selectors.acknowledged_version(request.user, script)
    if acknowledged is not None and acknowledged < version.number:
        return redirect(f"/scripts/{script.pk}/changes/?role={role}")
    if request.method == "POST":
        line_id = request.POST.get("line", "")
        line = get_object_or_404(Line, pk=_number(line_id) or 0, segment__version=version)
        try:
            services.line_review(
                actor=request.user, line=line, rating=int(request.POST.get("rating") or 0)
            )
        except (ValidationError, ValueError) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        done = (_number(request.POST.get("done")) or 0) + 1
        query = urlencode(
            {
                "role": role,
                "order": request.POST.get("order", "due"),
                "hint": request.POST.get("hint", "first"),
                "segment": request.POST.get("segment", ""),
                "done": done,
            }
        )
        return redirect(f"/scripts/{script.pk}/practice/?{query}")
    order = request.GET.get("order", "due")
    hint = request.GET.get("hint", "first")
    chunk = request.GET.get("segment", "")
    done = _number(request.GET.get("done")) or 0
    queue = selectors.practice_queue(
        request.user,
        version,
        role,
        now=timezone.now(),
        in_order=order == "order",
        seed=done,
        segment_id=_number(chunk),
    )
    line = queue[done % len(queue)] if order == "order" and queue else (queue[0] if queue else None)
    cue = selectors.cue_before(version, line) if line else None
    mastered, total = selectors.mastery(request.user, version, role)
    return render(
        request,
        "scripts/practice.html",
        {
            "script": script,
            "version": version,
            "role": role,
            "roles": [(r.value, r.label) for r in memorise.SPEAKING_ROLES],
            "line": line,
            "pieces": selectors.line_pieces(line, []) if line else [],
            "cue": cue,
            "hint_text": memorise.hint(line.text, hint) if line else "",
            "hint": hint,
            "order": order,
            "done": done,
            "chunk": chunk,
            "segments": version.segments.order_by("position"),
            "mastered": mastered,
            "total": total,
        },
    )


@login_required
def script_changes(request: HttpRequest, pk: int) -> HttpResponse:
    """What changed for this person since the version they acknowledged."""
    script = _script_or_404(request, pk)
    role = _role(request)
    if request.method == "POST":
        services.version_acknowledge(actor=request.user, script=script, role=role)
        messages.success(request, _("Acknowledged. Changed lines start again; the rest is kept."))
        return redirect(f"/scripts/{script.pk}/practice/?role={role}")
    latest, changes = selectors.changes_for(request.user, script, role)
    return render(
        request,
        "scripts/changes.html",
        {
            "script": script,
            "latest": latest,
            "since": selectors.acknowledged_version(request.user, script),
            "changes": changes,
            "role": role,
            "role_label": CrewRole(role).label,
        },
    )


@login_required
@require_POST
def speaking_rate(request: HttpRequest) -> HttpResponse:
    """Set one's own speaking rate (characters a minute), used for segment estimates."""
    raw = request.POST.get("chars_per_minute", "")
    try:
        services.speaking_rate_set(
            actor=request.user,
            person=request.user,
            chars_per_minute=_number(raw) or 0,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Speaking rate saved."))
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/scripts/") else "scripts")


# --- Table editor ---------------------------------------------------------------------------


@login_required
def script_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The draft as the 整场脚本 table, edited in place and saved whole (same checks as an
    imported sheet: all rows or none)."""
    script = _script_or_404(request, pk)
    if not request.user.has_perm("scripts.change_script", script):
        raise Http404
    columns = list(table.COLUMNS)
    errors: list = []
    if request.method == "POST":
        cells = [request.POST.getlist(f"cell_{column}") for column in columns]
        # Columns of unequal length (a hand-made request) are padded, not a crash.
        height = max(len(column) for column in cells)
        rows = [[column[i] if i < len(column) else "" for column in cells] for i in range(height)]
        try:
            draft = services.script_table_save(
                actor=request.user,
                script=script,
                rows=[[table.LABELS[c] for c in columns], *rows],
            )
        except ValidationError as error:
            errors = getattr(error, "row_errors", None) or [
                RowError(0, _("file"), message) for message in error.messages
            ]
        else:
            messages.success(request, _("Draft v%(n)s saved.") % {"n": draft.number})
            return redirect(f"/scripts/{script.pk}/?version={draft.number}")
        status = 400
    else:
        # Shown from the latest version; the draft is made only when something is saved.
        rows = table.rows(_version(script, None))[1:] or [[""] * len(columns)]
        status = 200
    bad_rows = {error.row for error in errors}
    return render(
        request,
        "scripts/edit.html",
        {
            "script": script,
            "columns": [(c, table.LABELS[c]) for c in columns],
            "rows": [
                (index + 2, list(zip(columns, row, strict=True)), index + 2 in bad_rows)
                for index, row in enumerate(rows)
            ],
            "errors": errors,
        },
        status=status,
    )
