from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from rooms import services
from rooms.models import ApiToken, Channel, ChannelSecret
from rooms.selectors import channel_active_secrets
from tests.factories import ChannelFactory, CrewAssignmentFactory, UserFactory

pytestmark = pytest.mark.django_db


def _admin() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_channel_added_in_the_admin_gets_a_secret_shown_once():
    client = _admin()

    response = client.post(
        "/admin/rooms/channel/add/",
        {
            "key": "shop-my",
            "name": "Shop MY",
            "platform": "shopee",
            "currency": "MYR",
            "time_zone": "Asia/Kuala_Lumpur",
            "secrets-TOTAL_FORMS": "0",
            "secrets-INITIAL_FORMS": "0",
        },
        follow=True,
    )

    channel = Channel.objects.get(key="shop-my")
    (secret,) = channel_active_secrets(channel)
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(secret in message for message in shown)


def test_rotating_a_secret_in_the_admin_keeps_the_old_one_for_a_day():
    channel = ChannelFactory()
    old = channel.secrets.get()

    _admin().post(
        "/admin/rooms/channel/", {"action": "rotate_secret", "_selected_action": [channel.pk]}
    )

    old.refresh_from_db()
    assert ChannelSecret.objects.filter(channel=channel).count() == 2
    assert old.expires_at is not None
    assert len(channel_active_secrets(channel)) == 2


def test_the_inbox_is_read_only_in_the_admin():
    assert _admin().get("/admin/rooms/ingestevent/add/").status_code == 403


@pytest.mark.parametrize(
    "model", ["user", "studio", "channel", "stream", "ingestevent", "screentoken"]
)
def test_every_admin_list_renders(model):
    ChannelFactory()

    response = _admin().get(f"/admin/rooms/{model}/")

    assert response.status_code == 200


def test_the_token_list_says_which_tokens_expired_unused(settings):
    settings.MCN_API_TOKEN_IDLE_DAYS = 7
    services.api_token_issue(user=UserFactory())
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(days=8))
    link = f"/admin/rooms/apitoken/{ApiToken.objects.get().pk}/change/"

    response = _admin().get("/admin/rooms/apitoken/")

    assert response.status_code == 200
    [row] = [line for line in response.content.decode().split("<tr") if link in line]
    assert 'alt="True"' in row


def test_streams_and_crews_are_shown_in_the_admin_but_planned_only_through_the_services():
    crew = CrewAssignmentFactory()
    client = _admin()

    shown = client.get(f"/admin/rooms/stream/{crew.stream_id}/change/")
    added = client.get("/admin/rooms/stream/add/")
    changed = client.post(f"/admin/rooms/stream/{crew.stream_id}/change/", {"title": "Renamed"})

    assert shown.status_code == 200
    assert str(crew.person) in shown.content.decode()
    assert added.status_code == 403
    assert changed.status_code == 403
