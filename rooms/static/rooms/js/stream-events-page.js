// A stream's live event feed: the snapshot rendered by the server, then the websocket.
import { EventSocket } from "../../js/event-socket.js";

const MAX_ROWS = 500;
const snapshot = JSON.parse(document.getElementById("feed-snapshot").textContent);
const labels = snapshot.labels;
const feed = document.getElementById("feed");
const connection = document.getElementById("connection");
const streamStatus = document.getElementById("stream-status");
const timeFormat = new Intl.DateTimeFormat(snapshot.language, {
  timeZone: snapshot.timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit",
  hour12: false,
});
const numberFormat = new Intl.NumberFormat(snapshot.language);
const counts = {};

// Fills a translated "%(name)s" template.
function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
}

function describe(event) {
  const d = event.data;
  switch (event.type) {
    case "comment":
      return `${d.user_name}: ${d.text}`;
    case "order":
      return `${labels.orderStatuses[event.op] || event.op} · ${d.sku} × ${d.quantity} · ${d.amount} ${d.currency}`;
    case "viewers":
      return fill(labels.viewers, {
        online: numberFormat.format(d.online), entered: numberFormat.format(d.entered_total),
      });
    case "ad_metrics":
      return fill(labels.adMetrics, {
        campaign: d.campaign_id, spend: d.spend, gmv: d.gmv, currency: d.currency,
      });
    case "stream":
      return `${labels.streamStatuses[d.from] || d.from} → ${labels.streamStatuses[d.to] || d.to}`;
    default:
      return `${event.op} ${JSON.stringify(d)}`;
  }
}

function row(event) {
  const item = document.createElement("li");
  item.className = `feed-item feed-${event.type}`;
  item.dataset.id = event.id;
  const time = document.createElement("time");
  time.dateTime = event.at;
  time.textContent = timeFormat.format(new Date(event.at));
  const kind = document.createElement("span");
  kind.className = "feed-kind";
  kind.textContent = labels.types[event.type] || event.type;
  const text = document.createElement("span");
  text.className = "feed-text";
  text.textContent = describe(event);
  item.append(time, kind, text);
  return item;
}

function showStatus(status) {
  streamStatus.dataset.status = status;
  streamStatus.className = `status status-${status}`;
  streamStatus.textContent = labels.streamStatuses[status] || status;
}

function render(events, { count }) {
  const fragment = document.createDocumentFragment();
  for (let i = events.length - 1; i >= 0; i -= 1) fragment.append(row(events[i]));
  feed.prepend(fragment);
  while (feed.children.length > MAX_ROWS) feed.lastElementChild.remove();
  for (const event of events) {
    if (count) counts[event.type] = (counts[event.type] || 0) + 1;
    if (event.type === "viewers") {
      document.getElementById("online").textContent = numberFormat.format(event.data.online);
    } else if (event.type === "ad_metrics") {
      document.getElementById("spend").textContent = `${event.data.spend} ${event.data.currency}`;
    } else if (event.type === "stream") {
      showStatus(event.data.to);
    }
  }
  for (const tile of document.querySelectorAll("[data-count]")) {
    tile.textContent = numberFormat.format(counts[tile.dataset.count] || 0);
  }
  if (events.length) {
    document.getElementById("last-id").textContent = `#${events[events.length - 1].id}`;
  }
}

// After a resync: the newest events the log holds, then carry on after them.
async function reloadSnapshot() {
  const response = await fetch(`${snapshot.snapshotUrl}?tail=${snapshot.snapshotSize}`, {
    headers: { Accept: "application/json" }, credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`snapshot: HTTP ${response.status}`);
  const page = await response.json();
  feed.replaceChildren();
  render(page.events, { count: false });
  return page.head;
}

render(snapshot.events, { count: false });

new EventSocket({
  streamId: snapshot.stream,
  lastId: snapshot.head,
  heartbeatSeconds: snapshot.heartbeatSeconds,
  onEvents: (events) => render(events, { count: true }),
  onResync: reloadSnapshot,
  // Signed out elsewhere or no longer allowed: reloading shows the sign-in page or the
  // reason, rather than a feed that silently stopped.
  onForbidden: () => setTimeout(() => location.reload(), 10_000),
  onState: (state) => {
    connection.dataset.state = state;
    connection.textContent = labels.connection[state] || state;
  },
}).start();
