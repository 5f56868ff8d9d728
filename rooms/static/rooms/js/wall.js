// The wall screen: one studio's live numbers, trend and run-of-show on a TV across the room.
//
// It starts from the live snapshot in the page, then applies the stream's events from the
// websocket: "metrics" (tiles, alerts, the current trend point), "show" and "cue" (now/next,
// pins, trend markers), "stream" (status). Every event carries absolute values, so applying
// one twice changes nothing. A wall is left on for days and must never freeze silently: the
// socket reconnects itself, the clock ticks every second, a banner says when the numbers may
// be behind, and the TV asks every minute which stream its studio is on (which also tells it
// when it has been unpaired).
import { EventSocket } from "../../js/event-socket.js";
import { applyShowEvent, clockOffset, formatSeconds, timing } from "./show-clock.js";

const config = JSON.parse(document.getElementById("wall-data").textContent);
const labels = config.labels;
const tv = config.mode === "screen";
const SERIES_LIMIT = 360; // minutes, as the server's snapshot
const SVG = "http://www.w3.org/2000/svg";

const numbers = new Intl.NumberFormat(config.language);
const money = new Intl.NumberFormat(config.language, {
  minimumFractionDigits: 2, maximumFractionDigits: 2,
});
const compact = new Intl.NumberFormat(config.language, {
  notation: "compact", maximumFractionDigits: 1,
});
const percent = new Intl.NumberFormat(config.language, {
  style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1,
});
// Conversion is often well under one per cent: two places keep it from reading "0.0%".
const smallPercent = new Intl.NumberFormat(config.language, {
  style: "percent", minimumFractionDigits: 2, maximumFractionDigits: 2,
});

const state = {
  stream: null,
  metrics: null,
  series: [],
  markers: [],
  show: null,
  panels: [],
  offset: 0,
  products: new Map(config.products.map((p) => [p.link_number, p])),
};

const $ = (id) => document.getElementById(id);

// Fills a translated "%(name)s" template.
function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
}

// --- snapshot ---------------------------------------------------------------------------

function load(snapshot) {
  state.stream = snapshot.stream;
  state.metrics = snapshot.metrics;
  state.series = snapshot.series.map(point);
  state.markers = snapshot.markers.slice();
  state.show = snapshot.show;
  state.panels = snapshot.panels || [];
  state.offset = clockOffset(snapshot.server_now);
  for (const cue of snapshot.show.cues) learnProduct(cue);
  renderAll();
}

function point(raw) {
  return { at: Date.parse(raw.minute), gmv: Number(raw.gmv), online: Number(raw.online) };
}

function learnProduct(cue) {
  if (cue.link_number && cue.product && !state.products.has(cue.link_number)) {
    state.products.set(cue.link_number, { link_number: cue.link_number, name: cue.product });
  }
}

function renderAll() {
  renderStatus();
  renderTiles();
  renderShow();
  renderPinned();
  renderPanels();
  scheduleChart();
}

// --- events -----------------------------------------------------------------------------

function apply(events) {
  let tiles = false;
  let show = false;
  let chart = false;
  for (const event of events) {
    if (event.type === "metrics" && event.op === "tiles") {
      state.metrics = event.data;
      upsertPoint(point(event.data.point));
      tiles = chart = true;
    } else if (event.type === "show" || event.type === "cue") {
      applyShowEvent(state.show, event);
      if (event.type === "cue") {
        learnProduct(event.data);
        if (event.op === "go") {
          applyPins(event.data);
          chart = addCueMarker(event.data) || chart;
        }
      }
      show = true;
    } else if (event.type === "stream" && event.op === "status_changed") {
      state.stream.status = event.data.to;
      state.stream.actual_start = event.data.actual_start ?? state.stream.actual_start;
      state.stream.actual_end = event.data.actual_end ?? state.stream.actual_end;
      renderStatus();
      show = true;
    } else if (PANEL_EVENT_TYPES.has(event.type)) {
      if (event.type === "boost" && event.op === "confirmed") {
        chart = addBoostMarker(event) || chart;
      }
      panelsStale();
    }
  }
  if (tiles) renderTiles();
  if (show) {
    renderShow();
    renderPinned();
  }
  if (chart) scheduleChart();
}

