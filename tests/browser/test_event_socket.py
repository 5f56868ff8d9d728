"""The shared browser client (mcn_console/static/js/event-socket.js) under a scripted server.

A fake WebSocket stands in for the network, and Playwright's clock for time, so each
scenario (overlaps, gaps, resync, withdrawn access, dead connections) plays out exactly.
"""

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CLIENT = (
    Path(__file__).resolve().parents[2] / "mcn_console" / "static" / "js" / "event-socket.js"
).read_text()

HARNESS = """
class FakeSocket {
  static OPEN = 1;
  static all = [];
  constructor(url) {
    this.url = url; this.readyState = 0; this.sent = []; FakeSocket.all.push(this);
  }
  send(data) { this.sent.push(JSON.parse(data)); }
  close(code) { this.readyState = 3; this.closedWith = code; }
  // the scripted server:
  open() { this.readyState = 1; this.onopen && this.onopen(); }
  frame(frame) { this.onmessage && this.onmessage({ data: JSON.stringify(frame) }); }
  drop(code) { this.readyState = 3; this.onclose && this.onclose({ code }); }
}
window.WebSocket = FakeSocket;
window.FakeSocket = FakeSocket;
window.applied = [];
window.states = [];
window.forbidden = 0;
window.resyncs = 0;
window.events = (...ids) => ({ frame: "events", events: ids.map((id) => ({ id })) });
window.latest = () => FakeSocket.all[FakeSocket.all.length - 1];
window.startClient = (lastId, resyncTo) => {
  window.client = new EventSocket({
    streamId: 7, lastId, heartbeatSeconds: 1, url: "ws://test/ws/streams/7/events/",
    onEvents: (events) => window.applied.push(...events.map((e) => e.id)),
    onResync: async () => { window.resyncs += 1; return resyncTo; },
    onState: (state) => window.states.push(state),
    onForbidden: () => { window.forbidden += 1; },
  });
  window.client.start();
};
"""


@pytest.fixture
def scripted(browse):
    """Run `steps(page)` with the client loaded next to a fake WebSocket and a fake clock."""

    def run(steps):
        def scenario(page):
            page.clock.install()
            page.set_content("<!doctype html><title>client</title>")
            page.add_script_tag(
                content=HARNESS
                + CLIENT.replace("export class", "class")
                + "\nwindow.EventSocket = EventSocket;"
            )
            return steps(page)

        return browse(scenario)

    return run


def test_overlapping_frames_are_applied_once_in_order(scripted):
    def steps(page):
        page.evaluate("startClient(0, 0); latest().open();")
        page.evaluate("latest().frame(events(1, 2, 3)); latest().frame(events(2, 3, 4, 5));")
        return page.evaluate("[applied, FakeSocket.all.length]")

    applied, sockets = scripted(steps)

    assert applied == [1, 2, 3, 4, 5]
    assert sockets == 1


def test_a_gap_is_never_applied_and_the_client_resumes_after_its_last_id(scripted):
    def steps(page):
        page.evaluate("startClient(5, 0); latest().open(); latest().frame(events(6, 8, 9));")
        page.clock.run_for(10)
        return page.evaluate("[applied, FakeSocket.all.map((s) => s.url)]")

    applied, urls = scripted(steps)

    assert applied == [6]
    assert urls == [
        "ws://test/ws/streams/7/events/?after=5",
        "ws://test/ws/streams/7/events/?after=6",
    ]


def test_a_resync_reloads_the_snapshot_and_resumes_after_it(scripted):
    def steps(page):
        page.evaluate("startClient(5, 40); latest().open();")
        page.evaluate("latest().frame({frame: 'resync', head: 40}); latest().drop(4001);")
        page.clock.run_for(60_000)
        return page.evaluate("[resyncs, latest().url, FakeSocket.all.length]")

    resyncs, url, sockets = scripted(steps)

    assert resyncs == 1
    assert url == "ws://test/ws/streams/7/events/?after=40"
    assert sockets == 2


def test_a_resync_close_without_its_frame_still_resyncs(scripted):
    def steps(page):
        page.evaluate("startClient(5, 12); latest().open(); latest().drop(4001);")
        page.clock.run_for(60_000)
        return page.evaluate("[resyncs, latest().url]")

    resyncs, url = scripted(steps)

    assert resyncs == 1
    assert url.endswith("?after=12")


def test_withdrawn_access_stops_the_client_and_tells_the_page(scripted):
    def steps(page):
        page.evaluate("startClient(0, 0); latest().open(); latest().drop(4003);")
        page.clock.run_for(600_000)
        return page.evaluate("[forbidden, FakeSocket.all.length, states.at(-1)]")

    forbidden, sockets, state = scripted(steps)

    assert (forbidden, sockets, state) == (1, 1, "forbidden")


def test_a_silent_connection_is_replaced_after_two_and_a_half_heartbeats(scripted):
    def steps(page):
        page.evaluate(
            "startClient(3, 0); latest().open(); latest().frame({frame: 'pong', head: 3});"
        )
        page.clock.run_for(2_400)
        before = page.evaluate("FakeSocket.all.length")
        page.clock.run_for(200)
        return before, page.evaluate("[FakeSocket.all.length, FakeSocket.all[0].closedWith]")

    before, (after, closed_with) = scripted(steps)

    assert before == 1
    assert (after, closed_with) == (2, 1000)


def test_failed_connections_back_off_exponentially(scripted):
    def steps(page):
        page.evaluate("startClient(0, 0); latest().drop(1006);")
        counts = []
        for _ in range(5):
            page.clock.run_for(20_000)
            page.evaluate("latest().drop(1006);")
            counts.append(page.evaluate("FakeSocket.all.length"))
        return counts

    counts = scripted(steps)

    # Waits of up to 0.5, 1, 2, 4, 8 s: each 20 s window opens exactly one new attempt.
    assert counts == [2, 3, 4, 5, 6]


def test_the_client_pings_on_open_and_every_heartbeat(scripted):
    def steps(page):
        page.evaluate("startClient(0, 0); latest().open();")
        page.evaluate("latest().frame({frame: 'pong', head: 0});")
        page.clock.run_for(1_000)
        page.evaluate("latest().frame({frame: 'pong', head: 0});")
        page.clock.run_for(1_000)
        return page.evaluate("latest().sent")

    sent = scripted(steps)

    assert sent == [{"frame": "ping"}] * 3
