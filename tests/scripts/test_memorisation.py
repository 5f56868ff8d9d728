from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from rooms import readiness
from rooms.models import CrewRole, Role
from scripts import selectors, services
from scripts.models import Line, LineProgress, Speaker
from tests.factories import CrewAssignmentFactory, StreamFactory, StudioFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = "时间段,环节,链接号,主播话术,副播话术,中控操作"


def _sheet(*rows: str) -> bytes:
    return "\n".join([HEADER, *rows]).encode()


V2 = _sheet(
    "20:00-20:05,开场,,家人们晚上好,欢迎宝宝们,",
    "20:05-20:15,面膜,1号,这款面膜【直播价9.9元】,真的假的？,上架1号讲解",
    ",,,库存只有两千份,手慢无,",
    "20:15-20:20,收尾,,感谢大家,下次见,",
)


@pytest.fixture
def producer():
    return UserFactory(roles=[Role.PRODUCER])


@pytest.fixture
def actor():
    return UserFactory(roles=[Role.HOST], display_name="Xiao Mei")


@pytest.fixture
def script(producer, actor):
    script = services.script_create(
        actor=producer, studio=StudioFactory(members=[producer, actor]), title="Night"
    )
    return script


def _lock(producer, script, content: bytes):
    draft = services.script_import_file(
        actor=producer, script=script, filename="s.csv", content=content
    )
    return services.version_lock(actor=producer, version=draft)


def _learn(actor, version, role=CrewRole.HOST):
    """Grade every line of the role good twice: graduated, stable for more than a day;
    verbatim lines once more as easy."""
    now = timezone.now()
    for line in Line.objects.filter(segment__version=version, role=role):
        for step, rating in enumerate((3, 3, 4, 4)):
            services.line_review(
                actor=actor, line=line, rating=rating, now=now + timedelta(days=step * 3)
            )


def test_graded_recalls_master_a_line_and_verbatim_lines_need_more(producer, actor, script):
    version = _lock(producer, script, V2)
    plain = Line.objects.get(segment__version=version, text="家人们晚上好")
    verbatim = Line.objects.get(segment__version=version, text="这款面膜直播价9.9元")
    now = timezone.now()

    for line in (plain, verbatim):
        services.line_review(actor=actor, line=line, rating=3, now=now)
        services.line_review(actor=actor, line=line, rating=3, now=now + timedelta(minutes=10))

    mastered, total = selectors.mastery(actor, version, CrewRole.HOST)
    assert (mastered, total) == (1, 4)


def test_an_actor_who_learnt_v2_sees_only_what_changed_for_them_in_v3_and_v4(
    producer, actor, script
):
    v2 = _lock(producer, script, V2)
    _learn(actor, v2)
    services.version_acknowledge(actor=actor, script=script, role=CrewRole.HOST)
    # v3: the co-host's cue line before the stock line changes, and an unrelated co-host line.
    _lock(
        producer,
        script,
        V2.replace("真的假的？".encode(), "真的吗？".encode()).replace(
            "下次见".encode(), "明晚见".encode()
        ),
    )
    # v4: the host's price changes by one character.
    v4_sheet = (
        V2.replace("真的假的？".encode(), "真的吗？".encode())
        .replace("下次见".encode(), "明晚见".encode())
        .replace("9.9元".encode(), "8.9元".encode())
    )
    v4 = _lock(producer, script, v4_sheet)

    latest, changes = selectors.changes_for(actor, script, CrewRole.HOST)

    assert latest == v4
    assert sorted((c.role, c.new_text) for c in changes) == [
        (CrewRole.CO_HOST, "真的吗？"),
        (CrewRole.HOST, "这款面膜直播价8.9元"),
    ]


def test_acknowledging_resets_only_the_changed_lines(producer, actor, script):
    v2 = _lock(producer, script, V2)
    _learn(actor, v2)
    services.version_acknowledge(actor=actor, script=script, role=CrewRole.HOST)
    v3 = _lock(producer, script, V2.replace("9.9元".encode(), "8.9元".encode()))

    services.version_acknowledge(actor=actor, script=script, role=CrewRole.HOST)

    assert selectors.mastery(actor, v3, CrewRole.HOST) == (3, 4)
    assert LineProgress.objects.filter(person=actor).count() == 3


def test_the_sheet_shows_own_lines_after_the_tail_of_their_cue_with_verbatim_marked(
    producer, actor, script
):
    version = _lock(producer, script, V2)
    client = Client()
    client.force_login(actor)

    page = client.get(f"/scripts/{script.pk}/sheet/?role=co_host").content.decode()

    assert "…这款面膜直播价9.9元" in page
    assert "真的假的？" in page
    assert '<p class="own-line">家人们晚上好' not in page  # only a cue tail on this sheet
    assert "0 of 4 lines mastered" in page
    assert version.number == 1


def test_the_crew_sheet_lists_only_that_roles_cues(producer, actor, script):
    _lock(producer, script, V2)
    client = Client()
    client.force_login(producer)

    page = client.get(f"/scripts/{script.pk}/sheet/?role=room_operator").content.decode()

    assert "上架1号讲解" in page
    assert "家人们晚上好" not in page


