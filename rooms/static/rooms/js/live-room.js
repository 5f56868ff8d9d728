// What the operator console (console.js) and the crew's follow screens (follow.js) share:
// the page's data, the show state kept current from the event log, the clock display, and
// the calls to the REST API.
import { request } from "../../js/api.js";
import { EventSocket } from "../../js/event-socket.js";
import { applyShowEvent, clockOffset, formatDrift, formatSeconds, timing } from "./show-clock.js";

// A cue only moves forward; an older copy (a late event after a newer API answer) is ignored.
const CUE_RANK = { standby: 0, go: 1, confirmed: 2, cancelled: 2 };

export function loadPage() {
  return JSON.parse(document.getElementById("live-data").textContent);
}

// Fills a translated "%(name)s" template.
export function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
}

// Sets text only when it changes: the clock redraws every tick.
export function setText(element, text) {
  if (element && element.textContent !== text) element.textContent = text;
}

// Other apps' events that change what their panels show (questions for the host, boosts).
const PANEL_EVENT_TYPES = new Set(["question", "boost"]);

export class LiveState {
  constructor(snapshot, onChange) {
    this.onChange = onChange;
    this.replace(snapshot);
  }

  // A fresh snapshot (page load, or after a resync): everything, including the clock offset.
  replace(snapshot) {
    this.head = snapshot.head;
    this.offset = clockOffset(snapshot.server_now);
    this.stream = snapshot.stream;
    this.show = snapshot.show;
    this.metrics = snapshot.metrics;
    this.panels = snapshot.panels || [];
  }

  now() {
    return Date.now() + this.offset;
  }

  // Events from the socket; returns what kinds of thing changed.
  apply(events) {
    const changed = new Set();
    for (const event of events) {
      if (event.type === "show") {
        if (event.data.moves < this.show.moves) continue;
        applyShowEvent(this.show, event);
        changed.add("show");
      } else if (event.type === "cue") {
        if (this.upsertCue(event.data)) changed.add("cues");
      } else if (event.type === "metrics") {
        this.metrics = event.data;
        changed.add("metrics");
      } else if (PANEL_EVENT_TYPES.has(event.type)) {
        changed.add("panels");
      } else if (event.type === "stream" && event.op === "status_changed") {
        if (this.stream.status !== event.data.to) changed.add("status");
        this.stream.status = event.data.to;
        this.stream.actual_start = event.data.actual_start;
        this.stream.actual_end = event.data.actual_end;
      }
    }
    return changed;
  }

  upsertCue(cue) {
    const known = this.show.cues.find((c) => c.id === cue.id);
    if (known && CUE_RANK[known.state] > CUE_RANK[cue.state]) return false;
    const firedNow = cue.state === "go" && (!known || known.state === "standby");
    applyShowEvent(this.show, { type: "cue", data: cue });
    if (firedNow) this.pinsAfter(cue);
    return true;
  }

  // The platform's pins change the moment a cue is fired; the cue event is what says so.
  pinsAfter(cue) {
    const pinned = this.show.pinned;
    if (cue.kind === "pin" && !pinned.includes(cue.link_number)) {
      this.show.pinned = [...pinned, cue.link_number];
    } else if (cue.kind === "unpin" || cue.kind === "sold_out") {
      this.show.pinned = pinned.filter((link) => link !== cue.link_number);
    }
  }

  // Where the show stands as an API answer tells it (a move, or a 409's `current`).
  position(data) {
    if (data.moves < this.show.moves) return;
    for (const key of ["position", "moves", "started_at", "segment_started_at", "pinned",
      "operator_online", "operator"]) {
      if (key in data) this.show[key] = data[key];
    }
  }

  // The whole show as a move's answer gives it.
  mergeShow(show) {
    this.position(show);
    for (const cue of show.cues || []) this.upsertCue(cue);
  }

  running() {
    return this.stream.status === "live" && this.show.position >= 0;
  }
}

// POSTs to the REST API as the page's person (see js/api.js).
export function api(page, url, body, { keepalive = false } = {}) {
  return request("POST", url, body, {
    csrfToken: page.csrfToken, networkError: page.labels.networkError, keepalive,
  });
}

export async function fetchSnapshot(page, { panelsOnly = false } = {}) {
  const response = await fetch(panelsOnly ? `${page.urls.live}?only=panels` : page.urls.live, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`snapshot: HTTP ${response.status}`);
  return response.json();
}

export function startSocket(page, state, { onEvents, onResync, onState }) {
  const socket = new EventSocket({
    streamId: state.stream.id,
    lastId: state.head,
    heartbeatSeconds: page.heartbeatSeconds,
    onEvents,
    onResync,
    onState,
    // Signed out elsewhere or no longer allowed: reloading shows the sign-in page.
    onForbidden: () => setTimeout(() => location.reload(), 10_000),
  });
  socket.start();
  return socket;
}

export function showConnection(element, page, state) {
  element.dataset.state = state;
  element.textContent = page.labels.connection[state] || state;
}

export function showStreamStatus(element, page, status) {
  element.dataset.status = status;
  element.className = `status status-${status}`;
  element.textContent = page.labels.streamStatuses[status] || status;
}

export function timeFormatter(page, state) {
  const format = new Intl.DateTimeFormat(page.language, {
    timeZone: state.stream.time_zone, hour: "2-digit", minute: "2-digit", second: "2-digit",
    hour12: false,
  });
  return (iso) => (iso ? format.format(new Date(iso)) : "");
}

