// The room operator's console (中控): moves the run-of-show, calls and fires cues.
//
// Everything it shows comes from the live snapshot and the stream's event log; what the
// operator does goes to the REST API, whose answer is applied at once (the same change then
// arrives as an event and changes nothing). A refusal is shown beside the control that was
// used, and nothing typed is cleared by it.
import {
  LiveState, api, cueSummary, fetchSnapshot, fill, loadPage, plannedCues, renderClock,
  renderFlashSales, renderPinned, setText, showConnection, showStreamStatus, startSocket,
  timeFormatter,
} from "./live-room.js";
import { formatSeconds } from "./show-clock.js";

const PRESENCE_MS = 10_000;
const page = loadPage();
const labels = page.labels;
const canRun = page.canRun;
const state = new LiveState(page.snapshot);
const formatTime = timeFormatter(page, state);
const $ = (id) => document.getElementById(id);
// The move count a move in flight will bring. Its event may arrive before the API answers:
// from then on the operator may press again.
let moving = null;
const busyMoving = () => moving !== null && state.show.moves < moving;

// --- Errors shown beside their control

function showError(element, result) {
  if (!element) return;
  element.textContent = result ? result.data.detail : "";
  element.hidden = !result;
}

// --- The run-of-show list and the clock

function renderSegments() {
  const items = state.show.segments.map((segment, index) => {
    const item = document.createElement("li");
    item.className = "segment";
    item.dataset.index = index;
    if (index === state.show.position) {
      item.classList.add("current");
      item.setAttribute("aria-current", "step");
    } else if (index < state.show.position) {
      item.classList.add("done");
    } else if (index === state.show.position + 1) {
      item.classList.add("upcoming");
    }
    const offset = document.createElement("span");
    offset.className = "segment-offset";
    offset.textContent = formatSeconds(segment.offset_seconds);
    const title = document.createElement("span");
    title.className = "segment-title";
    title.textContent = segment.title;
    const length = document.createElement("span");
    length.className = "segment-length";
    length.textContent = formatSeconds(segment.planned_seconds);
    item.append(offset, title, length);
    return item;
  });
  $("segments").replaceChildren(...items);
  setText($("show-source"), state.show.label || "");
}

function renderControls() {
  if (!canRun) return;
  const live = state.stream.status === "live";
  const position = state.show.position;
  const last = state.show.segments.length - 1;
  $("next").disabled = busyMoving() || !live || position >= last;
  $("back").disabled = busyMoving() || !live || position <= 0;
  setText($("next-label"), position < 0 ? labels.start : labels.next);
  const goLive = $("go-live");
  if (goLive) goLive.hidden = state.stream.status !== "scheduled";
  const end = $("end-stream");
  if (end) end.hidden = !live;
  for (const button of document.querySelectorAll("[data-needs-live]")) {
    button.disabled = !live;
  }
}

function renderOperator() {
  const element = $("operator");
  element.dataset.online = String(state.show.operator_online);
  setText(element, state.show.operator_online
    ? fill(labels.operatorOnline, { name: state.show.operator || "" })
    : labels.operatorOffline);
}

function renderTiles() {
  const tiles = state.metrics && state.metrics.tiles;
  if (!tiles) return;
  setText($("tile-gmv"), `${tiles.gmv} ${tiles.currency}`);
  setText($("tile-orders"), String(tiles.orders));
  setText($("tile-online"), String(tiles.online));
}

// --- Cues: the current segment's (with anything still open), the next segment's greyed

// Rows are kept by key and updated in place, so a price being typed survives every redraw.
const rows = new Map();

