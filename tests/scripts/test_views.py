import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rooms import readiness
from rooms.models import Role
from scripts.models import Line, Script, VersionStatus
from tests.factories import StreamFactory, StudioFactory, UserFactory

pytestmark = pytest.mark.django_db

SHEET = "\n".join(
    [
        "时间段,环节,链接号,主播话术,中控操作",
        "20:00-20:05,开场,,家人们晚上好！,",
        "20:05-20:15,补水面膜,1号,这款面膜【直播价9.9元】全网最低,上架1号讲解",
    ]
).encode()


def _producer():
    producer = UserFactory(roles=[Role.PRODUCER])
    client = Client()
    client.force_login(producer)
    return client, StudioFactory(members=[producer])


def _upload(content: bytes, name: str = "script.csv"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def _imported(client, studio) -> Script:
    client.post("/scripts/", {"studio": studio.pk, "title": "Beauty Night"})
    script = Script.objects.get(title="Beauty Night")
    client.post(f"/scripts/{script.pk}/import/", {"file": _upload(SHEET)})
    return script


def test_a_producer_imports_a_sheet_and_sees_verbatim_spans_and_compliance_flags():
    client, studio = _producer()
    script = _imported(client, studio)

    page = client.get(f"/scripts/{script.pk}/").content.decode()

    assert '<mark class="verbatim">直播价9.9元</mark>' in page
    assert 'class="lint lint-error"' in page
    assert "1 compliance error" in page


def test_a_version_with_compliance_errors_locks_only_with_a_reason():
    client, studio = _producer()
    script = _imported(client, studio)

    refused = client.post(f"/scripts/{script.pk}/v1/lock/", {})
    locked = client.post(
        f"/scripts/{script.pk}/v1/lock/", {"override_reason": "Price claim checked by legal"}
    )

    assert refused.status_code == 400
    assert "Compliance errors stop this version from locking" in refused.content.decode()
    assert locked.status_code == 302
    assert script.versions.get(number=1).status == VersionStatus.LOCKED


def test_the_diff_page_shows_the_one_character_that_changed():
    client, studio = _producer()
    script = _imported(client, studio)
    client.post(f"/scripts/{script.pk}/v1/lock/", {"override_reason": "Checked by legal"})
    client.post(
        f"/scripts/{script.pk}/import/",
        {"file": _upload(SHEET.replace("9.9元".encode(), "8.9元".encode()))},
    )

    page = client.get(f"/scripts/{script.pk}/diff/?from=1&to=2").content.decode()

    assert "<del>9.9</del><ins>8.9</ins>" in page


def test_a_bad_sheet_imports_nothing_and_says_which_cells():
    client, studio = _producer()
    script = _imported(client, studio)
    bad = "时间段,环节,链接号,主播话术\n8pm,开场,,家人们\n".encode()

    response = client.post(f"/scripts/{script.pk}/import/", {"file": _upload(bad)})

    assert response.status_code == 400
    assert "Row 2, 时间段 Time" in response.content.decode()
    assert script.versions.get(number=1).segments.count() == 2


def test_a_script_exports_as_a_sheet():
    client, studio = _producer()
    script = _imported(client, studio)

    response = client.get(f"/scripts/{script.pk}/v1.csv")

    assert response["Content-Type"].startswith("text/csv")
    assert "家人们晚上好！" in response.content.decode("utf-8-sig")


def test_a_stream_runs_a_script_and_its_checklist_asks_for_the_lock():
    client, studio = _producer()
    script = _imported(client, studio)
    stream = StreamFactory(studio=studio, status="scheduled")

    client.post(f"/scripts/{script.pk}/stream/", {"stream": stream.pk})

    items = {item.key: item.done for item in readiness.checklist(stream)}
    assert items["script:locked"] is False


def test_someone_outside_the_studio_cannot_open_the_script():
    client, studio = _producer()
    script = _imported(client, studio)
    outsider = Client()
    outsider.force_login(UserFactory(roles=[Role.PRODUCER]))

    assert outsider.get(f"/scripts/{script.pk}/").status_code == 404


def _cells(**columns) -> dict:
    """One editor row per position of the lists given, every other column empty."""
    count = max(len(values) for values in columns.values())
    names = (
        "time",
        "segment",
        "product",
        "host",
        "co_host",
        "actor",
        "operator",
        "floor",
        "props",
        "notes",
    )
    return {f"cell_{name}": list(columns.get(name, [""] * count)) for name in names}


def test_the_table_editor_saves_the_draft_and_a_bad_row_saves_nothing():
    client, studio = _producer()
    script = _imported(client, studio)
    client.post(f"/scripts/{script.pk}/v1/lock/", {"override_reason": "Checked by legal"})

    shown = client.get(f"/scripts/{script.pk}/edit/")
    refused = client.post(
        f"/scripts/{script.pk}/edit/",
        _cells(time=["20:00-20:05", "later"], segment=["开场", ""], host=["大家好", "欢迎"]),
    )
    saved = client.post(
        f"/scripts/{script.pk}/edit/",
        _cells(time=["20:00-20:05", ""], segment=["开场", ""], host=["大家好", "欢迎"]),
    )
    draft = script.versions.get(number=2)

    assert "家人们晚上好！" in shown.content.decode()
    assert refused.status_code == 400
    assert "Row 3, 时间段 Time" in refused.content.decode()
    assert saved.status_code == 302
    assert list(Line.objects.filter(segment__version=draft).values_list("text", flat=True)) == [
        "大家好",
        "欢迎",
    ]


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/scripts/{pk}/?version=²", {}),
        ("get", "/scripts/{pk}/practice/?role=host&segment=²&done=²", {}),
        ("post", "/scripts/{pk}/practice/", {"line": "²", "rating": "3", "done": "abc"}),
        ("post", "/scripts/speaking-rate/", {"chars_per_minute": "²"}),
        ("post", "/scripts/{pk}/edit/", {"cell_time": ["a", "b"], "cell_segment": ["x"]}),
        ("post", "/scripts/{pk}/template/", {"template": "²"}),
    ],
    ids=["version", "practice-query", "practice-post", "speaking-rate", "editor", "template"],
)
def test_malformed_numbers_and_columns_are_refused_not_an_error(method, path, data):
    client, studio = _producer()
    script = _imported(client, studio)
    client.post(f"/scripts/{script.pk}/v1/lock/", {"override_reason": "Checked by legal"})

    response = getattr(client, method)(path.format(pk=script.pk), data)

    assert response.status_code in (200, 302, 400, 404)


def test_a_link_number_beyond_any_cart_is_a_bad_cell():
    client, studio = _producer()
    script = _imported(client, studio)
    sheet = "时间段,环节,链接号,主播话术\n20:00-20:05,开场,99999999999号,家人们\n".encode()

    response = client.post(f"/scripts/{script.pk}/import/", {"file": _upload(sheet)})

    assert response.status_code == 400
    assert "Row 2, 链接号 Link" in response.content.decode()
