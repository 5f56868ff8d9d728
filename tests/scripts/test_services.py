from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from rooms import readiness
from rooms import services as room_services
from rooms.models import CrewRole, Role, StreamStatus
from scripts import selectors, services
from scripts.models import Cue, Line, Segment, VersionStatus
from tests.factories import StreamFactory, StreamTemplateFactory, StudioFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def producer():
    return UserFactory(roles=[Role.PRODUCER])


@pytest.fixture
def script(producer):
    script = services.script_create(
        actor=producer, studio=StudioFactory(members=[producer]), title="Beauty Night"
    )
    version = script.versions.get()
    opening = services.segment_add(actor=producer, version=version, title="开场 Opening")
    line = services.line_add(
        actor=producer,
        segment=opening,
        role=CrewRole.HOST,
        text="家人们，今天直播价只要99元！",
        verbatim=[[11, 14]],
    )
    services.line_add(actor=producer, segment=opening, role=CrewRole.CO_HOST, text="真的假的？")
    services.cue_add(actor=producer, line=line, kind="pin", link_number=2)
    return script


def _locked(producer, script):
    return services.version_lock(actor=producer, version=script.versions.get(number=1))


# --- locking --------------------------------------------------------------------------------


def test_a_locked_version_refuses_edits_through_the_services(producer, script):
    version = _locked(producer, script)
    line = Line.objects.filter(segment__version=version).first()

    with pytest.raises(ValidationError, match="locked"):
        services.line_update(actor=producer, line=line, text="改了")
    with pytest.raises(ValidationError, match="locked"):
        services.segment_add(actor=producer, version=version, title="More")


@pytest.mark.parametrize(
    "write",
    [
        lambda v: Line.objects.filter(segment__version=v).update(text="改了"),
        lambda v: Line.objects.filter(segment__version=v).delete(),
        lambda v: Segment.objects.filter(version=v).update(title="Renamed"),
        lambda v: Cue.objects.filter(line__segment__version=v).update(note="x"),
        lambda v: Line.objects.create(
            segment=v.segments.first(), position=9, role="host", text="新"
        ),
        lambda v: type(v).objects.filter(pk=v.pk).update(status=VersionStatus.DRAFT),
        lambda v: type(v).objects.filter(pk=v.pk).delete(),
    ],
    ids=["edit line", "delete lines", "rename segment", "edit cue", "add line", "unlock", "delete"],
)
def test_the_database_refuses_any_change_to_a_locked_version_whatever_writes_it(
    producer, script, write
):
    version = _locked(producer, script)

    with pytest.raises(IntegrityError, match="is locked"), transaction.atomic():
        write(version)

    assert Line.objects.get(segment__version=version, role="host").text.startswith("家人们")


def test_a_hand_written_update_of_a_locked_line_is_refused(producer, script):
    version = _locked(producer, script)

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE scripts_line SET text = 'x' WHERE segment_id IN "
            "(SELECT id FROM scripts_segment WHERE version_id = %s)",
            [version.pk],
        )


def test_the_admin_shows_a_locked_version_but_cannot_change_it(producer, script):
    version = _locked(producer, script)
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    shown = client.get(f"/admin/scripts/scriptversion/{version.pk}/change/")
    changed = client.post(f"/admin/scripts/scriptversion/{version.pk}/change/", {"note": "sneaky"})

    assert shown.status_code == 200
    assert changed.status_code == 403
    version.refresh_from_db()
    assert version.note == ""


def test_compliance_errors_stop_a_version_locking_unless_overridden_with_a_reason(producer):
    script = services.script_create(
        actor=producer, studio=StudioFactory(members=[producer]), title="Claims"
    )
    version = script.versions.get()
    segment = services.segment_add(actor=producer, version=version, title="Push")
    services.line_add(
        actor=producer, segment=segment, role="host", text="全网最低价，错过再等一年！"
    )

    with pytest.raises(ValidationError) as refused:
        services.version_lock(actor=producer, version=version)
    locked = services.version_lock(
        actor=producer, version=version, override_reason="Legal approved the price claim"
    )

    assert "全网最低" in " ".join(refused.value.messages)
    assert locked.status == VersionStatus.LOCKED
    assert locked.lint_override_reason == "Legal approved the price claim"


def test_only_the_studios_producers_write_scripts(script):
    outsider = UserFactory(roles=[Role.PRODUCER])

    with pytest.raises(PermissionDenied):
        services.script_draft(actor=outsider, script=script)


# --- drafts ---------------------------------------------------------------------------------


def test_a_new_draft_copies_the_locked_version_keeping_every_key(producer, script):
    locked = _locked(producer, script)

    draft = services.script_draft(actor=producer, script=script, note="Price change")
    again = services.script_draft(actor=producer, script=script)

    assert draft == again
    assert (draft.number, draft.status, draft.based_on) == (2, VersionStatus.DRAFT, locked)
    assert selectors.version_snapshot(draft) == selectors.version_snapshot(locked)
    assert Cue.objects.filter(line__segment__version=draft).count() == 1


def test_editing_a_line_keeps_its_verbatim_span_on_the_same_words(producer, script):
    _locked(producer, script)
    draft = services.script_draft(actor=producer, script=script)
    line = Line.objects.get(segment__version=draft, role="host")

    edited = services.line_update(actor=producer, line=line, text="家人们！今天直播价只要99元！")

    assert edited.text[slice(*edited.verbatim[0])] == "99元"


# --- readiness ------------------------------------------------------------------------------


def test_a_stream_running_a_draft_script_is_not_ready_and_is_once_it_is_locked(producer, script):
    stream = StreamFactory(studio=script.studio, status=StreamStatus.SCHEDULED)
    services.stream_script_set(actor=producer, stream=stream, script=script)

    before = {item.key: item.done for item in readiness.checklist(stream)}
    _locked(producer, script)
    after = {item.key: item.done for item in readiness.checklist(stream)}
    services.script_draft(actor=producer, script=script)
    stale = {item.key: item.done for item in readiness.checklist(stream)}

    assert (before["script:locked"], after["script:locked"], stale["script:locked"]) == (
        False,
        True,
        False,
    )


def test_a_stream_without_a_script_has_no_script_item(producer):
    stream = StreamFactory(studio=StudioFactory(members=[producer]))

    assert "script:locked" not in {item.key for item in readiness.checklist(stream)}


def test_a_draft_script_keeps_a_person_from_taking_the_stream_live(producer, script):
    stream = StreamFactory(studio=script.studio, required_roles=[])
    services.stream_script_set(actor=producer, stream=stream, script=script)

    with pytest.raises(ValidationError, match="Script locked"):
        room_services.stream_transition(actor=producer, stream=stream, to=StreamStatus.LIVE)


def test_segments_have_a_planned_duration_and_may_start_on_the_clock(producer, script):
    draft = script.versions.get()

    timed = services.segment_add(
        actor=producer,
        version=draft,
        title="21:00 秒杀 Flash sale",
        planned_duration=timedelta(minutes=8),
        hard_start=timedelta(hours=1),
    )

    assert (timed.position, timed.hard_start) == (2, timedelta(hours=1))


def test_streams_planned_from_a_template_run_its_script(producer, script):
    template = StreamTemplateFactory(studio=script.studio)
    services.template_script_set(actor=producer, template=template, script=script)

    (stream,) = room_services.streams_from_template(
        actor=producer,
        template=template,
        starts=[timezone.now() + timedelta(days=3)],
    )

    assert stream.script_link.script == script
