"""REST API of the scripts app: scripts and their versions, lines, import and export, diffs,
the script a stream runs, and memorisation (sheets, reviews, what changed).

Errors take the planning endpoints' one shape (`rooms.api.PlanningApi`): a locked version,
a compliance refusal (`lint`) or a bad sheet (`rows`) is a 400; a write the person may not
do a 403; a script they may not see a 404.
"""

from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms import selectors as room_selectors
from rooms import sheets
from rooms.api import ERRORS, PlanningApi
from rooms.models import Stream
from rooms.serializers import ApiErrorSerializer

from . import selectors, services, table
from .diff import diff_versions
from .models import Line, Script, ScriptVersion, StreamScript, VersionStatus
from .serializers import (
    AcknowledgeRequestSerializer,
    ChangesSerializer,
    DiffQuerySerializer,
    DiffSerializer,
    DraftRequestSerializer,
    ExportQuerySerializer,
    ImportRequestSerializer,
    LineCreateRequestSerializer,
    LineProgressSerializer,
    LineSerializer,
    LineUpdateRequestSerializer,
    LockRequestSerializer,
    ReviewRequestSerializer,
    RoleQuerySerializer,
    ScriptCreateRequestSerializer,
    ScriptDetailSerializer,
    ScriptSerializer,
    SheetQuerySerializer,
    SheetSerializer,
    StreamScriptRequestSerializer,
    StreamScriptSerializer,
    StudySerializer,
    VersionDetailSerializer,
    VersionSerializer,
)

LOCK_ERRORS = ERRORS | {
    400: OpenApiResponse(
        ApiErrorSerializer,
        description="Bad input (`invalid`), a version already locked, or compliance errors "
        "(`lint`, each in `messages`).",
    )
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX}


def _script(request: Request, pk: int) -> Script:
    return get_object_or_404(selectors.scripts_for_user(request.user), pk=pk)


def _version(script: Script, number: int) -> ScriptVersion:
    return get_object_or_404(script.versions, number=number)


def _line(script: Script, line_id: int) -> Line:
    return get_object_or_404(Line.objects.filter(segment__version__script=script), pk=line_id)


def _chosen(script: Script, query: dict, field: str) -> ScriptVersion | None:
    """The version the query string names in `field`, if it names one: a number the script
    does not have is bad input."""
    if field not in query:
        return None
    version = script.versions.filter(number=query[field]).first()
    if version is None:
        raise exceptions.ValidationError(
            {field: [_("This script has no version %(number)s.") % {"number": query[field]}]}
        )
    return version


def _newest(script: Script) -> ScriptVersion:
    return script.versions.order_by("-number").first()


def _query(serializer_class, request: Request) -> dict:
    form = serializer_class(data=request.query_params)
    form.is_valid(raise_exception=True)
    return form.validated_data


def _version_response(version: ScriptVersion) -> Response:
    return Response(
        VersionDetailSerializer(version, context={"segments": selectors.version_view(version)}).data
    )


# --- Scripts and versions --------------------------------------------------------------------


class ScriptListApi(PlanningApi, generics.ListAPIView):
    serializer_class = ScriptSerializer

    def get_queryset(self):
        return selectors.scripts_for_user(self.request.user).order_by("title", "pk")

    @extend_schema(summary="Scripts of your studios (all, for superusers)")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ScriptCreateRequestSerializer,
        responses={201: ScriptDetailSerializer} | ERRORS,
        summary="Start a script for a studio, with an empty first draft",
    )
    def post(self, request: Request) -> Response:
        form = ScriptCreateRequestSerializer(
            data=request.data, studios=room_selectors.studios_for_user(request.user)
        )
        form.is_valid(raise_exception=True)
        script = services.script_create(actor=request.user, **form.validated_data)
        return Response(ScriptDetailSerializer(script).data, status=status.HTTP_201_CREATED)


class ScriptDetailApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: ScriptDetailSerializer} | ERRORS, summary="A script and its versions"
    )
    def get(self, request: Request, pk: int) -> Response:
        script = get_object_or_404(
            selectors.scripts_for_user(request.user).prefetch_related(
                Prefetch("versions", ScriptVersion.objects.select_related("based_on"))
            ),
            pk=pk,
        )
        return Response(ScriptDetailSerializer(script).data)


class VersionDetailApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: VersionDetailSerializer} | ERRORS,
        summary="A version: segments, their lines with compliance findings, and cues",
    )
    def get(self, request: Request, pk: int, number: int) -> Response:
        return _version_response(_version(_script(request, pk), number))


