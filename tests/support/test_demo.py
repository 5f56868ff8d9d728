import pytest
from django.core.management import call_command

from rooms import demo
from support.models import CannedReply, SupportPolicy

pytestmark = pytest.mark.django_db


def test_the_demo_channels_have_a_reply_window_and_five_canned_replies_once():
    call_command("seed_demo", password="pass-for-demo")
    call_command("seed_demo", password="pass-for-demo")

    channel = demo.current_demo_stream().channel
    policy = SupportPolicy.objects.get(channel=channel)

    assert (policy.sla.total_seconds(), policy.shipping_time) == (180, "48 小时内 within 48 h")
    assert sorted(
        CannedReply.objects.filter(channel=channel).values_list("shortcut", flat=True)
    ) == [
        1,
        2,
        3,
        4,
        5,
    ]
    # The reply filler writes money with its currency sign; a template adds none of its own.
    texts = CannedReply.objects.filter(channel=channel).values_list("text", flat=True)
    assert not [text for text in texts if "¥{" in text]
