import pytest
from playwright.sync_api import expect

from rooms.models import Role
from scripts import services
from tests.factories import PASSWORD, StudioFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHEET = "\n".join(
    [
        "时间段,环节,链接号,主播话术,副播话术",
        "20:00-20:05,开场,,家人们晚上好,欢迎宝宝们",
        "20:05-20:15,面膜,1号,这款面膜【直播价9.9元】,真的假的？",
        ",,,库存只有两千份,手慢无",
        "20:15-20:20,收尾,,感谢大家,下次见",
        ",,,明晚八点不见不散,记得关注",
    ]
).encode()


def test_an_actor_practises_five_lines_with_hints_and_their_readiness_changes(
    asgi_server, browse, tmp_path
):
    producer = UserFactory(roles=[Role.PRODUCER])
    UserFactory(username="xiao.mei", roles=[Role.HOST], display_name="Xiao Mei")
    studio = StudioFactory(members=[producer])
    studio.members.add(*type(producer).objects.filter(username="xiao.mei"))
    script = services.script_create(actor=producer, studio=studio, title="Night show")
    draft = services.script_import_file(
        actor=producer, script=script, filename="s.csv", content=SHEET
    )
    services.version_lock(actor=producer, version=draft)

    def scenario(page):
        page.goto(f"{asgi_server.url}/login/")
        page.get_by_label("Username").fill("xiao.mei")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{asgi_server.url}/scripts/{script.pk}/sheet/?role=host")
        expect(page.get_by_test_id("readiness")).to_contain_text("0 of 5 lines mastered")
        expect(page.locator("mark.verbatim")).to_have_text("直播价9.9元")

        page.get_by_role("link", name="Practise").click()
        hints = []
        for _ in range(5):
            hints.append(page.get_by_test_id("hint").inner_text())
            page.get_by_text("Show the line").click()
            expect(page.locator(".answer .own-line")).to_be_visible()
            page.get_by_role("button", name="Easy").click()
        page.get_by_label("Hint").select_option("hidden")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_test_id("hint")).to_have_text("…")

        page.get_by_role("link", name="Night show").click()
        readiness = page.get_by_test_id("readiness").inner_text()
        page.emulate_media(media="print")
        page.screenshot(path=str(tmp_path / "print.png"), full_page=True)
        printed_header = page.locator("header.print-only").is_visible()
        topbar_hidden = not page.locator(".topbar").is_visible()
        return hints, readiness, printed_header, topbar_hidden

    hints, readiness, printed_header, topbar_hidden = browse(scenario)

    assert all("＿" in hint for hint in hints)
    assert readiness == "Off-book: 5 of 5 lines mastered"
    assert printed_header and topbar_hidden
    assert (tmp_path / "print.png").stat().st_size > 10_000