class ScriptDraftApi(PlanningApi, APIView):
    @extend_schema(
        request=DraftRequestSerializer,
        responses={200: VersionDetailSerializer} | ERRORS,
        summary="The script's draft: the open one, or a new copy of the latest version",
        description="Segments, lines and cues keep their keys in the copy, so the next "
        "diff shows what the draft changed.",
    )
    def post(self, request: Request, pk: int) -> Response:
        script = _script(request, pk)
        form = DraftRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        draft = services.script_draft(
            actor=request.user, script=script, note=form.validated_data["note"]
        )
        return _version_response(draft)


class VersionLockApi(PlanningApi, APIView):
    @extend_schema(
        request=LockRequestSerializer,
        responses={200: VersionSerializer} | LOCK_ERRORS,
        summary="Lock a draft for rehearsal and air",
        description="Compliance errors refuse it (400 `lint`, each error in `messages`) "
        "unless `override_reason` says why to lock anyway; the reason is kept. A locked "
        "version never changes again.",
    )
    def post(self, request: Request, pk: int, number: int) -> Response:
        version = _version(_script(request, pk), number)
        form = LockRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        version = services.version_lock(
            actor=request.user,
            version=version,
            override_reason=form.validated_data["override_reason"],
        )
        return Response(VersionSerializer(version).data)


class ScriptImportApi(PlanningApi, APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={200: VersionDetailSerializer} | ERRORS,
        summary="Replace the draft with a 整场脚本 sheet (.csv or .xlsx)",
        description="All or nothing: any bad cell is a 400 `rows` naming every bad cell by "
        "row and column, and the draft is left as it was. Segments and lines matching the "
        "version before keep their keys, so the diff shows what the sheet changed.",
    )
    def post(self, request: Request, pk: int) -> Response:
        script = _script(request, pk)
        form = ImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        # One byte past the limit is enough for the parser to refuse the file.
        draft = services.script_import_file(
            actor=request.user,
            script=script,
            filename=upload.name,
            content=upload.read(sheets.MAX_BYTES + 1),
        )
        return _version_response(draft)