function cueRows() {
  const position = state.show.position;
  const current = position >= 0 ? plannedCues(state, position) : [];
  const next = plannedCues(state, position + 1);
  const plannedKeys = new Set([...current, ...next].map((entry) => entry.planned.key));
  // Anything called but not finished, wherever it came from (ad hoc, an earlier segment);
  // the next segment's cues stay in their own list, whatever their state.
  const open = state.show.cues
    .filter((cue) => (cue.state === "standby" || cue.state === "go")
      && !(cue.script_key && plannedKeys.has(cue.script_key)))
    .map((cue) => ({ planned: null, called: cue }));
  // Ad hoc cues of this segment that are done stay visible, greyed, under the plan.
  const doneHere = state.show.cues
    .filter((cue) => !cue.script_key && cue.segment === position && position >= 0
      && (cue.state === "confirmed" || cue.state === "cancelled"))
    .map((cue) => ({ planned: null, called: cue }));
  return { current: [...current, ...open, ...doneHere], next };
}

function rowKey(entry) {
  return entry.planned ? `plan:${entry.planned.key}` : `cue:${entry.called.id}`;
}

function button(text, className, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = text;
  element.addEventListener("click", onClick);
  return element;
}

function paramInput(name, label) {
  const wrapper = document.createElement("label");
  wrapper.className = "cue-param";
  wrapper.textContent = label;
  const input = document.createElement("input");
  input.name = name;
  input.inputMode = "decimal";
  input.autocomplete = "off";
  wrapper.append(input);
  return wrapper;
}

function createRow(key) {
  const item = document.createElement("li");
  item.className = "cue";
  item.dataset.key = key;
  const stateBadge = document.createElement("span");
  stateBadge.className = "cue-state";
  const body = document.createElement("div");
  body.className = "cue-body";
  const summary = document.createElement("span");
  summary.className = "cue-summary";
  const meta = document.createElement("span");
  meta.className = "cue-meta muted small";
  body.append(summary, meta);
  const actions = document.createElement("div");
  actions.className = "cue-actions";
  const error = document.createElement("p");
  error.className = "control-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const row = { item, stateBadge, summary, meta, actions, error, params: null, entry: null };
  if (canRun) {
    row.standby = button(labels.standby, "", () => standby(row));
    row.go = button(labels.go, "primary cue-go-button", () => go(row));
    row.confirm = button(labels.confirm, "", () => advance(row, "confirmed"));
    row.cancel = button(labels.cancel, "link", () => advance(row, "cancelled"));
    actions.append(row.standby, row.go, row.confirm, row.cancel);
  }
  item.append(stateBadge, body, actions, error);
  return row;
}

// A price change asks for its price when it is fired; a coupon may say its value.
const GO_PARAMS = { price_change: "price", coupon: "value" };

function updateRow(row, entry, { upcoming }) {
  row.entry = entry;
  const { planned, called } = entry;
  const cue = called || planned;
  const cueState = called ? called.state : "planned";
  row.item.dataset.state = cueState;
  row.item.dataset.kind = cue.kind;
  row.item.classList.toggle("upcoming", upcoming);
  setText(row.stateBadge, called ? labels.states[cueState] : labels.planned);
  setText(row.summary, cueSummary(page, cue));
  const meta = [labels.roles[cue.role] || cue.role];
  if (planned && planned.on_words) meta.push(fill(labels.onWords, { words: planned.on_words }));
  if (called) meta.push(whoWhen(called));
  setText(row.meta, meta.filter(Boolean).join(" · "));
  if (!canRun) return;
  // Asked only when the cue does not say it already (an ad hoc cue called with its price).
  const wanted = cue.params && cue.params[GO_PARAMS[cue.kind]] ? null : GO_PARAMS[cue.kind];
  if (wanted && !row.params && (cueState === "planned" || cueState === "standby")) {
    row.params = paramInput(wanted, labels.params[wanted]);
    const item = page.lineup.find((product) => product.link_number === cue.link_number);
    if (item && wanted === "price") {
      row.params.querySelector("input").placeholder = item.live_price;
    }
    row.actions.prepend(row.params);
  }
  if (row.params) row.params.hidden = cueState !== "planned" && cueState !== "standby";
  row.standby.hidden = cueState !== "planned";
  row.go.hidden = cueState !== "standby";
  row.cancel.hidden = cueState !== "standby";
  row.confirm.hidden = cueState !== "go";
  const live = state.stream.status === "live";
  for (const control of [row.standby, row.go, row.confirm, row.cancel]) {
    control.disabled = !live || row.busy === true;
  }
}

