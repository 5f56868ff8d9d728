"""The scripts API: scripts, versions, lines, import and export, diffs, streams, memorisation."""

from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from rooms.models import Role, Studio, User
from scripts import services
from scripts.models import Line, Script, ScriptVersion, StreamScript
from tests.factories import StreamFactory, StudioFactory, UserFactory

pytestmark = pytest.mark.django_db

SHEET = "\n".join(
    [
        "时间段,环节,链接号,主播话术,副播话术,中控操作",
        "20:00-20:05,开场,,家人们晚上好！今天全场五折,真的吗？,",
        "20:05-20:15,补水面膜,1号,这款面膜【直播价9.9元】,,上架1号讲解",
    ]
)
CLAIMS = SHEET.replace("【直播价9.9元】", "【直播价9.9元】全网最低")


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _upload(text: str, name: str = "script.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def _post(client: Client, path: str, body: object = None):
    return client.post(f"/api/v1/{path}", body or {}, content_type="application/json")


def _patch(client: Client, path: str, body: object):
    return client.patch(f"/api/v1/{path}", body, content_type="application/json")


def _put(client: Client, path: str, body: object):
    return client.put(f"/api/v1/{path}", body, content_type="application/json")


def _import(client: Client, script: Script, text: str, name: str = "script.csv"):
    return client.post(f"/api/v1/scripts/{script.pk}/import", {"file": _upload(text, name)})


@dataclass
class Team:
    producer: User
    host: User
    studio: Studio
    client: Client


@pytest.fixture
def team() -> Team:
    producer = UserFactory(roles=[Role.PRODUCER])
    host = UserFactory(roles=[Role.HOST])
    return Team(
        producer=producer,
        host=host,
        studio=StudioFactory(members=[producer, host]),
        client=_client(producer),
    )


def _script(team: Team, text: str = SHEET) -> Script:
    """A script whose first draft holds the sheet."""
    script = services.script_create(actor=team.producer, studio=team.studio, title="美妆专场")
    services.script_import_file(
        actor=team.producer, script=script, filename="s.csv", content=text.encode()
    )
    return script


def _locked(team: Team, text: str = SHEET) -> ScriptVersion:
    script = _script(team, text)
    return services.version_lock(
        actor=team.producer, version=script.versions.get(), override_reason="Checked by legal"
    )


def _host_line(version: ScriptVersion) -> Line:
    return Line.objects.get(segment__version=version, role="host", text__startswith="家人们")


# --- Writing and locking ---------------------------------------------------------------------


def test_a_producer_creates_a_script_imports_a_sheet_and_locks_it(team):
    created = _post(team.client, "scripts/", {"studio": team.studio.pk, "title": "美妆专场"})
    script_id = created.json()["id"]

    imported = team.client.post(f"/api/v1/scripts/{script_id}/import", {"file": _upload(SHEET)})
    locked = _post(team.client, f"scripts/{script_id}/versions/1/lock")
    shown = team.client.get(f"/api/v1/scripts/{script_id}/")

    assert created.status_code == 201
    assert created.json()["versions"][0]["status"] == "draft"
    assert imported.status_code == 200
    segments = imported.json()["segments"]
    assert [s["title"] for s in segments] == ["开场", "补水面膜"]
    mask = segments[1]["lines"][0]
    assert (mask["text"], mask["verbatim"]) == ("这款面膜直播价9.9元", [[4, 11]])
    assert [(c["kind"], c["link_number"]) for c in mask["cues"]] == [("pin", 1)]
    assert locked.status_code == 200
    assert locked.json()["status"] == "locked"
    assert shown.json()["versions"][0]["locked_at"] is not None


def test_a_line_of_a_locked_version_cannot_change_through_the_api(team):
    version = _locked(team)
    line = _host_line(version)
    script = version.script

    patched = _patch(team.client, f"scripts/{script.pk}/lines/{line.pk}/", {"text": "改了"})
    deleted = team.client.delete(f"/api/v1/scripts/{script.pk}/lines/{line.pk}/")
    added = _post(
        team.client,
        f"scripts/{script.pk}/versions/1/lines",
        {"segment": line.segment_id, "role": "host", "text": "新的一句"},
    )
    relocked = _post(team.client, f"scripts/{script.pk}/versions/1/lock")

    assert (patched.status_code, deleted.status_code, added.status_code) == (400, 400, 400)
    assert relocked.status_code == 400
    assert "locked" in patched.json()["detail"]
    assert {patched.json()["code"], deleted.json()["code"], added.json()["code"]} == {"locked"}
    line.refresh_from_db()
    assert line.text == "家人们晚上好！今天全场五折"
    assert Line.objects.filter(segment__version=version).count() == 3


def test_a_producer_changes_adds_and_removes_lines_of_a_draft(team):
    script = _script(team)
    draft = script.versions.get()
    line = _host_line(draft)

    patched = _patch(
        team.client,
        f"scripts/{script.pk}/lines/{line.pk}/",
        {"text": "家人们好！今天全场五折", "verbatim": [[7, 11]], "direction": "Smile"},
    )
    added = _post(
        team.client,
        f"scripts/{script.pk}/versions/1/lines",
        {"segment": line.segment_id, "role": "co_host", "text": "五折！", "verbatim": [[0, 2]]},
    )
    deleted = team.client.delete(f"/api/v1/scripts/{script.pk}/lines/{added.json()['id']}/")

    assert patched.status_code == 200
    assert patched.json()["verbatim"] == [[7, 11]]
    assert added.status_code == 201
    assert added.json()["position"] == 3
    assert deleted.status_code == 204
    line.refresh_from_db()
    assert (line.text, line.direction) == ("家人们好！今天全场五折", "Smile")
    assert Line.objects.filter(segment__version=draft).count() == 3


def test_compliance_errors_refuse_the_lock_until_a_reason_is_given(team):
    script = _script(team, CLAIMS)

    refused = _post(team.client, f"scripts/{script.pk}/versions/1/lock")
    locked = _post(
        team.client,
        f"scripts/{script.pk}/versions/1/lock",
        {"override_reason": "Legal approved the price claim"},
    )

    assert refused.status_code == 400
    assert refused.json()["code"] == "lint"
    assert any("全网最低" in message for message in refused.json()["messages"])
    assert locked.status_code == 200
    assert locked.json()["lint_override_reason"] == "Legal approved the price claim"


def test_the_version_shows_each_lines_compliance_findings(team):
    script = _script(team, CLAIMS)

    shown = team.client.get(f"/api/v1/scripts/{script.pk}/versions/1/")

    mask = shown.json()["segments"][1]["lines"][0]
    assert [(f["term"], f["severity"]) for f in mask["findings"]] == [("全网最低", "error")]


def test_a_bad_sheet_is_refused_naming_its_row_and_column_and_imports_nothing(team):
    script = services.script_create(actor=team.producer, studio=team.studio, title="美妆专场")
    bad = SHEET.replace("20:05-20:15", "8点")

    refused = _import(team.client, script, bad)

    assert refused.status_code == 400
    assert refused.json()["code"] == "rows"
    assert refused.json()["errors"] == [
        {"row": 3, "column": "时间段 Time", "message": "Write the slot as 20:00-20:05."}
    ]
    assert not script.versions.get().segments.exists()


def test_a_file_that_is_no_sheet_is_refused(team):
    script = services.script_create(actor=team.producer, studio=team.studio, title="美妆专场")

    refused = _import(team.client, script, "hello", name="notes.txt")

    assert refused.status_code == 400
    assert refused.json()["code"] == "rows"
    assert refused.json()["errors"][0]["row"] == 0


def test_a_new_draft_copies_the_locked_version(team):
    version = _locked(team)

    drafted = _post(team.client, f"scripts/{version.script_id}/draft", {"note": "Price change"})

    assert drafted.status_code == 200
    assert (drafted.json()["number"], drafted.json()["based_on"]) == (2, 1)
    assert drafted.json()["note"] == "Price change"
    assert drafted.json()["segments"][0]["lines"][0]["key"] == str(_host_line(version).key)


# --- Export and diff -------------------------------------------------------------------------


def test_a_version_exports_as_the_sheet_it_was_imported_from(team):
    script = _script(team)

    csv = team.client.get(f"/api/v1/scripts/{script.pk}/export?version=1&format=csv")
    xlsx = team.client.get(f"/api/v1/scripts/{script.pk}/export?format=xlsx")

    assert csv.status_code == 200
    assert csv["Content-Type"].startswith("text/csv")
    assert "这款面膜【直播价9.9元】" in csv.content.decode("utf-8-sig")
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
    assert xlsx["Content-Disposition"] == f'attachment; filename="script-{script.pk}-v1.xlsx"'


def test_the_diff_shows_the_one_character_that_changed(team):
    version = _locked(team)
    services.script_import_file(
        actor=team.producer,
        script=version.script,
        filename="s.csv",
        content=SHEET.replace("五折", "六折").encode(),
    )

    diff = team.client.get(f"/api/v1/scripts/{version.script_id}/diff?from=1&to=2")

    body = diff.json()
    changed = [
        line
        for segment in body["segments"]
        for line in segment["lines"]
        if line["status"] != "unchanged"
    ]
    assert diff.status_code == 200
    assert (body["from_version"], body["to_version"], body["is_empty"]) == (1, 2, False)
    assert [line["status"] for line in changed] == ["changed"]
    assert changed[0]["ops"] == [
        {"op": "equal", "text": "家人们晚上好！今天全场"},
        {"op": "delete", "text": "五"},
        {"op": "insert", "text": "六"},
        {"op": "equal", "text": "折"},
    ]


def test_the_diff_defaults_to_the_newest_version_against_the_one_it_was_drafted_from(team):
    version = _locked(team)
    services.script_draft(actor=team.producer, script=version.script)

    diff = team.client.get(f"/api/v1/scripts/{version.script_id}/diff")

    assert diff.status_code == 200
    assert (diff.json()["from_version"], diff.json()["to_version"]) == (1, 2)
    assert diff.json()["is_empty"] is True


# --- Who may see and do what -----------------------------------------------------------------


def test_a_script_of_another_studio_is_not_found(team):
    script = _script(team)
    line = _host_line(script.versions.get())
    outsider = _client(UserFactory(roles=[Role.PRODUCER]))

    answers = [
        outsider.get(f"/api/v1/scripts/{script.pk}/"),
        outsider.get(f"/api/v1/scripts/{script.pk}/versions/1/"),
        _patch(outsider, f"scripts/{script.pk}/lines/{line.pk}/", {"text": "改了"}),
        outsider.get(f"/api/v1/scripts/{script.pk}/sheet"),
        _post(outsider, f"scripts/{script.pk}/versions/1/lock"),
    ]
    listed = outsider.get("/api/v1/scripts/")

    assert [answer.status_code for answer in answers] == [404] * 5
    assert answers[0].json()["code"] == "not_found"
    assert listed.json()["count"] == 0


def test_a_host_reads_the_script_but_may_not_change_it(team):
    script = _script(team)
    line = _host_line(script.versions.get())
    host = _client(team.host)

    shown = host.get(f"/api/v1/scripts/{script.pk}/versions/1/")
    patched = _patch(host, f"scripts/{script.pk}/lines/{line.pk}/", {"text": "改了"})
    locked = _post(host, f"scripts/{script.pk}/versions/1/lock")

    assert shown.status_code == 200
    assert (patched.status_code, patched.json()["code"]) == (403, "permission_denied")
    assert locked.status_code == 403
    line.refresh_from_db()
    assert line.text == "家人们晚上好！今天全场五折"


def test_only_your_own_studios_take_new_scripts(team):
    other = StudioFactory()

    refused = _post(team.client, "scripts/", {"studio": other.pk, "title": "Not mine"})
    host = _post(_client(team.host), "scripts/", {"studio": team.studio.pk, "title": "Mine"})

    assert (refused.status_code, refused.json()["code"]) == (400, "invalid")
    assert "studio" in refused.json()["fields"]
    assert host.status_code == 403
    assert not Script.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("lines/{line}/", {"verbatim": [[0, 99]]}, "verbatim"),
        ("lines/{line}/", {"verbatim": [[3]]}, "verbatim"),
        ("lines/{line}/", {"verbatim": "all"}, "verbatim"),
        ("lines/{line}/", {"role": "dj"}, "role"),
        ("lines/{line}/", {"text": ""}, "text"),
        ("lines/{line}/", {"text": "a\x00b"}, "text"),
        ("lines/{line}/", {"direction": "x" * 301}, "direction"),
    ],
    ids=["span outside", "half a span", "not spans", "role", "blank", "nul", "long direction"],
)
def test_a_bad_line_change_is_a_400_naming_the_field(team, path, body, field):
    script = _script(team)
    line = _host_line(script.versions.get())

    refused = _patch(team.client, f"scripts/{script.pk}/" + path.format(line=line.pk), body)

    assert refused.status_code == 400
    assert field in refused.json()["fields"]
    line.refresh_from_db()
    assert line.text == "家人们晚上好！今天全场五折"


