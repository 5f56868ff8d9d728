"""A question handed to the host reaches the operator's console and the wall, and the
operator marks it answered once the host has answered it on air."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from rooms import services as room_services
from rooms.models import CrewRole, IngestEvent, Role, StreamStatus
from support import services
from support.models import GroupStatus, QuestionGroup
from tests.browser.conftest import MainThread
from tests.conftest import post_events
from tests.factories import (
    PASSWORD,
    CrewAssignmentFactory,
    LineupItemFactory,
    StreamFactory,
    StudioFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_escalated_question_is_answered_on_air_from_the_console(asgi_server, browse):
    operator = UserFactory(username="zhang.wei", roles=[Role.ROOM_OPERATOR])
    agent = UserFactory(username="li.na", roles=[Role.CS_AGENT])
    studio = StudioFactory(members=[operator, agent])
    stream = StreamFactory(studio=studio, title="Autumn Skincare")
    LineupItemFactory(stream=stream, link_number=1, name="Repair serum", sku="SKU-1")
    stream = room_services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)
    CrewAssignmentFactory(stream=stream, person=operator, role=CrewRole.ROOM_OPERATOR)
    CrewAssignmentFactory(stream=stream, person=agent, role=CrewRole.CS_AGENT)
    token = room_services.screen_token_issue(
        actor=operator, studio=studio, name="Wall", ttl=timedelta(days=1)
    )
    main = MainThread()

    def escalate() -> None:
        comment = {
            "id": "c1",
            "type": "comment",
            "at": timezone.now().isoformat(),
            "user_id": "viewer-1",
            "user_name": "Viewer 1",
            "text": "1号链接敏感肌能用吗？",
        }
        assert post_events(Client(), stream.channel, [comment]).status_code == 202
        room_services.ingest_dispatch(
            inbox_ids=list(IngestEvent.objects.values_list("pk", flat=True))
        )
        group = QuestionGroup.objects.get(stream=stream)
        services.agent_set_status(actor=agent, status="online")
        services.group_claim(actor=agent, group=group)
        services.group_escalate(actor=agent, group=QuestionGroup.objects.get(pk=group.pk))

    def scenario(console):
        console.goto(f"{asgi_server.url}/login/")
        console.get_by_label("Username").fill("zhang.wei")
        console.get_by_label("Password").fill(PASSWORD)
        console.get_by_role("button", name="Sign in").click()
        console.goto(f"{asgi_server.url}/streams/{stream.pk}/console/")
        expect(console.locator("#connection")).to_have_attribute("data-state", "live")

        wall_context = console.context.browser.new_context(viewport={"width": 1920, "height": 1080})
        wall_context.add_cookies([{"name": "mcn_screen", "value": token, "url": asgi_server.url}])
        wall = wall_context.new_page()
        wall.goto(f"{asgi_server.url}/screen/")
        expect(wall.locator("[data-connection]")).to_have_attribute("data-connection", "live")

        main(escalate)
        panel = console.get_by_test_id("panels")
        expect(panel).to_contain_text("敏感肌", timeout=15_000)
        expect(wall.locator("#wall-panels")).to_contain_text("敏感肌", timeout=15_000)
        console.get_by_role("button", name="Answered on air").click()
        expect(panel.get_by_role("button", name="Answered on air")).to_have_count(0)
        wall_context.close()

    main.serve(browse, scenario)

    group = QuestionGroup.objects.get(stream=stream)
    assert (group.status, group.answered_by) == (GroupStatus.ANSWERED, operator)