// "Standby 20:01:02 Zhang Wei → GO 20:01:10 Zhang Wei → Confirmed 20:01:15 Zhang Wei"
function whoWhen(cue) {
  return [
    [labels.states.standby, cue.standby_at, cue.standby_by],
    [labels.states.go, cue.go_at, cue.go_by],
    [labels.states[cue.state], cue.done_at, cue.done_by],
  ]
    .filter(([, at]) => at)
    .map(([step, at, by]) => `${step} ${formatTime(at)} ${by || ""}`.trim())
    .join(" → ");
}

function syncList(list, elements) {
  const same = elements.length === list.children.length
    && elements.every((element, index) => list.children[index] === element);
  if (!same) list.replaceChildren(...elements);
}

function renderCues() {
  const { current, next } = cueRows();
  const seen = new Set();
  const place = (entries, upcoming) => entries.map((entry) => {
    const key = rowKey(entry);
    seen.add(key);
    let row = rows.get(key);
    if (!row) {
      row = createRow(key);
      rows.set(key, row);
    }
    updateRow(row, entry, { upcoming });
    return row.item;
  });
  const currentItems = place(current, false);
  const nextItems = place(next, true);
  syncList($("cues"), currentItems.length ? currentItems : [emptyItem(labels.noCues)]);
  syncList($("next-cues"), nextItems.length ? nextItems : [emptyItem(labels.noCues)]);
  for (const key of [...rows.keys()]) {
    // A row out of view keeps its typed value only while it may come back into view.
    if (!seen.has(key) && !rows.get(key).error.textContent) rows.delete(key);
  }
}

const empties = new Map();
function emptyItem(text) {
  if (!empties.has(text)) {
    const item = document.createElement("li");
    item.className = "muted cue-empty";
    item.textContent = text;
    empties.set(text, item);
  }
  return empties.get(text).cloneNode(true);
}

function renderLog() {
  const newest = (cue) => Math.max(...[cue.standby_at, cue.go_at, cue.done_at]
    .filter(Boolean).map((iso) => Date.parse(iso)));
  const cues = [...state.show.cues].sort((a, b) => newest(b) - newest(a) || b.id - a.id);
  const items = cues.map((cue) => {
    const item = document.createElement("li");
    item.className = "log-entry";
    item.dataset.state = cue.state;
    item.dataset.cue = cue.id;
    const what = document.createElement("span");
    what.className = "log-what";
    what.textContent = `${labels.states[cue.state]} · ${cueSummary(page, cue)}`;
    const when = document.createElement("span");
    when.className = "muted small";
    when.textContent = whoWhen(cue);
    item.append(what, when);
    return item;
  });
  if (!items.length) items.push(emptyItem(labels.noneCalled));
  $("cue-log").replaceChildren(...items);
}

// The ad hoc product follows the segment on air, unless the operator picked another one.
let segmentLink = null;
function followSegmentProduct() {
  const select = canRun && $("adhoc-product");
  const segment = state.show.segments[state.show.position];
  const link = segment && segment.link_number ? String(segment.link_number) : null;
  if (!select || link === segmentLink) return;
  if (link && (select.value === "" || select.value === segmentLink)
      && [...select.options].some((option) => option.value === link)) {
    select.value = link;
  }
  segmentLink = link;
}

function renderAll() {
  showStreamStatus($("stream-status"), page, state.stream.status);
  followSegmentProduct();
  renderSegments();
  renderControls();
  renderOperator();
  renderCues();
  renderLog();
  renderTiles();
  renderPinned(page, state, $("pinned"), canRun ? unpin : null);
  tick();
}

function tick() {
  renderClock(page, state);
  renderFlashSales(page, state, $("flash"));
}

// --- What the operator does

async function withRow(row, call) {
  row.busy = true;
  updateRow(row, row.entry, { upcoming: row.item.classList.contains("upcoming") });
  const result = await call();
  row.busy = false;
  if (result.ok) {
    state.upsertCue(result.data);
  } else if (result.status === 409 && result.data.current) {
    state.upsertCue(result.data.current);
  }
  showError(row.error, result.ok ? null : result);
  renderAll();
  return result;
}