@pytest.mark.parametrize(
    "query",
    [
        "diff?from=abc",
        "diff?to=99",
        "diff?from=0",
        "diff?to=99999999999999999999",
        "export?format=pdf",
        "export?version=7",
        "sheet?role=dj",
        "sheet?version=x",
        "changes?role=dj",
    ],
)
def test_a_bad_query_is_a_400(team, query):
    script = _script(team)

    refused = team.client.get(f"/api/v1/scripts/{script.pk}/{query}")

    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "scripts/99999999999999999999/"),
        ("get", "scripts/{script}/versions/2/"),
        ("get", "scripts/{script}/versions/99999999999/"),
        ("patch", "scripts/{script}/lines/99999999999999999999/"),
        ("post", "scripts/{script}/versions/3/lock"),
        ("get", "streams/99999999999/script"),
    ],
)
def test_what_does_not_exist_is_not_found(team, method, path):
    script = _script(team)

    missing = getattr(team.client, method)(
        f"/api/v1/{path.format(script=script.pk)}", {}, content_type="application/json"
    )

    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_bad_writes_are_400s(team):
    script = _script(team)
    line = _host_line(script.versions.get())

    answers = [
        _post(team.client, f"scripts/{script.pk}/versions/1/lines", {"segment": 0, "text": "x"}),
        _post(team.client, f"scripts/{script.pk}/versions/1/lines", ["not", "an", "object"]),
        team.client.post(f"/api/v1/scripts/{script.pk}/import", {}),
        _post(team.client, f"scripts/{script.pk}/lines/{line.pk}/review", {"rating": 5}),
        _post(team.client, f"scripts/{script.pk}/acknowledge", {"role": "dj"}),
        _post(team.client, f"scripts/{script.pk}/versions/1/lock", {"override_reason": 5 * [1]}),
        team.client.post(
            f"/api/v1/scripts/{script.pk}/draft", "{not json", content_type="application/json"
        ),
    ]

    assert [answer.status_code for answer in answers] == [400] * len(answers)
    assert {answer.json()["code"] for answer in answers} <= {"invalid", "parse_error"}


