// A crew member's follow screen: NOW / NEXT, the countdown, over/under, and their own
// role's cues, in large type. It counts on its own from the last known position, whether
// the operator's console or the connection has gone away; banners say which.
import {
  LiveState, cueSummary, fetchSnapshot, fill, loadPage, plannedCues, renderClock,
  renderFlashSales, renderPinned, setText, showConnection, showStreamStatus, startSocket,
} from "./live-room.js";

const page = loadPage();
const labels = page.labels;
// No crew role on this stream (a studio-wide viewer): every role's cues.
const roles = page.roles.length ? page.roles : null;
const state = new LiveState(page.snapshot);
const $ = (id) => document.getElementById(id);
let connection = "connecting";

function mine(cue) {
  return !roles || roles.includes(cue.role);
}

// The current segment's cues for these roles, with what became of each, then anything of
// theirs called elsewhere and not yet done (an ad hoc cue, a cue left on standby).
function currentCues() {
  const position = state.show.position;
  const planned = position >= 0 ? plannedCues(state, position, roles) : [];
  const keys = new Set(planned.map((entry) => entry.planned.key));
  const called = state.show.cues.filter((cue) => mine(cue)
    && !(cue.script_key && keys.has(cue.script_key))
    && (cue.state === "standby" || cue.state === "go"
      || (!cue.script_key && cue.segment === position && position >= 0)));
  return [...planned, ...called.map((cue) => ({ planned: null, called: cue }))];
}

function cueItem({ planned, called }, upcoming) {
  const cue = called || planned;
  const cueState = called ? called.state : "planned";
  const item = document.createElement("li");
  item.className = "follow-cue";
  item.dataset.state = upcoming ? "planned" : cueState;
  item.dataset.kind = cue.kind;
  item.dataset.key = called ? `cue:${called.id}` : `plan:${planned.key}`;
  const badge = document.createElement("span");
  badge.className = "follow-cue-state";
  badge.textContent = upcoming || !called ? labels.planned : labels.states[cueState];
  const text = document.createElement("span");
  text.className = "follow-cue-text";
  text.textContent = cueSummary(page, cue);
  item.append(badge, text);
  const detail = [];
  if (!roles || roles.length > 1) detail.push(labels.roles[cue.role] || cue.role);
  if (planned && planned.on_words) detail.push(fill(labels.onWords, { words: planned.on_words }));
  if (detail.length) {
    const meta = document.createElement("span");
    meta.className = "follow-cue-meta muted";
    meta.textContent = detail.join(" · ");
    item.append(meta);
  }
  return item;
}

function fillList(list, items) {
  if (!items.length) {
    const none = document.createElement("li");
    none.className = "muted cue-empty";
    none.textContent = labels.noCues;
    items.push(none);
  }
  list.replaceChildren(...items);
}

function renderCues() {
  const current = currentCues();
  // A next-segment cue already called to standby is shown with the current ones, as it is.
  const shown = new Set(current.filter((entry) => entry.called).map((entry) => entry.called.id));
  const next = plannedCues(state, state.show.position + 1, roles)
    .filter((entry) => !(entry.called && shown.has(entry.called.id)));
  fillList($("cues"), current.map((entry) => cueItem(entry, false)));
  fillList($("next-cues"), next.map((entry) => cueItem(entry, true)));
}

function renderBanners() {
  $("banner-connection").hidden = connection !== "reconnecting";
  $("banner-operator").hidden = !(state.running() && !state.show.operator_online);
}

function renderAll() {
  showStreamStatus($("stream-status"), page, state.stream.status);
  renderCues();
  renderPinned(page, state, $("pinned"));
  renderBanners();
  tick();
}

function tick() {
  renderClock(page, state);
  renderFlashSales(page, state, $("flash"));
}

async function reload() {
  const snapshot = await fetchSnapshot(page);
  state.replace(snapshot);
  renderAll();
  return snapshot.head;
}

function onEvents(events) {
  const changed = state.apply(events);
  if (changed.has("status")) {
    reload().catch(() => renderAll());
    return;
  }
  if (changed.has("show") || changed.has("cues")) renderAll();
}

renderAll();
setInterval(tick, 250);
startSocket(page, state, {
  onEvents,
  onResync: reload,
  onState: (socketState) => {
    connection = socketState;
    showConnection($("connection"), page, socketState);
    renderBanners();
  },
});