function standby(row) {
  return withRow(row, () => api(page, page.urls.cues, { script_key: row.entry.planned.key }));
}

function go(row) {
  const params = {};
  const input = row.params && row.params.querySelector("input");
  if (input && input.value.trim()) params[input.name] = input.value.trim();
  return withRow(row, () => api(page, cueStateUrl(row.entry.called.id), { to: "go", params }));
}

function advance(row, to) {
  return withRow(row, () => api(page, cueStateUrl(row.entry.called.id), { to }));
}

function cueStateUrl(id) {
  return page.urls.cueState.replace("/cues/0/", `/cues/${id}/`);
}

async function unpin(linkNumber, control) {
  control.disabled = true;
  const result = await api(page, page.urls.cues, {
    kind: "unpin", link_number: linkNumber, go: true,
  });
  if (result.ok) state.upsertCue(result.data);
  showError($("pinned-error"), result.ok ? null : result);
  renderAll();
}

async function move(step) {
  const to = state.show.position + step;
  if (busyMoving() || state.stream.status !== "live" || to < 0
      || to >= state.show.segments.length) {
    return;
  }
  const expected = state.show.moves + 1;
  moving = expected;
  renderControls();
  const result = await api(page, page.urls.moves, { to, seen_moves: state.show.moves });
  if (moving === expected) moving = null;
  if (result.ok) {
    state.mergeShow(result.data);
  } else if (result.status === 409 && result.data.current) {
    state.position(result.data.current);
  }
  showError($("move-error"), result.ok ? null : result);
  renderAll();
}

// The ad hoc panel: its fields follow the kind; what is typed stays after any refusal.
function adhocFields() {
  const form = $("adhoc");
  const wanted = page.adhocFields[form.elements.kind.value] || [];
  for (const field of form.querySelectorAll("[data-field]")) {
    field.hidden = !wanted.includes(field.dataset.field);
  }
}

async function adhoc(goNow, submitter) {
  const form = $("adhoc");
  const kind = form.elements.kind.value;
  const body = { kind, params: {}, go: goNow };
  const link = form.elements.link_number.value;
  if (link) body.link_number = Number(link);
  for (const name of page.adhocFields[kind] || []) {
    const value = form.elements[name].value.trim();
    if (value) body.params[name] = value;
  }
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  submitter.disabled = true;
  const result = await api(page, page.urls.cues, body);
  submitter.disabled = state.stream.status !== "live";
  if (result.ok) {
    state.upsertCue(result.data);
  } else {
    for (const name of Object.keys(result.data.fields || {})) {
      const input = form.elements[name];
      if (input) input.setAttribute("aria-invalid", "true");
    }
  }
  showError($("adhoc-error"), result.ok ? null : result);
  renderAll();
}

// Going live and ending: the server's refusal (the readiness checklist) is shown as it is.
async function transition(to, control) {
  if (to === "ended" && !window.confirm(labels.confirmEnd)) return;
  control.disabled = true;
  const result = await api(page, page.urls.transition, { to });
  control.disabled = false;
  showError($("stream-error"), result.ok ? null : result);
  if (result.ok) {
    state.stream.status = result.data.status;
    await reload();
  }
}

// --- Presence: crew screens say when the console has gone

let presenceTimer = null;

function presence() {
  const live = canRun && state.stream.status === "live";
  if (live && presenceTimer === null) {
    api(page, page.urls.presence, {});
    presenceTimer = setInterval(() => api(page, page.urls.presence, {}), PRESENCE_MS);
  } else if (!live && presenceTimer !== null) {
    clearInterval(presenceTimer);
    presenceTimer = null;
    api(page, page.urls.presence, { leaving: true });
  }
}

function leave() {
  if (presenceTimer === null) return;
  clearInterval(presenceTimer);
  presenceTimer = null;
  // sendBeacon cannot carry the CSRF header; a keepalive fetch outlives the page as well.
  api(page, page.urls.presence, { leaving: true }, { keepalive: true });
}