# --- Streams ---------------------------------------------------------------------------------


def test_a_producer_says_which_script_a_stream_runs(team):
    version = _locked(team)
    stream = StreamFactory(studio=team.studio)

    set_ = _put(team.client, f"streams/{stream.pk}/script", {"script": version.script_id})
    shown = team.client.get(f"/api/v1/streams/{stream.pk}/script")
    cleared = _put(team.client, f"streams/{stream.pk}/script", {"script": None})

    assert set_.status_code == 200
    assert shown.json() == {"stream": stream.pk, "script": version.script_id, "version": 1}
    assert cleared.json() == {"stream": stream.pk, "script": None, "version": None}
    assert not StreamScript.objects.exists()


def test_a_stream_runs_only_a_script_of_its_studio_and_only_streams_you_see(team):
    script = _script(team)
    elsewhere = StreamFactory(studio=StudioFactory(members=[team.producer]))
    hidden = StreamFactory()

    wrong_studio = _put(team.client, f"streams/{elsewhere.pk}/script", {"script": script.pk})
    not_visible = _put(team.client, f"streams/{hidden.pk}/script", {"script": script.pk})
    unknown = _put(team.client, f"streams/{elsewhere.pk}/script", {"script": 0})

    assert (wrong_studio.status_code, wrong_studio.json()["code"]) == (400, "invalid")
    assert not_visible.status_code == 404
    assert "script" in unknown.json()["fields"]
    assert not StreamScript.objects.exists()


