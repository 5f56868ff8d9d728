import pytest
from django.db import connection
from django.utils import timezone
from psycopg.adapt import PyFormat

from rooms.models import StreamEvent
from rooms.pgarrays import ArrayTextDumper
from tests.factories import StreamFactory

pytestmark = pytest.mark.django_db

AWKWARD = [
    "plain",
    "",
    None,
    "NULL",
    "null",
    'say "hi"',
    "back\\slash",
    '\\"',
    "{braces}",
    "a,b",
    " leading and trailing ",
    "tab\tnew\nline",
    "身高152cm 体重87kg 穿什么码？",
    "ideographic\u3000space",
    '{"text": "what size?", "nested": {"q": "\\"quoted\\""}}',
    "emoji 😀👍",
]


def _round_trip(value: list, cast: str):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{cast}", [value])
        return cursor.fetchone()[0]


def test_connections_use_it_for_lists():
    connection.ensure_connection()
    adapters = connection.connection.adapters
    assert issubclass(adapters.get_dumper(list, PyFormat.TEXT), ArrayTextDumper)


def test_text_elements_arrive_exactly_as_sent():
    assert _round_trip(AWKWARD, "text[]") == AWKWARD


def test_other_element_types_and_nesting():
    assert _round_trip([1, None, -3], "bigint[]") == [1, None, -3]
    assert _round_trip([["a b", None], ['"c"', "d"]], "text[][]") == [["a b", None], ['"c"', "d"]]
    assert _round_trip([], "text[]") == []


def test_bulk_insert_of_json_keeps_every_character():
    stream = StreamFactory()
    datas = [{"text": text, "n": n} for n, text in enumerate(t for t in AWKWARD if t is not None)]
    now = timezone.now()
    StreamEvent.objects.bulk_create(
        StreamEvent(stream=stream, seq=n + 1, type="t", op="o", at=now, data=data)
        for n, data in enumerate(datas)
    )
    stored = list(StreamEvent.objects.filter(stream=stream).order_by("seq").values_list("data"))
    assert [data for (data,) in stored] == datas