function upsertPoint(next) {
  const series = state.series;
  const index = series.findIndex((p) => p.at === next.at);
  if (index >= 0) {
    series[index] = next;
  } else {
    series.push(next);
    series.sort((a, b) => a.at - b.at);
    if (series.length > SERIES_LIMIT) series.splice(0, series.length - SERIES_LIMIT);
  }
}

// The server logs a "show" event when pins change; applying the cue's effect as well keeps a
// wall that missed it (an older server) right, and applying both changes nothing.
function applyPins(cue) {
  const pinned = state.show.pinned;
  if (cue.kind === "pin" && cue.link_number && !pinned.includes(cue.link_number)) {
    pinned.push(cue.link_number);
  } else if (cue.kind === "unpin" || cue.kind === "sold_out") {
    state.show.pinned = pinned.filter((n) => n !== cue.link_number);
  }
}

function addCueMarker(cue) {
  if (!cue.go_at || state.markers.some((m) => m.cue === cue.id)) return false;
  state.markers.push({
    at: cue.go_at,
    kind: cue.kind,
    label: cue.link_number ? `#${cue.link_number}` : cue.kind,
    cue: cue.id,
  });
  return true;
}

// A boost the platform confirmed, labelled as the server labels its own boost markers
// (ads `TREND_MARKERS`: "+¥500", "−¥200"); a reload brings the server's marker in its place.
const CURRENCY_SIGNS = {
  CNY: "¥", USD: "$", SGD: "S$", MYR: "RM", THB: "฿", IDR: "Rp", VND: "₫", PHP: "₱",
};
const BUDGET_ACTIONS = new Set(["add_budget", "set_budget", "cut"]);

function addBoostMarker(event) {
  const decision = event.data;
  if (state.markers.some((m) => m.decision === decision.id)) return false;
  state.markers.push({
    at: event.at, kind: "boost", label: boostLabel(decision), decision: decision.id,
  });
  return true;
}

function boostLabel(decision) {
  if (decision.amount === null || !BUDGET_ACTIONS.has(decision.action)) {
    return labels.markers[decision.action] || decision.action;
  }
  const amount = Number(decision.amount);
  const places = Number.isInteger(amount) ? 0 : 2;
  const number = new Intl.NumberFormat("en-US", {
    minimumFractionDigits: places, maximumFractionDigits: places,
  }).format(Math.abs(amount));
  const sign = amount > 0 ? "+" : "−";
  const currency = state.metrics?.tiles?.currency || "";
  const symbol = CURRENCY_SIGNS[currency];
  return symbol ? `${sign}${symbol}${number}` : `${sign}${number} ${currency}`.trim();
}

// --- header -----------------------------------------------------------------------------

// The studio's wall clock, wherever the server or the TV's own settings say it is.
const clockFormat = new Intl.DateTimeFormat(config.language, {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  timeZone: config.timeZone,
});

function renderStatus() {
  const status = $("wall-status");
  if (!status || !state.stream) return;
  status.className = `status wall-status status-${state.stream.status}`;
  status.textContent = labels.streamStatuses[state.stream.status] || state.stream.status;
}

function renderClock() {
  $("wall-clock").textContent = clockFormat.format(new Date(Date.now() + state.offset));
}

function showConnection(connection) {
  const element = $("wall-connection");
  element.dataset.connection = connection;
  element.textContent = labels.connection[connection] || connection;
  // Anything but a working socket means the numbers may be behind: say so across the top.
  $("wall-banner").hidden = connection === "live" || connection === "connecting";
  document.body.classList.toggle("wall-stale", connection !== "live");
}

// --- tiles ------------------------------------------------------------------------------

