import io

import pytest
from openpyxl import load_workbook

from rooms.lineup_import import LineupRowsInvalid
from rooms.models import CrewRole, Role
from scripts import selectors, services, table
from scripts.diff import diff_versions
from scripts.models import Cue, CueKind, Line, VersionStatus
from tests.factories import StudioFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = "时间段,环节,链接号,主播话术,副播话术,中控操作,场控/氛围,道具,备注"
SHEET = "\n".join(
    [
        HEADER,
        "20:00-20:05,开场,,家人们晚上好！,欢迎新进来的宝宝,,欢呼,,",
        '20:05-20:15,补水面膜,1号,"这款面膜【直播价9.9元】\n只有【2000份】",真的假的？,"上架1号讲解\n发券",音乐起,面膜样品,',
        ",,,库存不多了！,,,,,",
    ]
).encode()


@pytest.fixture
def producer():
    return UserFactory(roles=[Role.PRODUCER])


@pytest.fixture
def script(producer):
    return services.script_create(
        actor=producer, studio=StudioFactory(members=[producer]), title="Beauty Night"
    )


def test_a_sheet_in_the_table_shape_becomes_segments_lines_spans_and_cues(producer, script):
    draft = services.script_import_file(
        actor=producer, script=script, filename="script.csv", content=SHEET
    )

    segments = list(draft.segments.order_by("position"))
    lines = list(
        Line.objects.filter(segment__version=draft).order_by("segment__position", "position")
    )
    mask_line = lines[2]
    assert [
        (s.title, int(s.planned_duration.total_seconds() // 60), s.link_number) for s in segments
    ] == [
        ("开场", 5, None),
        ("补水面膜", 10, 1),
    ]
    assert [(line.role, line.text) for line in lines] == [
        (CrewRole.HOST, "家人们晚上好！"),
        (CrewRole.CO_HOST, "欢迎新进来的宝宝"),
        (CrewRole.HOST, "这款面膜直播价9.9元"),
        (CrewRole.HOST, "只有2000份"),
        (CrewRole.CO_HOST, "真的假的？"),
        (CrewRole.HOST, "库存不多了！"),
    ]
    assert [mask_line.text[a:b] for a, b in mask_line.verbatim] == ["直播价9.9元"]
    assert sorted(
        (c.kind, c.crew_role, c.link_number) for c in Cue.objects.filter(line=mask_line)
    ) == [
        (CueKind.COUPON, CrewRole.ROOM_OPERATOR, 1),
        (CueKind.MUSIC, CrewRole.FLOOR_CONTROLLER, None),
        (CueKind.PIN, CrewRole.ROOM_OPERATOR, 1),
    ]
    assert segments[1].notes == "面膜样品"


def test_a_sheet_with_bad_rows_imports_nothing_and_names_each_bad_cell(producer, script):
    bad = "\n".join(
        [
            HEADER,
            "20:00-20:05,开场,,家人们晚上好！,,,,,",
            "8pm,补水面膜,one,这款面膜,,改价,,,",
            ",,,,,讲解,,,",
        ]
    ).encode()

    with pytest.raises(LineupRowsInvalid) as raised:
        services.script_import_file(actor=producer, script=script, filename="s.csv", content=bad)

    assert {(e.row, e.column) for e in raised.value.row_errors} == {
        (3, table.LABELS["time"]),
        (3, table.LABELS["product"]),
        (3, table.LABELS["operator"]),
        (4, table.LABELS["operator"]),
    }
    assert not Line.objects.filter(segment__version__script=script).exists()


def test_reimporting_an_edited_sheet_keeps_line_keys_so_the_diff_shows_one_character(
    producer, script
):
    first = services.script_import_file(
        actor=producer, script=script, filename="s.csv", content=SHEET
    )
    services.version_lock(actor=producer, version=first)
    edited = SHEET.replace("直播价9.9元".encode(), "直播价8.9元".encode())

    second = services.script_import_file(
        actor=producer, script=script, filename="s.csv", content=edited
    )
    diff = diff_versions(selectors.version_snapshot(first), selectors.version_snapshot(second))

    (changed,) = diff.lines_for(diff.changed_line_keys())
    assert (second.number, second.status) == (2, VersionStatus.DRAFT)
    assert [op for op in changed.ops if op[0] != "equal"] == [("delete", "9.9"), ("insert", "8.9")]


def test_a_version_exports_to_a_sheet_that_imports_back_the_same(producer, script):
    draft = services.script_import_file(
        actor=producer, script=script, filename="s.csv", content=SHEET
    )
    services.version_lock(actor=producer, version=draft)

    workbook = load_workbook(io.BytesIO(table.to_xlsx(draft)))
    again = services.script_import_file(
        actor=producer, script=script, filename="again.csv", content=table.to_csv(draft)
    )

    assert workbook.active["B2"].value == "开场"
    assert diff_versions(
        selectors.version_snapshot(draft), selectors.version_snapshot(again)
    ).is_empty


def test_a_sheet_that_repeats_a_segment_name_imports_again_and_keeps_each_segments_key(
    producer, script
):
    sheet = "\n".join(
        [
            HEADER,
            "20:00-20:05,讲解,,第一次讲解,,,,,",
            "20:05-20:10,福利,,福利时间,,,,,",
            "20:10-20:15,讲解,,第二次讲解,,,,,",
        ]
    ).encode()
    first = services.script_import_file(
        actor=producer, script=script, filename="s.csv", content=sheet
    )
    services.version_lock(actor=producer, version=first)

    second = services.script_import_file(
        actor=producer,
        script=script,
        filename="s.csv",
        content=sheet.replace("第二次".encode(), "再次".encode()),
    )

    keys = lambda v: [s.key for s in v.segments.order_by("position")]  # noqa: E731
    assert keys(second) == keys(first)
    assert len(set(keys(second))) == 3
