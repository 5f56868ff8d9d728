// A stream's live event feed: the snapshot rendered by the server, then the websocket.
import { EventSocket } from "../../js/event-socket.js";

const MAX_ROWS = 500;
const snapshot = JSON.parse(document.getElementById("feed-snapshot").textContent);
const feed = document.getElementById("feed");
const connection = document.getElementById("connection");
const labels = feed.dataset;
const timeFormat = new Intl.DateTimeFormat(snapshot.language, {
  timeZone: snapshot.timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit",
  hour12: false,
});
const numberFormat = new Intl.NumberFormat(snapshot.language);
const counts = {};

function describe(event) {
  const d = event.data;
  switch (event.type) {
    case "comment":
      return `${d.user_name}: ${d.text}`;
    case "order":
      return `${event.op} · ${d.sku} × ${d.quantity} · ${d.amount} ${d.currency}`;
    case "viewers":
      return `${numberFormat.format(d.online)} ${labels.labelOnline} · ${numberFormat.format(d.entered_total)} ${labels.labelEntered}`;
    case "ad_metrics":
      return `${d.campaign_id} · ${labels.labelSpend} ${d.spend} · ${labels.labelGmv} ${d.gmv} ${d.currency}`;
    case "stream":
      return `${d.from} → ${d.to}`;
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
  const key = "label" + event.type.split("_").map((p) => p[0].toUpperCase() + p.slice(1)).join("");
  kind.textContent = labels[key] || event.type;
  const text = document.createElement("span");
  text.className = "feed-text";
  text.textContent = describe(event);
  item.append(time, kind, text);
  return item;
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
      document.getElementById("stream-status").textContent = event.data.to;
    }
  }
  for (const tile of document.querySelectorAll("[data-count]")) {
    tile.textContent = numberFormat.format(counts[tile.dataset.count] || 0);
  }
  if (events.length) {
    document.getElementById("last-id").textContent = `#${events[events.length - 1].id}`;
  }
}

async function reloadSnapshot() {
  const response = await fetch(`${snapshot.snapshotUrl}?after=0&limit=1`, {
    headers: { Accept: "application/json" }, credentials: "same-origin",
  });
  const page = await response.json();
  feed.replaceChildren();
  const recent = await fetch(
    `${snapshot.snapshotUrl}?after=${Math.max(0, page.head - 200)}&limit=200`,
    { headers: { Accept: "application/json" }, credentials: "same-origin" },
  ).then((r) => r.json());
  render(recent.events, { count: false });
  return recent.events.length ? recent.events[recent.events.length - 1].id : page.head;
}

render(snapshot.events, { count: false });

const socket = new EventSocket({
  streamId: snapshot.stream,
  lastId: snapshot.head,
  heartbeatSeconds: snapshot.heartbeatSeconds,
  onEvents: (events) => render(events, { count: true }),
  onResync: reloadSnapshot,
  onState: (state) => {
    connection.dataset.state = state;
    const key = "label" + state[0].toUpperCase() + state.slice(1);
    connection.textContent = connection.dataset[key] || state;
  },
});
socket.start();