// The value exactly as the API gives it ("12345.60"), its thousands marked by CSS alone
// (`.digits-group::before`), so the text read from the page is the API's own.
function showNumber(element, raw) {
  element.replaceChildren();
  if (raw === null || raw === undefined) {
    element.textContent = "–";
    return;
  }
  const text = String(raw);
  const match = /^(-?)(\d+)(.*)$/.exec(text);
  if (!match) {
    element.textContent = text;
    return;
  }
  const [, sign, whole, rest] = match;
  const head = whole.length % 3 || 3;
  element.append(sign + whole.slice(0, head));
  for (let i = head; i < whole.length; i += 3) {
    const group = document.createElement("span");
    group.className = "digits-group";
    group.textContent = whole.slice(i, i + 3);
    element.append(group);
  }
  if (rest) element.append(rest);
}

function tile(name) {
  const element = document.querySelector(`[data-tile="${name}"]`);
  return {
    element,
    value: element.querySelector("[data-value]"),
    sub: element.querySelector("[data-sub]"),
    currency: element.querySelector("[data-currency]"),
  };
}

function changeText(change) {
  if (change === null || change === undefined) return "";
  const value = Number(change);
  const arrow = value < 0 ? "▼" : value > 0 ? "▲" : "";
  return `${arrow} ${fill(labels.change, { change: percent.format(Math.abs(value)) })}`;
}

function renderTiles() {
  if (!state.metrics) return;
  const { tiles, alerts = {}, changes = {} } = state.metrics;
  const subs = {
    gmv: fill(labels.placed, { amount: money.format(Number(tiles.gmv_placed)) }),
    orders: fill(labels.refunded, { count: numbers.format(tiles.refunds) }),
    online: fill(labels.peak, { count: numbers.format(tiles.online_peak) }),
    conversion: labels.ofEntered,
    gpm: labels.perThousand,
    items: "",
    entered: "",
    average_order: "",
  };
  for (const name of Object.keys(subs)) {
    const parts = tile(name);
    if (name === "conversion") {
      const conversion = Number(tiles.conversion);
      parts.value.textContent = tiles.conversion === null ? "–"
        : (conversion < 0.01 ? smallPercent : percent).format(conversion);
    } else {
      showNumber(parts.value, tiles[name]);
    }
    if (parts.currency) parts.currency.textContent = tiles.currency;
    const alert = Boolean(alerts[name]);
    parts.element.classList.toggle("alert", alert);
    parts.sub.textContent = alert ? `${changeText(changes[name])} · ${subs[name]}` : subs[name];
    fit(parts.value.parentElement);
  }
}

// Big numbers shrink to stay on one line rather than spill out of their tile.
function fit(element) {
  element.style.fontSize = "";
  let size = parseFloat(getComputedStyle(element).fontSize);
  while (element.scrollWidth > element.clientWidth && size > 16) {
    size *= 0.9;
    element.style.fontSize = `${size}px`;
  }
}

// --- run-of-show ------------------------------------------------------------------------

