"""The agents' screen in a real browser: two agents on one stream's queue, one working it
from the keyboard alone, the other's screen following; and an agent whose connection drops
while the other answers the group they held."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from rooms import services as rooms_services
from rooms import simulator
from rooms.models import CrewRole, Role, StreamStatus
from support import selectors as support_selectors
from support import services as support_services
from support.models import Agent, DemoPlatformMessage, GroupStatus, QuestionGroup, ReplyOutbox
from tests.conftest import wait_until
from tests.factories import (
    AgentFactory,
    CannedReplyFactory,
    CrewAssignmentFactory,
    LineupItemFactory,
    QuestionFactory,
    QuestionGroupFactory,
    StreamFactory,
    SupportPolicyFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRODUCTS = ("Hydrating mask", "Repair serum", "Night cream")


def _live_stream():
    stream = StreamFactory(title="Autumn Skincare")
    for number, name in enumerate(PRODUCTS, start=1):
        LineupItemFactory(
            stream=stream,
            name=name,
            position=number,
            link_number=number,
            live_price=Decimal("99.00"),
            stock=50,
        )
    SupportPolicyFactory(channel=stream.channel, shipping_time="48小时内发货")
    return rooms_services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)


def _agent(stream, username, name):
    """A CS agent (客服) crewed on the stream, online."""
    person = UserFactory(username=username, display_name=name, roles=[Role.CS_AGENT])
    AgentFactory(user=person)
    CrewAssignmentFactory(stream=stream, person=person, role=CrewRole.CS_AGENT)
    return person


def _session_cookie(person, server) -> dict:
    client = Client()
    client.force_login(person)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": server.url,
    }


def _open_queue(page, server, stream, cookie):
    page.context.add_cookies([cookie])
    page.goto(f"{server.url}/support/streams/{stream.pk}/")
    # "live" only once the socket has caught up with the log.
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def _second_page(page, viewport=(1440, 900)):
    context = page.context.browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, locale="en-GB"
    )
    return context.new_page()


def _comment(event_id, text, user_id, user_name):
    return {
        "id": event_id,
        "type": "comment",
        "at": timezone.now().isoformat(),
        "user_id": user_id,
        "user_name": user_name,
        "text": text,
    }


def _row(page, text):
    return page.locator("#queue .q-row", has_text=text)


def test_an_agent_works_the_queue_from_the_keyboard_while_another_agents_screen_follows(
    asgi_server, celery_worker, browse
):
    stream = _live_stream()
    CannedReplyFactory(
        channel=stream.channel,
        shortcut=1,
        title="Price",
        text="{product}直播间价格{price}，库存还有{stock}件",
    )
    CannedReplyFactory(channel=stream.channel, shortcut=3, title="Shipping", text="{shipping}")
    li_na = _agent(stream, "li.na", "Li Na")
    wang_fang = _agent(stream, "wang.fang", "Wang Fang")
    cookies = [_session_cookie(person, asgi_server) for person in (li_na, wang_fang)]
    webhook = simulator.Webhook(
        base_url=asgi_server.url,
        channel_key=stream.channel.key,
        secret=stream.channel.secrets.get().secret,
    )
    errors: list[str] = []

    def scenario(page):
        watcher = _second_page(page)
        for screen in (page, watcher):
            screen.on("pageerror", lambda error: errors.append(str(error)))
        _open_queue(page, asgi_server, stream, cookies[0])
        _open_queue(watcher, asgi_server, stream, cookies[1])
        expect(page.locator("#queue-empty")).to_have_text("No open questions.")

        # Viewers ask through the platform's webhook; both screens get the groups.
        webhook.post(
            [
                _comment("c1", "3号多少钱？", "u1", "阿花"),
                _comment("c2", "3号多少钱", "u2", "Mei"),
                _comment("c3", "主播能试穿一下吗？", "u3", "小鱼"),
            ]
        )
        for screen in (page, watcher):
            expect(screen.locator("#queue .q-row")).to_have_count(2)
        price = _row(page, "3号多少钱")
        expect(price).to_contain_text("×2")
        expect(price).to_contain_text("#3 Night cream")
        expect(price).to_contain_text(re.compile(r"\d:\d\d left"))
        # Two askers outrank one: the price question is first, and selected.
        expect(page.locator("#queue .q-row").first).to_contain_text("3号多少钱")
        expect(price).to_have_attribute("aria-selected", "true")
        expect(page.locator("#send")).to_be_disabled()

        # Claim it: the other agent sees who holds it at once.
        page.keyboard.press("c")
        expect(page.get_by_test_id("group-state")).to_have_text("You hold this question")
        expect(price.locator(".q-holder")).to_have_text("You")
        expect(_row(watcher, "3号多少钱").locator(".q-holder")).to_have_text("Li Na is answering")
        expect(watcher.get_by_test_id("capacity")).to_have_text("Holding 0 of 3")
        expect(page.get_by_test_id("capacity")).to_have_text("Holding 1 of 3")

        # The canned reply under key 1, filled from the live lineup; then own words, in which
        # a digit is text, not a shortcut.
        page.keyboard.press("1")
        expect(page.get_by_test_id("canned").locator('[data-shortcut="1"]')).to_have_attribute(
            "data-stacked", "1"
        )
        expect(page.get_by_test_id("preview")).to_have_text(
            "Night cream直播间价格¥99，库存还有50件"
        )
        page.keyboard.press("r")
        page.keyboard.type("亲，拍3号链接哦")
        expect(page.get_by_test_id("canned").locator('[data-shortcut="3"]')).to_have_attribute(
            "data-stacked", ""
        )
        expect(page.get_by_test_id("preview")).to_have_text(
            "Night cream直播间价格¥99，库存还有50件 亲，拍3号链接哦"
        )
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("notice")).to_contain_text("Reply sent")
        expect(page.locator("#queue .q-row")).to_have_count(1)
        expect(watcher.locator("#queue .q-row")).to_have_count(1)
        expect(watcher.get_by_test_id("activity")).to_contain_text(
            "Li Na answered “3号多少钱？”: Night cream直播间价格¥99，库存还有50件 亲，拍3号链接哦"
        )

        # The next one the server hands out, straight to the host.
        page.keyboard.press("n")
        fitting = _row(page, "试穿")
        expect(fitting.locator(".q-holder")).to_have_text("You")
        expect(_row(watcher, "试穿").locator(".q-holder")).to_have_text("Li Na is answering")
        page.keyboard.press("e")
        expect(page.get_by_test_id("notice")).to_have_text("Handed to the host.")
        expect(watcher.get_by_test_id("with-host")).to_contain_text("主播能试穿一下吗？")
        expect(watcher.locator("#queue .q-row")).to_have_count(0)
        expect(page.locator("#queue-empty")).to_have_text("No open questions.")
        watcher.context.close()

    browse(scenario)

    assert errors == []
    price_group = QuestionGroup.objects.get(text__startswith="3号多少钱")
    assert price_group.status == GroupStatus.ANSWERED
    assert price_group.answered_by == li_na
    assert QuestionGroup.objects.get(text__contains="试穿").status == GroupStatus.ESCALATED
    # The outbox task ran in the worker: the demo platform holds the one reply, to both askers.
    wait_until(lambda: ReplyOutbox.objects.filter(status="delivered").exists(), timeout=20)
    posted = list(DemoPlatformMessage.objects.values_list("text", "to_users"))
    assert posted == [("Night cream直播间价格¥99，库存还有50件 亲，拍3号链接哦", ["u1", "u2"])]


def test_an_agent_whose_connection_dropped_sees_the_answer_given_meanwhile_before_sending(
    asgi_server, browse, monkeypatch
):
    # A short lease, renewed every second, so a dropped agent loses the group in seconds.
    monkeypatch.setattr(support_selectors, "AGENT_HEARTBEAT", timedelta(seconds=1))
    monkeypatch.setattr(support_selectors, "CLAIM_LEASE", timedelta(seconds=3))
    monkeypatch.setattr(support_services, "CLAIM_LEASE", timedelta(seconds=3))
    stream = _live_stream()
    group = QuestionGroupFactory(stream=stream, text="M码还有吗", category="stock", link_number=2)
    QuestionFactory(group=group, user_id="u7", user_name="阿花")
    li_na = _agent(stream, "li.na", "Li Na")
    wang_fang = _agent(stream, "wang.fang", "Wang Fang")
    cookies = [_session_cookie(person, asgi_server) for person in (li_na, wang_fang)]
    link = {"down": False, "sockets": []}

    def route(socket):
        if link["down"]:
            socket.close()
            return
        link["sockets"].append((socket, socket.connect_to_server()))

    def scenario(page):
        page.route_web_socket(re.compile(r"/ws/streams/"), route)
        _open_queue(page, asgi_server, stream, cookies[0])
        other = _second_page(page)
        _open_queue(other, asgi_server, stream, cookies[1])

        page.keyboard.press("c")
        expect(page.get_by_test_id("group-state")).to_have_text("You hold this question")
        page.keyboard.press("r")
        page.keyboard.type("稍等，马上帮您查")
        page.keyboard.press("Escape")
        expect(page.locator("#send")).to_be_enabled()
        expect(_row(other, "M码还有吗").locator(".q-holder")).to_have_text("Li Na is answering")

        # Li Na's network goes: no socket, no heartbeat. Send is off at once.
        link["down"] = True
        page.context.set_offline(True)
        for socket, server in link["sockets"]:
            socket.close()
            server.close()
        expect(page.locator("#send")).to_be_disabled()
        expect(page.locator("#connection")).not_to_have_attribute("data-state", "live")

        # Her lease lapses; Wang Fang takes the group and answers it.
        for _attempt in range(15):
            other.keyboard.press("c")
            try:
                expect(other.get_by_test_id("group-state")).to_have_attribute(
                    "data-state", "mine", timeout=1000
                )
                break
            except AssertionError:
                expect(other.get_by_test_id("notice")).to_contain_text("Li Na")
        expect(other.get_by_test_id("group-state")).to_have_text("You hold this question")
        other.keyboard.press("r")
        other.keyboard.type("M码有货哦")
        other.keyboard.press("Enter")
        expect(other.get_by_test_id("notice")).to_contain_text("Reply sent")

        # Every change of the Send button from here on, with what the screen said then.
        page.evaluate(
            """() => {
              window.sendChanges = [];
              const send = document.getElementById("send");
              new MutationObserver(() => window.sendChanges.push({
                enabled: !send.disabled,
                state: document.getElementById("detail-state").dataset.state,
              })).observe(send, { attributes: true, attributeFilter: ["disabled"] });
            }"""
        )
        link["down"] = False
        page.context.set_offline(False)

        expect(page.get_by_test_id("group-state")).to_have_text(
            "Answered by Wang Fang: M码有货哦", timeout=30_000
        )
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        expect(page.locator("#reply")).to_have_value("稍等，马上帮您查")
        expect(page.locator("#send")).to_be_disabled()
        page.keyboard.press("r")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("notice")).to_have_text("Answered by Wang Fang: M码有货哦")
        return page.evaluate("() => window.sendChanges")

    send_changes = browse(scenario)

    assert not any(change["enabled"] for change in send_changes)
    group.refresh_from_db()
    assert (group.status, group.answered_by, group.reply) == (
        GroupStatus.ANSWERED,
        wang_fang,
        "M码有货哦",
    )
    assert ReplyOutbox.objects.filter(group=group).count() == 1


def test_going_offline_with_a_question_in_hand_asks_to_hand_it_back(
    asgi_server, browse, monkeypatch
):
    monkeypatch.setattr(support_selectors, "AGENT_HEARTBEAT", timedelta(seconds=1))
    stream = _live_stream()
    group = QuestionGroupFactory(stream=stream, text="什么时候发货", category="shipping")
    li_na = _agent(stream, "li.na", "Li Na")
    support_services.group_claim(actor=li_na, group=group)
    cookie = _session_cookie(li_na, asgi_server)

    def scenario(page):
        _open_queue(page, asgi_server, stream, cookie)
        expect(page.get_by_test_id("capacity")).to_have_text("Holding 1 of 3")
        # The screen says it is there, which keeps the claim.
        with page.expect_request(lambda request: request.url.endswith("/agent/heartbeat")):
            pass

        page.get_by_role("button", name="Offline").focus()
        page.keyboard.press("Enter")
        dialog = page.locator("#hand-back")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("You hold 1 question: hand it back first.")
        expect(page.locator("#hand-back-confirm")).to_be_focused()
        expect(page.locator("#hand-back-confirm")).to_have_text("Hand them back and go offline")
        page.keyboard.press("Enter")

        expect(dialog).to_be_hidden()
        expect(page.get_by_role("button", name="Offline")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_test_id("capacity")).to_have_text("Holding 0 of 3")
        expect(page.get_by_test_id("group-state")).to_have_text("Free: press c to claim it")
        page.keyboard.press("c")
        expect(page.get_by_test_id("notice")).to_have_text("Go online to take questions.")

    browse(scenario)

    group.refresh_from_db()
    assert group.claimed_by is None
    assert Agent.objects.get(user=li_na).status == "offline"


def test_a_reply_crossing_another_agents_answer_is_refused_and_the_draft_stays(
    asgi_server, browse, monkeypatch
):
    monkeypatch.setattr(support_selectors, "AGENT_HEARTBEAT", timedelta(seconds=1))
    monkeypatch.setattr(support_selectors, "CLAIM_LEASE", timedelta(seconds=3))
    monkeypatch.setattr(support_services, "CLAIM_LEASE", timedelta(seconds=3))
    stream = _live_stream()
    group = QuestionGroupFactory(stream=stream, text="M码还有吗", category="stock", link_number=2)
    li_na = _agent(stream, "li.na", "Li Na")
    wang_fang = _agent(stream, "wang.fang", "Wang Fang")
    cookies = [_session_cookie(person, asgi_server) for person in (li_na, wang_fang)]
    # A socket that stays up but loses the queue's news: the screen cannot know it is stale.
    link = {"deaf": False}

    def route(socket):
        server = socket.connect_to_server()
        server.on_message(
            lambda message: (
                None if link["deaf"] and '"question"' in message else socket.send(message)
            )
        )

    def scenario(page):
        page.route_web_socket(re.compile(r"/ws/streams/"), route)
        _open_queue(page, asgi_server, stream, cookies[0])
        other = _second_page(page)
        _open_queue(other, asgi_server, stream, cookies[1])
        page.keyboard.press("c")
        expect(page.get_by_test_id("group-state")).to_have_text("You hold this question")
        page.keyboard.press("r")
        page.keyboard.type("稍等，马上帮您查")
        expect(page.locator("#send")).to_be_enabled()

        # Li Na's heartbeats stop reaching the server and her screen hears nothing more,
        # though her browser believes it is online.
        link["deaf"] = True
        page.route("**/support/agent/heartbeat", lambda request: request.abort())
        for _attempt in range(15):
            other.keyboard.press("c")
            try:
                expect(other.get_by_test_id("group-state")).to_have_attribute(
                    "data-state", "mine", timeout=1000
                )
                break
            except AssertionError:
                expect(other.get_by_test_id("notice")).to_contain_text("Li Na")
        other.keyboard.press("r")
        other.keyboard.type("M码有货哦")
        other.keyboard.press("Enter")
        expect(other.get_by_test_id("notice")).to_contain_text("Reply sent")
        page.unroute("**/support/agent/heartbeat")
        expect(page.get_by_test_id("group-state")).to_have_text("You hold this question")

        page.keyboard.press("Enter")
        expect(page.get_by_test_id("notice")).to_have_text(
            "Wang Fang answered this question meanwhile."
        )
        expect(page.get_by_test_id("group-state")).to_have_text("Answered by Wang Fang: M码有货哦")
        expect(page.locator("#reply")).to_have_value("稍等，马上帮您查")
        expect(page.locator("#send")).to_be_disabled()

    browse(scenario)

    group.refresh_from_db()
    assert (group.answered_by, group.reply) == (wang_fang, "M码有货哦")
    assert ReplyOutbox.objects.filter(group=group).count() == 1


def test_an_agent_filters_merges_and_splits_groups_from_the_keyboard(asgi_server, browse):
    stream = _live_stream()
    asked = timezone.now() - timedelta(seconds=30)
    when = QuestionGroupFactory(
        stream=stream, text="什么时候发货", category="shipping", first_asked_at=asked
    )
    QuestionFactory(group=when, user_id="u1", user_name="阿花", text="什么时候发货", asked_at=asked)
    days = QuestionGroupFactory(
        stream=stream, text="几天能到", category="shipping", first_asked_at=asked
    )
    QuestionFactory(
        group=days,
        user_id="u2",
        user_name="Mei",
        text="几天能到",
        asked_at=asked + timedelta(seconds=1),
    )
    price = QuestionGroupFactory(stream=stream, text="3号多少钱", link_number=3, count=3)
    li_na = _agent(stream, "li.na", "Li Na")
    cookie = _session_cookie(li_na, asgi_server)

    def scenario(page):
        _open_queue(page, asgi_server, stream, cookie)
        expect(page.locator("#queue .q-row")).to_have_count(3)
        expect(_row(page, "3号多少钱")).to_have_attribute("aria-selected", "true")
        page.locator("#filter-category").select_option("shipping")
        expect(page.locator("#queue .q-row")).to_have_count(2)
        expect(page.locator("#queue-count")).to_have_text("2 / 3")
        page.keyboard.press("Escape")
        expect(page.locator("#queue")).to_be_focused()

        # Mark one, then fold it into the other.
        page.keyboard.press("j")
        expect(_row(page, "什么时候发货")).to_have_attribute("aria-selected", "true")
        page.keyboard.press("m")
        expect(_row(page, "什么时候发货")).to_have_attribute("data-merge", "true")
        page.keyboard.press("j")
        page.keyboard.press("m")
        expect(page.get_by_test_id("notice")).to_have_text("Merged.")
        expect(page.locator("#queue .q-row")).to_have_count(1)
        expect(_row(page, "几天能到")).to_contain_text("×2")

        # They were two questions after all: split one asker off again.
        page.keyboard.press("x")
        expect(page.locator("#split-list input")).to_have_count(2)
        expect(page.locator("#split-list input").first).to_be_focused()
        page.keyboard.press("Space")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("notice")).to_have_text("Split off into a new group.")
        expect(page.locator("#queue .q-row")).to_have_count(2)
        expect(page.locator("#queue")).to_be_focused()

        page.locator("#filter-category").select_option("")
        expect(page.locator("#queue .q-row")).to_have_count(3)

    browse(scenario)

    when.refresh_from_db()
    days.refresh_from_db()
    assert (when.status, when.merged_into) == (GroupStatus.DISMISSED, days)
    split_off = QuestionGroup.objects.exclude(pk__in=[when.pk, days.pk, price.pk]).get()
    assert list(split_off.questions.values_list("user_name", flat=True)) == ["阿花"]
    assert list(days.questions.values_list("user_name", flat=True)) == ["Mei"]


def test_the_sla_sweeps_flags_reach_the_agents_screen(asgi_server, browse):
    from tests.browser.conftest import MainThread

    stream = _live_stream()
    now = timezone.now()
    group = QuestionGroupFactory(
        stream=stream, text="什么时候发货", category="shipping", deadline=now + timedelta(minutes=2)
    )
    li_na = _agent(stream, "li.na", "Li Na")
    cookie = _session_cookie(li_na, asgi_server)
    main = MainThread()

    def scenario(page):
        _open_queue(page, asgi_server, stream, cookie)
        row = _row(page, "什么时候发货")
        expect(row).to_have_attribute("data-sla", "ok")
        # The sweep as it would run once the deadline has passed: the screen takes the flag
        # from the sweep's event, not from its own clock.
        main(lambda: support_services.sla_sweep(now=group.deadline + timedelta(seconds=1)))
        expect(row).to_have_attribute("data-sla", "breach")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    main.serve(browse, scenario)

    assert QuestionGroup.objects.get(pk=group.pk).breached is True
