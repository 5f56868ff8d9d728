import pytest
from django.core.management import call_command

from rooms import demo, readiness
from scripts import selectors

pytestmark = pytest.mark.django_db


def test_the_demo_stream_runs_a_locked_script_and_seeding_twice_keeps_one(capsys):
    call_command("seed_demo", password="pass-for-demo")
    call_command("seed_demo", password="pass-for-demo")

    stream = demo.current_demo_stream()
    version = selectors.stream_script_version(stream)
    items = {item.key: item.done for item in readiness.checklist(stream)}

    assert version.number == 1
    assert version.segments.count() == 4
    assert items["script:locked"] is True