function renderShow() {
  const show = state.show;
  if (!show) return;
  const nowMs = Date.now() + state.offset;
  const t = timing(show, nowMs);
  const countdown = $("show-countdown");
  const caption = $("show-caption");
  const drift = $("show-drift");
  const progress = $("show-progress");
  const ended = ["ended", "reviewed"].includes(state.stream.status);
  countdown.classList.remove("over");
  drift.className = "wall-show-drift";
  drift.textContent = "";
  const running = t.current && !ended;
  $("show-position").textContent = running
    ? fill(labels.position, { n: t.position + 1, total: show.segments.length })
    : "";
  if (running) {
    $("show-now").textContent = t.current.title;
    countdown.textContent = formatSeconds(Math.abs(t.remaining));
    caption.textContent = t.remaining < 0 ? labels.overrun : labels.left;
    countdown.classList.toggle("over", t.remaining < 0);
    const share = t.current.planned_seconds ? t.elapsed / t.current.planned_seconds : 1;
    progress.style.width = `${Math.max(0, Math.min(1, share)) * 100}%`;
    progress.classList.toggle("over", t.remaining < 0);
    if (t.drift > 0) {
      drift.textContent = fill(labels.over, { time: formatSeconds(t.drift) });
      drift.classList.add("over");
    } else if (t.drift < 0) {
      drift.textContent = fill(labels.under, { time: formatSeconds(-t.drift) });
      drift.classList.add("under");
    } else {
      drift.textContent = labels.onTime;
      drift.classList.add("on-time");
    }
  } else {
    $("show-now").textContent = ended ? labels.ended : labels.notStarted;
    const untilStart = (Date.parse(state.stream.planned_start) - nowMs) / 1000;
    const waiting = !ended && state.stream.status !== "live" && untilStart > 0;
    countdown.textContent = waiting ? formatSeconds(untilStart) : "";
    caption.textContent = waiting ? labels.startsIn : "";
    progress.style.width = "0%";
  }
  $("show-next").textContent = t.next && !ended
    ? `${t.next.title} · ${formatSeconds(t.next.planned_seconds)}`
    : labels.endOfPlan;
  const note = $("show-note");
  note.hidden = !(running && !show.operator_online);
  note.textContent = labels.operatorOffline;
}

function renderPinned() {
  const list = $("wall-pinned");
  if (!list || !state.show) return;
  const nowMs = Date.now() + state.offset;
  const items = [];
  // A flash sale under way counts down on the wall, so the floor can call the last seconds.
  for (const cue of state.show.cues) {
    if (cue.kind !== "flash_sale" || !["go", "confirmed"].includes(cue.state)) continue;
    const left = (Date.parse(cue.params?.ends_at) - nowMs) / 1000;
    if (!(left > 0)) continue;
    const item = document.createElement("li");
    item.className = "wall-flash";
    item.append(
      span("wall-pin-link", cue.link_number ? `#${cue.link_number}` : "⚡"),
      span("wall-pin-name", labels.flashSale),
      span("wall-pin-price", fill(labels.flashLeft, { time: formatSeconds(left) })),
    );
    items.push(item);
  }
  for (const link of state.show.pinned) {
    const product = state.products.get(link);
    const item = document.createElement("li");
    item.append(
      span("wall-pin-link", `#${link}`),
      span("wall-pin-name", product ? product.name : ""),
      span("wall-pin-price", product?.live_price ? money.format(Number(product.live_price)) : ""),
    );
    items.push(item);
  }
  if (!items.length) {
    const item = document.createElement("li");
    item.className = "wall-none";
    item.textContent = labels.nonePinned;
    items.push(item);
  }
  list.replaceChildren(...items);
}

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

// Other apps' panels: `{key, title, items}`, an item a string or `{label|text|title, detail}`.
function renderPanels() {
  const container = $("wall-panels");
  if (!container) return;
  const sections = [];
  for (const panel of state.panels) {
    const items = panel.items || [];
    if (!items.length) continue;
    const section = document.createElement("section");
    section.className = "wall-card wall-panel";
    section.dataset.panel = panel.key;
    const title = document.createElement("h2");
    title.className = "wall-card-label";
    title.textContent = panel.title;
    const list = document.createElement("ol");
    list.className = "wall-panel-list";
    for (const entry of items) {
      const item = document.createElement("li");
      if (typeof entry === "string") {
        item.append(span("wall-panel-text", entry));
      } else {
        item.append(span("wall-panel-text", entry.label ?? entry.text ?? entry.title ?? ""));
        const detail = entry.detail ?? entry.value ?? entry.count;
        if (detail !== undefined && detail !== null) {
          item.append(span("wall-panel-detail", String(detail)));
        }
      }
      list.append(item);
    }
    section.append(title, list);
    sections.push(section);
  }
  container.replaceChildren(...sections);
}