export function productName(page, linkNumber) {
  if (linkNumber === null || linkNumber === undefined) return "";
  const item = page.lineup.find((product) => product.link_number === linkNumber);
  return item ? `#${linkNumber} ${item.name}` : `#${linkNumber}`;
}

// "Price change (改价) · #3 Night cream · price 199.00": what a cue (called or planned) asks for.
export function cueSummary(page, cue) {
  const labels = page.labels;
  const parts = [labels.kinds[cue.kind] || cue.kind];
  const product = cue.product
    ? `#${cue.link_number} ${cue.product}` : productName(page, cue.link_number);
  if (product) parts.push(product);
  const params = cue.params || {};
  if (params.price) parts.push(fill(labels.price, { price: params.price }));
  if (params.value) parts.push(fill(labels.value, { value: params.value }));
  if (params.quantity) parts.push(fill(labels.quantity, { quantity: params.quantity }));
  if (params.seconds) parts.push(fill(labels.seconds, { seconds: params.seconds }));
  if (cue.note) parts.push(cue.note);
  return parts.join(" · ");
}

// The planned cues of a segment, each with the called cue it became (if any).
export function plannedCues(state, index, roles = null) {
  const segment = state.show.segments[index];
  if (!segment) return [];
  return segment.cues
    .filter((planned) => !roles || roles.includes(planned.role))
    .map((planned) => ({
      planned,
      called: state.show.cues.find((cue) => cue.script_key === planned.key) || null,
    }));
}

// Redraws NOW / NEXT / countdown / over-under; both pages use the same element ids.
export function renderClock(page, state) {
  const labels = page.labels;
  const now = state.now();
  const t = timing(state.show, now);
  const total = state.show.segments.length;
  const countdown = document.getElementById("countdown");
  const drift = document.getElementById("drift");
  if (!t.current) {
    setText(document.getElementById("now-title"), labels.notStarted);
    setText(document.getElementById("now-meta"), "");
    setText(countdown, "–");
    countdown.dataset.over = "false";
    setText(drift, "");
    drift.dataset.drift = "none";
  } else {
    setText(document.getElementById("now-title"), t.current.title);
    setText(document.getElementById("now-meta"), [
      fill(labels.segmentOf, { n: t.position + 1, total }),
      fill(labels.plannedLength, { time: formatSeconds(t.current.planned_seconds) }),
    ].join(" · "));
    setText(countdown, formatSeconds(t.remaining).replace("-", "−"));
    countdown.dataset.over = String(t.remaining < 0);
    setText(drift, driftText(labels, t.drift));
    drift.dataset.drift = t.drift > 0 ? "over" : t.drift < 0 ? "under" : "even";
  }
  setText(document.getElementById("next-title"), t.next ? t.next.title : labels.showOver);
  setText(document.getElementById("next-meta"), t.next
    ? fill(labels.plannedLength, { time: formatSeconds(t.next.planned_seconds) }) : "");
  return t;
}

// "+1:30 over", "−0:40 under", "±0:00 on time".
export function driftText(labels, seconds) {
  if (seconds === null || seconds === undefined) return "";
  const word = seconds > 0 ? labels.over : seconds < 0 ? labels.under : labels.onTime;
  return `${formatDrift(seconds).replace("-", "−")} ${word}`;
}

// Products pinned on the platform now (at most three); `onUnpin` adds a button to each.
export function renderPinned(page, state, list, onUnpin = null) {
  const items = state.show.pinned.map((linkNumber) => {
    const item = document.createElement("li");
    item.className = "pinned-product";
    item.dataset.link = linkNumber;
    const name = document.createElement("span");
    name.textContent = productName(page, linkNumber);
    item.append(name);
    if (onUnpin) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small-button";
      button.textContent = page.labels.unpin;
      button.addEventListener("click", () => onUnpin(linkNumber, button));
      item.append(button);
    }
    return item;
  });
  if (!items.length) {
    const none = document.createElement("li");
    none.className = "muted";
    none.textContent = page.labels.nonePinned;
    items.push(none);
  }
  list.replaceChildren(...items);
}

// Flash sales that were fired, each counting down to its end; gone a minute after it ends.
export function renderFlashSales(page, state, list) {
  const now = state.now();
  const sales = state.show.cues.filter((cue) => cue.kind === "flash_sale"
    && (cue.state === "go" || cue.state === "confirmed") && cue.params && cue.params.ends_at
    && Date.parse(cue.params.ends_at) - now > -60_000);
  list.hidden = !sales.length;
  const wanted = sales.map((cue) => String(cue.id));
  if ([...list.children].map((item) => item.dataset.cue).join() !== wanted.join()) {
    list.replaceChildren(...sales.map((cue) => {
      const item = document.createElement("li");
      item.className = "flash-sale";
      item.dataset.cue = cue.id;
      const what = document.createElement("span");
      what.textContent = cueSummary(page, cue);
      const left = document.createElement("strong");
      left.className = "flash-left";
      item.append(what, left);
      return item;
    }));
  }
  for (const item of list.children) {
    const cue = sales.find((sale) => String(sale.id) === item.dataset.cue);
    const seconds = Math.ceil((Date.parse(cue.params.ends_at) - now) / 1000);
    item.dataset.ended = String(seconds <= 0);
    setText(item.querySelector(".flash-left"), seconds > 0
      ? fill(page.labels.left, { time: formatSeconds(seconds) }) : page.labels.ended);
  }
}