# --- Memorisation ----------------------------------------------------------------------------


def test_a_host_reviews_a_line_and_the_sheet_counts_it_mastered(team):
    version = _locked(team)
    line = _host_line(version)
    host = _client(team.host)
    before = host.get(f"/api/v1/scripts/{version.script_id}/sheet?role=host")

    reviewed = _post(host, f"scripts/{version.script_id}/lines/{line.pk}/review", {"rating": 4})
    after = host.get(f"/api/v1/scripts/{version.script_id}/sheet?role=host")

    assert before.json()["mastery"] == {"mastered": 0, "total": 2}
    assert reviewed.status_code == 200
    assert (reviewed.json()["reviews"], reviewed.json()["last_rating"]) == (1, 4)
    assert after.json()["mastery"] == {"mastered": 1, "total": 2}
    entries = [entry for segment in after.json()["segments"] for entry in segment["entries"]]
    assert [entry["mastered"] for entry in entries] == [True, False]
    assert entries[0]["line"] == line.pk
    assert entries[1]["verbatim"] == [[4, 11]]
    assert entries[1]["cue_tail"] == "真的吗？"
    assert [m["kind"] for m in entries[1]["product_moments"]] == ["pin"]


def test_a_line_of_a_draft_cannot_be_practised(team):
    script = _script(team)
    line = _host_line(script.versions.get())

    refused = _post(
        _client(team.host), f"scripts/{script.pk}/lines/{line.pk}/review", {"rating": 3}
    )

    assert (refused.status_code, refused.json()["code"]) == (400, "invalid")