// --- Keyboard: Space or → next, ← back, unless typing

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable
    || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName));
}

function onKey(event) {
  if (event.altKey || event.ctrlKey || event.metaKey || event.repeat || typing(event.target)) {
    return;
  }
  if (event.key === " " || event.key === "ArrowRight") {
    // Space would also press a focused button (the last one clicked): Next wins.
    event.preventDefault();
    move(1);
  } else if (event.key === "ArrowLeft") {
    event.preventDefault();
    move(-1);
  }
}

// --- Following the log

async function reload() {
  const snapshot = await fetchSnapshot(page);
  state.replace(snapshot);
  renderAll();
  renderPanels();
  presence();
  return snapshot.head;
}

function onEvents(events) {
  const changed = state.apply(events);
  if (changed.has("status")) {
    // Going live fixes the plan on the server: start from it.
    reload().catch(() => renderAll());
    return;
  }
  if (changed.has("metrics")) renderTiles();
  if (changed.has("show") || changed.has("cues")) renderAll();
  if (changed.has("panels")) panelsStale();
}

// --- Other apps' panels: questions handed to the host, boosts

// Their events only say that something changed; the panels are read again from the live
// picture, at most once per PANEL_REFRESH_MS however busy the chat is.
const PANEL_REFRESH_MS = 3000;
let panelRefresh = null;

function panelsStale() {
  if (panelRefresh !== null) return;
  panelRefresh = setTimeout(async () => {
    panelRefresh = null;
    try {
      state.panels = (await fetchSnapshot(page, { panelsOnly: true })).panels || [];
    } catch {
      return; // the connection indicator says the server is away
    }
    renderPanels();
  }, PANEL_REFRESH_MS);
}

function renderPanels() {
  const container = $("panels");
  container.replaceChildren();
  for (const panel of state.panels) {
    const section = document.createElement("section");
    section.className = "card console-panel";
    section.dataset.panel = panel.key;
    const title = document.createElement("h2");
    title.textContent = panel.title;
    const list = document.createElement("ul");
    list.className = "panel-items";
    for (const entry of panel.items || []) list.append(panelItem(entry));
    const error = document.createElement("p");
    error.className = "control-error";
    error.setAttribute("role", "alert");
    error.hidden = true;
    section.append(title, list, error);
    container.append(section);
  }
}

function panelItem(entry) {
  const item = document.createElement("li");
  if (entry.escalated) item.classList.add("escalated");
  const text = document.createElement("span");
  text.textContent = entry.label ?? entry.text ?? "";
  item.append(text);
  if (entry.detail) {
    const detail = document.createElement("span");
    detail.className = "muted small";
    detail.textContent = ` ${entry.detail}`;
    item.append(detail);
  }
  if (entry.action && canRun) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = entry.action.label;
    button.addEventListener("click", async () => {
      button.disabled = true;
      const result = await api(page, entry.action.url, {});
      const error = item.closest("section").querySelector(".control-error");
      showError(error, result.ok ? null : result);
      button.disabled = false;
      if (result.ok) item.remove();
    });
    item.append(button);
  }
  return item;
}

if (canRun) {
  $("next").addEventListener("click", () => move(1));
  $("back").addEventListener("click", () => move(-1));
  window.addEventListener("keydown", onKey);
  const form = $("adhoc");
  form.elements.kind.addEventListener("change", adhocFields);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    adhoc(true, $("adhoc-go"));
  });
  $("adhoc-standby").addEventListener("click", () => adhoc(false, $("adhoc-standby")));
  adhocFields();
  const goLive = $("go-live");
  if (goLive) goLive.addEventListener("click", () => transition("live", goLive));
  const end = $("end-stream");
  if (end) end.addEventListener("click", () => transition("ended", end));
  window.addEventListener("pagehide", leave);
  // Back to a page kept in the browser's cache: the console is open again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) presence();
  });
}

renderAll();
renderPanels();
setInterval(tick, 250);
presence();
startSocket(page, state, {
  onEvents,
  onResync: reload,
  onState: (connection) => showConnection($("connection"), page, connection),
});
