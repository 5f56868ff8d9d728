import os
import queue
import shutil
import threading
from collections.abc import Callable

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def browse():
    """Run a scenario against a real Chromium: `browse(lambda page: ...)`.

    Playwright's sync API runs an event loop in the thread that drives it, and Django
    refuses database work in a thread with a running loop. The scenario therefore runs in a
    thread of its own, and the test keeps the main thread for the database.
    """
    if not os.path.exists(CHROMIUM):
        if os.environ.get("MCN_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests need Chromium at {CHROMIUM}")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")

    def run(scenario: Callable, *, viewport=(1440, 900), locale: str = "en-GB"):
        outcome: dict = {}

        def drive() -> None:
            from playwright.sync_api import sync_playwright

            try:
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=CHROMIUM, args=CHROMIUM_ARGS
                    )
                    context = browser.new_context(
                        viewport={"width": viewport[0], "height": viewport[1]}, locale=locale
                    )
                    outcome["result"] = scenario(context.new_page())
                    browser.close()
            except BaseException as exc:  # re-raised in the test's thread
                outcome["error"] = exc

        driver = threading.Thread(target=drive)
        driver.start()
        driver.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    return run


class MainThread:
    """Runs the scenario's database steps in the test's own thread, one at a time."""

    def __init__(self) -> None:
        self.requests: queue.Queue = queue.Queue()

    def __call__(self, step: Callable):
        """From the browser's thread: run `step` in the main thread and return its value."""
        answer: queue.Queue = queue.Queue(maxsize=1)
        self.requests.put((step, answer))
        ok, value = answer.get()
        if not ok:
            raise value
        return value

    def serve(self, browse, scenario: Callable, **options):
        outcome: dict = {}

        def drive() -> None:
            try:
                outcome["result"] = browse(scenario, **options)
            except BaseException as exc:  # re-raised below, in the test's thread
                outcome["error"] = exc
            finally:
                self.requests.put(None)

        driver = threading.Thread(target=drive)
        driver.start()
        while (request := self.requests.get()) is not None:
            step, answer = request
            try:
                answer.put((True, step()))
            except BaseException as exc:
                answer.put((False, exc))
        driver.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]