def test_a_host_sees_what_changed_for_them_and_acknowledges_it(team):
    version = _locked(team)
    host = _client(team.host)
    _post(host, f"scripts/{version.script_id}/acknowledge", {"role": "host"})
    services.script_import_file(
        actor=team.producer,
        script=version.script,
        filename="s.csv",
        content=SHEET.replace("五折", "六折").encode(),
    )
    services.version_lock(
        actor=team.producer, version=version.script.versions.get(number=2), override_reason=""
    )

    waiting = host.get(f"/api/v1/scripts/{version.script_id}/changes?role=host")
    acknowledged = _post(host, f"scripts/{version.script_id}/acknowledge", {"role": "host"})
    after = host.get(f"/api/v1/scripts/{version.script_id}/changes?role=host")

    assert (waiting.json()["latest"], waiting.json()["since"]) == (2, 1)
    assert [c["new_text"] for c in waiting.json()["changes"]] == ["家人们晚上好！今天全场六折"]
    assert acknowledged.json()["acknowledged_version"] == 2
    assert (after.json()["since"], after.json()["changes"]) == (2, [])


def test_acknowledging_a_script_with_no_locked_version_is_refused(team):
    script = _script(team)

    refused = _post(_client(team.host), f"scripts/{script.pk}/acknowledge", {"role": "host"})

    assert refused.status_code == 400


# --- Schema ----------------------------------------------------------------------------------


def test_the_schema_documents_the_scripts_endpoints(team):
    schema = team.client.get("/api/v1/schema/?format=json")

    paths = schema.json()["paths"]
    assert schema.status_code == 200
    assert "/api/v1/scripts/{id}/versions/{number}/lock" in paths
    assert "/api/v1/streams/{id}/script" in paths
    assert set(paths["/api/v1/scripts/{id}/lines/{line_id}/"]) >= {"patch", "delete"}