// --- trend chart ------------------------------------------------------------------------

let chartFrame = null;
function scheduleChart() {
  if (chartFrame !== null || !$("wall-chart")) return;
  chartFrame = requestAnimationFrame(() => {
    chartFrame = null;
    drawChart();
  });
}

function node(tag, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== null) element.textContent = text;
  return element;
}

// A round top for an axis: 1, 2, 2.5 or 5 times a power of ten.
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

// Minutes from UTC to the studio's wall clock at `ms` (time labels fall on its round minutes).
function zoneOffsetMs(ms, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]),
  );
  const local = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute,
    parts.second);
  return local - Math.floor(ms / 1000) * 1000;
}

// One plot, two y axes: GMV (a running total) on the left, online viewers on the right, a
// shared minute axis in the studio's time zone, and the show's moments as vertical markers.
function drawChart() {
  const box = $("wall-chart");
  const width = box.clientWidth;
  const height = box.clientHeight;
  if (!width || !height) return;
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
  const svg = node("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, class: "wall-chart-svg",
    role: "img", "aria-label": `${labels.gmv} · ${labels.online}`,
  });
  const series = state.series;
  const nowMs = Date.now() + state.offset;
  if (!series.length) {
    svg.append(node("text", { x: width / 2, y: height / 2, class: "chart-empty",
      "text-anchor": "middle" }, labels.noData));
    box.replaceChildren(svg);
    return;
  }
  const live = state.stream.status === "live";
  // From the start of the stream, though the first number may come a little later.
  const wentLive = Date.parse(state.stream.actual_start);
  const start = Math.min(series[0].at, wentLive ? wentLive - (wentLive % 60_000) : Infinity);
  const lastAt = series[series.length - 1].at;
  const end = Math.max(lastAt, live ? nowMs : lastAt, start + 10 * 60_000);
  const left = 5.5 * rem;
  const right = 5.5 * rem;
  const bottom = height - 2.4 * rem;
  const x = (ms) => left + ((ms - start) / (end - start)) * (width - left - right);
  const markers = layoutMarkers({ start, end, x, rem });
  // Marker labels take as many rows as they need; the axis titles sit beside the first.
  const band = Math.max(1.9 * rem, markers.rows * 1.6 * rem + 0.2 * rem);
  const top = band + 0.9 * rem;
  const axes = [
    { key: "gmv", value: (p) => p.gmv, side: "left", title: labels.gmvAxis },
    { key: "online", value: (p) => p.online, side: "right", title: labels.onlineAxis },
  ];
  for (const axis of axes) {
    const max = niceMax(Math.max(...series.map(axis.value)));
    const y = (v) => bottom - (v / max) * (bottom - top);
    const group = node("g", { class: `chart chart-${axis.key}` });
    const tickX = axis.side === "left" ? left - 0.6 * rem : width - right + 0.6 * rem;
    const anchor = axis.side === "left" ? "end" : "start";
    group.append(node("text", { x: tickX, y: 1.1 * rem, "text-anchor": anchor,
      class: "chart-title" }, axis.title));
    for (const tick of [0, max / 2, max]) {
      if (axis.side === "left") {
        group.append(node("line", { x1: left, x2: width - right, y1: y(tick), y2: y(tick),
          class: "chart-grid" }));
      }
      group.append(node("text", { x: tickX, y: y(tick), class: "chart-tick",
        "text-anchor": anchor, "dominant-baseline": "middle" }, compact.format(tick)));
    }
    const coords = series.map((p) => [x(p.at), y(axis.value(p))]);
    // The last count holds until the next one: draw it on to now, not into the future.
    if (live && lastAt < nowMs) coords.push([x(nowMs), coords[coords.length - 1][1]]);
    const line = coords.map(([cx, cy], i) => `${i ? "L" : "M"}${cx.toFixed(1)},${cy.toFixed(1)}`)
      .join("");
    group.append(
      node("path", { d: `${line}L${coords[coords.length - 1][0].toFixed(1)},${bottom}` +
        `L${coords[0][0].toFixed(1)},${bottom}Z`, class: "chart-area" }),
      node("path", { d: line, class: "chart-line" }),
      node("circle", { cx: x(lastAt), cy: y(axis.value(series[series.length - 1])),
        r: 0.45 * rem, class: "chart-dot" }),
    );
    svg.append(group);
  }
  drawTimeAxis(svg, { start, end, x, y: bottom + 1.4 * rem, width, left, right, rem });
  svg.append(drawMarkers(markers, { top, bottom, rem }));
  box.replaceChildren(svg);
}