def test_the_stream_checklist_says_who_is_not_off_book(producer, actor, script):
    version = _lock(producer, script, V2)
    stream = StreamFactory(studio=script.studio)
    CrewAssignmentFactory(stream=stream, person=actor, role=CrewRole.HOST)
    services.stream_script_set(actor=producer, stream=stream, script=script)

    before = {item.key: item for item in readiness.checklist(stream)}
    _learn(actor, version)
    after = {item.key: item for item in readiness.checklist(stream)}

    assert before["script:off_book"].done is False
    assert "Xiao Mei 0%" in before["script:off_book"].detail
    assert after["script:off_book"].done is True


def test_practising_through_the_screen_grades_the_line_shown(producer, actor, script):
    version = _lock(producer, script, V2)
    client = Client()
    client.force_login(actor)

    page = client.get(f"/scripts/{script.pk}/practice/?role=host&hint=first")
    line = page.context["line"]
    client.post(
        f"/scripts/{script.pk}/practice/",
        {"line": line.pk, "rating": 3, "role": "host", "hint": "first", "order": "due"},
    )

    progress = LineProgress.objects.get(person=actor, line_key=line.key)
    assert progress.reviews == 1
    assert page.context["hint_text"].startswith(line.text[0])
    assert line.segment.version == version


def test_the_sheet_downloads_as_a_pdf(producer, actor, script):
    _lock(producer, script, V2)
    client = Client()
    client.force_login(actor)

    response = client.get(f"/scripts/{script.pk}/sheet/pdf/?role=host")

    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert len(response.content) > 5_000


def test_a_line_the_new_version_changed_carries_its_revision_colour_on_the_sheet(
    producer, actor, script
):
    _lock(producer, script, V2)
    v2 = _lock(producer, script, V2.replace("9.9元".encode(), "8.9元".encode()))
    client = Client()
    client.force_login(actor)

    page = client.get(f"/scripts/{script.pk}/sheet/?role=host&version=2").content.decode()

    assert v2.colour == "blue"
    assert page.count("revised revision-blue") == 1


def test_practising_a_chunk_draws_only_that_segments_lines(producer, actor, script):
    version = _lock(producer, script, V2)
    chunk = version.segments.get(title="面膜")
    client = Client()
    client.force_login(actor)

    shown = {
        client.get(
            f"/scripts/{script.pk}/practice/?role=host&order=order&segment={chunk.pk}&done={n}"
        )
        .context["line"]
        .text
        for n in range(4)
    }

    assert shown == {"这款面膜直播价9.9元", "库存只有两千份"}


def test_a_segments_spoken_estimate_follows_the_speaking_rate_of_who_plays_the_role(
    producer, actor, script
):
    version = _lock(producer, script, V2)
    stream = StreamFactory(studio=script.studio, status="scheduled")
    CrewAssignmentFactory(stream=stream, person=actor, role=CrewRole.HOST)
    services.stream_script_set(actor=producer, stream=stream, script=script)
    opening = lambda: selectors.memorisation_sheet(version, CrewRole.HOST)[0].estimate  # noqa: E731

    at_default = opening()
    services.speaking_rate_set(actor=actor, person=actor, chars_per_minute=120)
    slower = opening()

    # 家人们晚上好 (6) by the host, 欢迎宝宝们 (5) by the co-host at the default 240.
    assert at_default == timedelta(minutes=6 / 240 + 5 / 240)
    assert slower == timedelta(minutes=6 / 120 + 5 / 240)


def test_a_speaking_rate_outside_what_people_manage_is_refused(actor):
    client = Client()
    client.force_login(actor)

    client.post("/scripts/speaking-rate/", {"chars_per_minute": "5000"})

    assert not Speaker.objects.filter(person=actor).exists()


def test_progress_on_words_since_rewritten_never_counts_even_before_acknowledging(
    producer, actor, script
):
    v1 = _lock(producer, script, V2)
    _learn(actor, v1)
    v2 = _lock(producer, script, V2.replace("家人们晚上好".encode(), "宝宝们晚上好".encode()))

    assert selectors.mastery(actor, v2, CrewRole.HOST) == (3, 4)


def test_an_older_version_cannot_be_practised_once_a_newer_one_is_locked(producer, actor, script):
    v1 = _lock(producer, script, V2)
    _lock(producer, script, V2.replace("9.9元".encode(), "8.9元".encode()))
    old_line = Line.objects.filter(segment__version=v1, role=CrewRole.HOST).first()

    with pytest.raises(ValidationError, match="newer version"):
        services.line_review(actor=actor, line=old_line, rating=3)


def test_practising_without_acknowledging_still_shows_what_changed_after(producer, actor, script):
    v1 = _lock(producer, script, V2)
    line = Line.objects.get(segment__version=v1, text="这款面膜直播价9.9元")
    services.line_review(actor=actor, line=line, rating=3)
    _lock(producer, script, V2.replace("9.9元".encode(), "8.9元".encode()))

    _latest, changes = selectors.changes_for(actor, script, CrewRole.HOST)

    assert [c.new_text for c in changes] == ["这款面膜直播价8.9元"]