class _FileNegotiation(DefaultContentNegotiation):
    """The export answers with the file (`format` picks which kind) and its errors in JSON,
    whatever `format` and Accept say: DRF would otherwise take `?format=` as a renderer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ScriptExportApi(PlanningApi, APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _FileNegotiation

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, XLSX): OpenApiTypes.BINARY,
        }
        | ERRORS,
        summary="A version as the 整场脚本 table, .csv or .xlsx (default: the newest version)",
        description="Verbatim spans come back in 【】, so the file imports again unchanged.",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        script = _script(request, pk)
        query = _query(ExportQuerySerializer, request)
        version = _chosen(script, query, "version") or _newest(script)
        fmt = query["format"]
        body = table.to_xlsx(version) if fmt == "xlsx" else table.to_csv(version)
        response = HttpResponse(body, content_type=EXPORT_TYPES[fmt])
        response["Content-Disposition"] = (
            f'attachment; filename="script-{script.pk}-v{version.number}.{fmt}"'
        )
        return response


class ScriptDiffApi(PlanningApi, APIView):
    @extend_schema(
        parameters=[DiffQuerySerializer],
        responses={200: DiffSerializer} | ERRORS,
        summary="What changed between two versions, by segment, line and word",
        description="Each CJK character is its own word: 五折 → 六折 shows as 五 → 六.",
    )
    def get(self, request: Request, pk: int) -> Response:
        script = _script(request, pk)
        query = _query(DiffQuerySerializer, request)
        new = _chosen(script, query, "to") or _newest(script)
        old = _chosen(script, query, "from") or new.based_on or new
        diff = diff_versions(selectors.version_snapshot(old), selectors.version_snapshot(new))
        return Response(
            DiffSerializer(
                {
                    "from_version": old.number,
                    "to_version": new.number,
                    "is_empty": diff.is_empty,
                    "segments": diff.segments,
                }
            ).data
        )


# --- Lines -----------------------------------------------------------------------------------


class VersionLinesApi(PlanningApi, APIView):
    @extend_schema(
        request=LineCreateRequestSerializer,
        responses={201: LineSerializer} | ERRORS,
        summary="Add a line at the end of a segment of a draft",
    )
    def post(self, request: Request, pk: int, number: int) -> Response:
        version = _version(_script(request, pk), number)
        form = LineCreateRequestSerializer(data=request.data, segments=version.segments.all())
        form.is_valid(raise_exception=True)
        line = services.line_add(actor=request.user, **form.validated_data)
        return Response(LineSerializer(line).data, status=status.HTTP_201_CREATED)


class LineApi(PlanningApi, APIView):
    @extend_schema(
        request=LineUpdateRequestSerializer,
        responses={200: LineSerializer} | ERRORS,
        summary="Change a line of a draft",
        description="A line of a locked version is refused (400) and stays as it was.",
    )
    def patch(self, request: Request, pk: int, line_id: int) -> Response:
        line = _line(_script(request, pk), line_id)
        form = LineUpdateRequestSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        line = services.line_update(actor=request.user, line=line, **form.validated_data)
        return Response(LineSerializer(line).data)

    @extend_schema(
        responses={204: None} | ERRORS,
        summary="Remove a line of a draft",
        description="A line of a locked version is refused (400) and stays.",
    )
    def delete(self, request: Request, pk: int, line_id: int) -> Response:
        line = _line(_script(request, pk), line_id)
        services.line_remove(actor=request.user, line=line)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Streams ---------------------------------------------------------------------------------


def _stream_script_response(stream: Stream) -> Response:
    link = StreamScript.objects.filter(stream=stream).first()
    version = selectors.stream_script_version(stream)
    return Response(
        StreamScriptSerializer(
            {
                "stream": stream.pk,
                "script": link.script_id if link else None,
                "version": version.number if version else None,
            }
        ).data
    )


class StreamScriptApi(PlanningApi, APIView):
    @extend_schema(
        responses={200: StreamScriptSerializer} | ERRORS, summary="The script a stream runs"
    )
    def get(self, request: Request, pk: int) -> Response:
        return _stream_script_response(
            get_object_or_404(room_selectors.stream_list_for_user(request.user), pk=pk)
        )

    @extend_schema(
        request=StreamScriptRequestSerializer,
        responses={200: StreamScriptSerializer} | ERRORS,
        summary="Say which script a stream runs, or none",
        description="A stream running a script goes live only once the script has a "
        "locked version; it runs the latest one.",
    )
    def put(self, request: Request, pk: int) -> Response:
        stream = get_object_or_404(room_selectors.stream_list_for_user(request.user), pk=pk)
        form = StreamScriptRequestSerializer(
            data=request.data, scripts=selectors.scripts_for_user(request.user)
        )
        form.is_valid(raise_exception=True)
        services.stream_script_set(
            actor=request.user, stream=stream, script=form.validated_data["script"]
        )
        return _stream_script_response(stream)


# --- Memorisation ----------------------------------------------------------------------------


class ScriptSheetApi(PlanningApi, APIView):
    @extend_schema(
        parameters=[SheetQuerySerializer],
        responses={200: SheetSerializer} | ERRORS,
        summary="Your memorisation sheet for a role, and how much of it you know",
        description="Each of the role's lines after the tail of the line that cues it, "
        "with verbatim spans, product moments and whether you have mastered it. Default "
        "version: the latest locked one (the newest, while none is locked).",
    )
    def get(self, request: Request, pk: int) -> Response:
        script = _script(request, pk)
        query = _query(SheetQuerySerializer, request)
        version = (
            _chosen(script, query, "version")
            or script.versions.filter(status=VersionStatus.LOCKED).order_by("-number").first()
            or _newest(script)
        )
        role = query["role"]
        mastered, total = selectors.mastery(request.user, version, role)
        return Response(
            SheetSerializer(
                {
                    "version": version,
                    "role": role,
                    "segments": selectors.memorisation_sheet(version, role, person=request.user),
                    "mastery": {"mastered": mastered, "total": total},
                }
            ).data
        )


class LineReviewApi(PlanningApi, APIView):
    @extend_schema(
        request=ReviewRequestSerializer,
        responses={200: LineProgressSerializer} | ERRORS,
        summary="Grade one recall of a line of a locked version; schedules the next",
    )
    def post(self, request: Request, pk: int, line_id: int) -> Response:
        line = _line(_script(request, pk), line_id)
        form = ReviewRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        progress = services.line_review(
            actor=request.user, line=line, rating=form.validated_data["rating"]
        )
        return Response(LineProgressSerializer(progress).data)


class ScriptAcknowledgeApi(PlanningApi, APIView):
    @extend_schema(
        request=AcknowledgeRequestSerializer,
        responses={200: StudySerializer} | ERRORS,
        summary="Acknowledge what changed for you up to the latest locked version",
        description="Your progress starts again on your own lines that changed; every "
        "other line keeps it.",
    )
    def post(self, request: Request, pk: int) -> Response:
        script = _script(request, pk)
        form = AcknowledgeRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        study = services.version_acknowledge(
            actor=request.user, script=script, role=form.validated_data["role"]
        )
        return Response(StudySerializer(study).data)


class ScriptChangesApi(PlanningApi, APIView):
    @extend_schema(
        parameters=[RoleQuerySerializer],
        responses={200: ChangesSerializer} | ERRORS,
        summary="What changed for you since the version you acknowledged",
    )
    def get(self, request: Request, pk: int) -> Response:
        script = _script(request, pk)
        role = _query(RoleQuerySerializer, request)["role"]
        latest, changes = selectors.changes_for(request.user, script, role)
        return Response(
            ChangesSerializer(
                {
                    "latest": latest.number if latest else None,
                    "since": selectors.acknowledged_version(request.user, script),
                    "changes": changes,
                }
            ).data
        )
