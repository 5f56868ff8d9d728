// The console's client for a stream's event log: /ws/streams/<id>/events/?after=<last id>.
//
// Applies every event exactly once and in id order, whatever the network does: it remembers
// the last id it applied, skips anything at or below it, reconnects (with backoff) to fill
// any gap, and on `resync` asks the page for a fresh snapshot before carrying on.
//
//   const socket = new EventSocket({
//     streamId, lastId,                   // from the page's snapshot
//     onEvents(events) {},                // contiguous, new, in order
//     onResync: async () => newLastId,    // reload the snapshot; return its head id
//     onState(state) {},                  // "connecting" | "live" | "reconnecting" | "forbidden"
//     onForbidden() {},                   // access withdrawn (session ended, screen unpaired)
//   });
//   socket.start();

const CLOSE_RESYNC = 4001;
const CLOSE_FORBIDDEN = 4003;

export class EventSocket {
  constructor({ streamId, lastId, onEvents, onResync, onState = () => {},
                onForbidden = () => {}, heartbeatSeconds = 25, url = null }) {
    this.streamId = streamId;
    this.lastId = lastId;
    this.onEvents = onEvents;
    this.onResync = onResync;
    this.onState = onState;
    this.onForbidden = onForbidden;
    this.healthy = false;
    this.heartbeatMs = heartbeatSeconds * 1000;
    this.baseUrl = url;
    this.attempt = 0;
    this.socket = null;
    this.stopped = false;
    this.watchdog = null;
    this.pinger = null;
    this.retryTimer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.clearTimers();
    if (this.socket) this.socket.close(1000);
  }

  url() {
    if (this.baseUrl) return `${this.baseUrl}?after=${this.lastId}`;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/streams/${this.streamId}/events/?after=${this.lastId}`;
  }

  connect() {
    this.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.onmessage = (message) => this.receive(socket, message);
    socket.onclose = (event) => this.closed(socket, event);
    socket.onopen = () => {
      // The pong confirms the whole path (auth, catch-up, feed) before any event arrives.
      this.send(socket, { frame: "ping" });
      this.pinger = setInterval(() => this.send(socket, { frame: "ping" }), this.heartbeatMs);
      this.feedWatchdog(socket);
    };
  }

  receive(socket, message) {
    if (socket !== this.socket) return;
    this.feedWatchdog(socket);
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.frame === "events") {
      this.markHealthy();
      this.apply(socket, frame.events);
    } else if (frame.frame === "resync") {
      this.resync(socket);
    } else if (frame.frame === "ping" || frame.frame === "pong") {
      this.markHealthy();
      // The server catches us up before it pings; a head beyond us now means we lost a frame.
      if (frame.frame === "ping" && frame.head > this.lastId) this.reconnectNow(socket);
    }
  }

  markHealthy() {
    this.attempt = 0;
    this.healthy = true;
    this.onState("live");
  }

  apply(socket, events) {
    const fresh = [];
    for (const event of events) {
      if (event.id <= this.lastId) continue;
      if (event.id !== this.lastId + 1) {
        // A gap: hand over what is in order, then resume from the log.
        break;
      }
      fresh.push(event);
      this.lastId = event.id;
    }
    if (fresh.length) this.onEvents(fresh);
    const last = events.length ? events[events.length - 1].id : this.lastId;
    if (last > this.lastId) this.reconnectNow(socket);
  }

  async resync(socket) {
    this.detach(socket);
    socket.close(1000);
    try {
      this.lastId = await this.onResync();
    } catch {
      // Keep the old position; the next attempt will ask again.
    }
    this.scheduleReconnect();
  }

  closed(socket, event) {
    if (socket !== this.socket) return;
    this.detach(socket);
    if (this.stopped) return;
    if (event.code === CLOSE_FORBIDDEN) {
      this.onState("forbidden");
      this.onForbidden();
      return;
    }
    if (event.code === CLOSE_RESYNC) {
      // Normally the resync frame came first and detached this socket; if it was lost,
      // the close code says the same.
      this.resync(socket);
      return;
    }
    this.scheduleReconnect();
  }

  // Reconnect to fill a gap or revive a silent connection: at once if the connection had
  // been working, with backoff if it keeps happening without a healthy frame in between.
  reconnectNow(socket) {
    this.detach(socket);
    socket.close(1000);
    const wasHealthy = this.healthy;
    this.healthy = false;
    this.scheduleReconnect(wasHealthy ? 0 : null);
  }

  scheduleReconnect(delay = null) {
    if (this.stopped) return;
    this.onState("reconnecting");
    this.attempt += 1;
    const backoff = Math.min(30000, 500 * 2 ** Math.min(this.attempt - 1, 6));
    const wait = delay ?? backoff / 2 + Math.random() * (backoff / 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  detach(socket) {
    if (socket === this.socket) this.socket = null;
    socket.onmessage = null;
    socket.onclose = null;
    this.clearTimers();
  }

  feedWatchdog(socket) {
    clearTimeout(this.watchdog);
    // Silence longer than two heartbeats means a dead connection the browser has not noticed.
    this.watchdog = setTimeout(() => {
      if (socket === this.socket) this.reconnectNow(socket);
    }, this.heartbeatMs * 2.5);
  }

  clearTimers() {
    clearInterval(this.pinger);
    clearTimeout(this.watchdog);
  }

  send(socket, frame) {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }
}