function drawTimeAxis(svg, { start, end, x, y, width, left, right, rem }) {
  const timeZone = state.stream.time_zone;
  const format = new Intl.DateTimeFormat(config.language, {
    timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const span = (end - start) / 60_000;
  const room = Math.max(2, Math.floor((width - left - right) / (6 * rem)));
  const step = [1, 2, 5, 10, 15, 20, 30, 60, 120, 180].find((s) => span / s <= room) || 240;
  const stepMs = step * 60_000;
  const offset = zoneOffsetMs(start, timeZone);
  // Labels on the studio's round minutes: 20:00, 20:15, … even in a +05:30 time zone.
  let tick = Math.ceil((start + offset) / stepMs) * stepMs - offset;
  const axis = node("g", { class: "chart-axis" });
  for (; tick <= end; tick += stepMs) {
    axis.append(node("text", { x: x(tick), y, "text-anchor": "middle", class: "chart-tick" },
      format.format(new Date(tick))));
  }
  svg.append(axis);
}

// Where each marker's line and label go: labels side by side in as few rows as fit (two at
// most); a marker with no room for its label keeps its line.
function layoutMarkers({ start, end, x, rem }) {
  const lastInRow = [-Infinity, -Infinity];
  const placed = [];
  let rows = 0;
  const sorted = state.markers
    .map((m) => ({ ...m, ms: Date.parse(m.at) }))
    .filter((m) => m.ms >= start - 60_000 && m.ms <= end + 60_000)
    .sort((a, b) => a.ms - b.ms);
  for (const marker of sorted) {
    const mx = Math.max(x(start), Math.min(x(end), x(marker.ms)));
    const text = markerLabel(marker);
    const halfWidth = (textWidth(text) * 0.95 + 1) * rem * 0.5;
    // The label stays over the plot, clear of the axes, even for a moment at its very edge.
    const cx = Math.max(x(start) + halfWidth, Math.min(x(end) - halfWidth, mx));
    const row = lastInRow.findIndex((last) => cx - halfWidth > last + 0.3 * rem);
    if (row >= 0) {
      lastInRow[row] = cx + halfWidth;
      rows = Math.max(rows, row + 1);
    }
    placed.push({ kind: marker.kind || "other", mx, cx, halfWidth, row, text });
  }
  return { placed, rows };
}

function drawMarkers({ placed }, { top, bottom, rem }) {
  const group = node("g", { class: "chart-markers" });
  for (const { kind, mx, cx, halfWidth, row, text } of placed) {
    const labelTop = 0.1 * rem + Math.max(row, 0) * 1.6 * rem;
    group.append(node("line", { x1: mx, x2: mx, y1: row < 0 ? top : labelTop + 1.4 * rem,
      y2: bottom, class: `chart-marker marker-${kind}` }));
    if (row < 0) continue;
    group.append(
      node("rect", { x: cx - halfWidth, y: labelTop, width: 2 * halfWidth, height: 1.4 * rem,
        rx: 0.3 * rem, class: `chart-marker-box marker-${kind}` }),
      node("text", { x: cx, y: labelTop + 0.72 * rem, "text-anchor": "middle",
        "dominant-baseline": "middle", class: "chart-marker-label" }, text),
    );
  }
  return group;
}

// Width in em: Chinese characters are square, Latin ones about six tenths.
function textWidth(text) {
  let width = 0;
  for (const char of text) width += char.codePointAt(0) > 0x2e80 ? 1 : 0.62;
  return width;
}

// A cue's marker: its product ("#3"), and what was done unless it was the pin itself
// ("#3 Price"); without a product, what was done ("Cheer"). Other apps' markers as given.
function markerLabel(marker) {
  const label = String(marker.label);
  if (!marker.cue) return label;
  const kind = labels.markers[marker.kind] || marker.kind;
  if (!label.startsWith("#")) return kind;
  return marker.kind === "pin" ? label : `${label} ${kind}`;
}

// --- connection -------------------------------------------------------------------------

function backToPairing() {
  location.replace(config.urls.screen);
}

async function reloadSnapshot() {
  const response = await fetch(config.urls.live, {
    headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
  });
  if (tv && (response.status === 401 || response.status === 403)) {
    backToPairing();
    throw new Error("unpaired");
  }
  if (!response.ok) throw new Error(`live snapshot: HTTP ${response.status}`);
  const snapshot = await response.json();
  load(snapshot);
  return snapshot.head;
}

// Other apps' panels (questions for the host, boost status) are read again every minute, and
// soon after their events say something changed: at most one read per PANEL_REFRESH_MS, so
// a busy chat does not turn every wall into a stream of snapshot requests.
const PANEL_EVENT_TYPES = new Set(["question", "boost", "kill_switch"]);
const PANEL_REFRESH_MS = 5000;
let panelRefresh = null;

function panelsStale() {
  if (panelRefresh !== null) return;
  panelRefresh = setTimeout(() => {
    panelRefresh = null;
    refreshPanels();
  }, PANEL_REFRESH_MS);
}

async function refreshPanels() {
  try {
    const response = await fetch(`${config.urls.live}?only=panels`, {
      headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
    });
    if (!response.ok) return; // an unpaired TV hears of it from checkCurrent
    state.panels = (await response.json()).panels || [];
    renderPanels();
  } catch {
    // The server is away: the connection indicator already says so.
  }
}

// Which stream the studio is on: a new one loads in place of this one; an unpaired screen
// goes back to its pairing code (its socket is closed too, but a wall with nothing on air
// has no socket).
async function checkCurrent() {
  let response;
  try {
    response = await fetch(config.urls.current, {
      headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
    });
  } catch {
    // The server is away. A wall with a stream hears it from its socket; an idle one from here.
    if (!config.snapshot) showConnection("reconnecting");
    return;
  }
  if (response.status === 401 || response.status === 403) {
    backToPairing();
    return;
  }
  if (!response.ok) return;
  const current = await response.json();
  if (!config.snapshot) showConnection("live");
  const showing = config.snapshot ? config.snapshot.stream.id : null;
  if (current.stream !== showing) location.reload();
}

function start() {
  renderClock();
  setInterval(() => {
    renderClock();
    if (state.show) {
      renderShow();
      renderPinned();
    }
  }, 1000);
  if (tv) setInterval(checkCurrent, config.checkSeconds * 1000);
  if (!config.snapshot) {
    showConnection("live");
    return;
  }
  load(config.snapshot);
  // The x axis runs to "now" on a live stream, even through a quiet minute.
  setInterval(scheduleChart, 30_000);
  setInterval(refreshPanels, config.checkSeconds * 1000);
  let resized = null;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => {
      renderTiles();
      scheduleChart();
    }, 150);
  });
  new EventSocket({
    streamId: config.snapshot.stream.id,
    lastId: config.snapshot.head,
    heartbeatSeconds: config.heartbeatSeconds,
    onEvents: apply,
    onResync: reloadSnapshot,
    onState: showConnection,
    onForbidden: () => {
      if (tv) backToPairing();
      // A signed-in preview: reloading shows the sign-in page or why it is refused.
      else setTimeout(() => location.reload(), 10_000);
    },
  }).start();
}

start();
