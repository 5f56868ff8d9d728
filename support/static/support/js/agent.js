// The CS agent's screen (客服): a stream's viewer questions, live, worked from the keyboard.
//
// It starts from the snapshot the server rendered into the page (the queue, read after the
// event log's head), then follows the stream's log: every "question" event carries the
// whole group, so the screen replaces its copy by id (never with an older version).
//
// Order: the server's priority (support/selectors.py `queue_priority`: askers, VIP, the
// pinned product, how much of the reply window is used, waiting time), computed here with
// the weights and reply window the page was given, over again on every change and every
// few seconds, since urgency and waiting grow with time. Re-sorting locally keeps the queue
// in the order "claim next" hands groups out in without a request per event; the pinned
// products follow the log's show and cue events.
//
// Send waits for the socket to catch up: after every (re)connect the server sends all that
// was missed before it answers the socket's ping, so the pong is the moment the screen
// shows the queue as it is. Until then an agent back from a dropped connection cannot reply
// to a group someone else answered meanwhile; and if a reply still crosses another (409
// `conflict`), the screen shows the group as it now stands and the draft stays.
import { request } from "../../js/api.js";
import { EventSocket } from "../../js/event-socket.js";
import { clockOffset, formatSeconds } from "../../rooms/js/show-clock.js";

const page = JSON.parse(document.getElementById("agent-data").textContent);
const labels = page.labels;
const me = page.me.id;
const $ = (id) => document.getElementById(id);
const el = {
  queue: $("queue"),
  queueEmpty: $("queue-empty"),
  queueCount: $("queue-count"),
  connection: $("connection"),
  notice: $("notice"),
  detailEmpty: $("detail-empty"),
  detailBody: $("detail-body"),
  detailText: $("detail-text"),
  detailMeta: $("detail-meta"),
  detailState: $("detail-state"),
  detailAskers: $("detail-askers"),
  canned: $("canned"),
  reply: $("reply"),
  replyLength: $("reply-length"),
  preview: $("preview"),
  send: $("send"),
  claim: $("claim"),
  escalate: $("escalate"),
  skip: $("skip"),
  split: $("split"),
  splitList: $("split-list"),
  splitCancel: $("split-cancel"),
  withHost: $("with-host"),
  withHostEmpty: $("with-host-empty"),
  activity: $("activity"),
  presence: $("presence"),
  capacity: $("capacity"),
  presenceWarning: $("presence-warning"),
  handBack: $("hand-back"),
  handBackText: $("hand-back-text"),
  handBackConfirm: $("hand-back-confirm"),
  filterCategory: $("filter-category"),
  filterLanguage: $("filter-language"),
  filterProduct: $("filter-product"),
};

const MAX_REPLY_CHARS = 500;
const ACTIVITY_SIZE = 20;
const RESORT_EVERY_TICKS = 5;
// Canned previews carry live prices and stock: fetched again when older than this.
const FILLS_FRESH_MS = 15_000;

const offset = clockOffset(page.serverNow);
const now = () => Date.now() + offset;

const groups = new Map(); // id → group, as the last event or answer gave it
const drafts = new Map(); // id → { text, stack: [canned reply ids] }
const fills = new Map(); // id → { at, replies } from the API's filled canned replies
const noted = new Set(); // "id:status" already in the activity list
const activity = [];
let order = []; // ids of the open groups shown, most pressing first
let pinned = [...page.priority.pinned];
let agent = page.agent;
let selectedId = null;
let shownDraftFor = null;
let mergeFrom = null;
let splitFor = null;
let caughtUp = false;
let socketState = "connecting";
let busy = false;
let ticks = 0;
let heartbeatTimer = null;
const filters = { category: "", language: "", link: "" };

// --- Small helpers

function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
}

function node(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined && text !== null) element.textContent = text;
  return element;
}

function setText(element, text) {
  if (element && element.textContent !== text) element.textContent = text;
}

function short(text, length = 40) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function groupUrl(name, id) {
  return page.urls[name].replace("/groups/0/", `/groups/${id}/`);
}

// Calls the REST API with the session's CSRF token. Never throws: `ok`, the HTTP status and
// the body (the server's `detail`, `code` and, on a conflict, `current`).
function api(method, url, body) {
  return request(method, url, body, {
    csrfToken: page.csrfToken, networkError: labels.networkError,
  });
}

// An action's call: a refusal shows the server's words, and a conflict's group as it stands.
async function call(method, url, body) {
  busy = true;
  updateSend();
  const result = await api(method, url, body);
  busy = false;
  if (!result.ok) {
    if (result.data.current) apply("current", result.data.current);
    say(result.data.detail, "error");
  }
  render();
  return result;
}

function say(text, kind = "info") {
  el.notice.hidden = !text;
  el.notice.dataset.kind = kind;
  setText(el.notice, text || "");
}

// --- The groups

function isOpen(group) {
  return group.status === "open" && !group.merged_into;
}

function mine(group) {
  return isOpen(group) && group.claimed_by === me;
}

function selectedGroup() {
  return selectedId === null ? null : groups.get(selectedId) || null;
}

function draftFor(id) {
  if (!drafts.has(id)) drafts.set(id, { text: "", stack: [] });
  return drafts.get(id);
}

// Takes a group as an event or an answer gives it, unless the screen has a newer copy.
function apply(op, data) {
  const before = groups.get(data.id);
  if (before && data.version < before.version) return;
  groups.set(data.id, data);
  if (op === "merged" && data.into) {
    const draft = drafts.get(data.id);
    if (draft && !drafts.has(data.into)) drafts.set(data.into, draft);
    if (selectedId === data.id && !busy) selectedId = data.into;
  }
  remember(data, before);
  if (!isOpen(data) && data.status !== "escalated" && data.id !== selectedId) groups.delete(data.id);
}

function remember(group, before) {
  if (before && before.status === group.status) return;
  const key = `${group.id}:${group.status}`;
  if (noted.has(key)) return;
  let text = null;
  const values = { text: short(group.text), name: group.answered_by, reply: group.reply };
  if (group.status === "answered") {
    text = fill(group.reply ? labels.activityAnswered : labels.activityOnAir, values);
  } else if (group.status === "escalated") {
    text = fill(labels.activityEscalated, values);
  } else if (group.status === "dismissed" && group.merged_into) {
    text = fill(labels.activityMerged, values);
  }
  if (!text) return;
  noted.add(key);
  activity.unshift({ id: group.id, status: group.status, text });
  activity.length = Math.min(activity.length, ACTIVITY_SIZE);
}

function applyPins(event) {
  if (event.type === "show" && Array.isArray(event.data.pinned)) {
    pinned = event.data.pinned;
  } else if (event.type === "cue" && event.data.state === "go" && event.data.link_number != null) {
    const link = event.data.link_number;
    if (event.data.kind === "pin" && !pinned.includes(link)) pinned = [...pinned, link];
    if (event.data.kind === "unpin" || event.data.kind === "sold_out") {
      pinned = pinned.filter((number) => number !== link);
    }
  }
}

// support/selectors.py `queue_priority`, term for term.
function priority(group, at) {
  const weights = page.priority;
  const left = (Date.parse(group.deadline) - at) / 1000;
  const waited = (at - Date.parse(group.first_asked_at)) / 1000;
  return weights.countPoints * Math.log(Math.max(group.count, 1))
    + (group.vip ? weights.vipPoints : 0)
    + (group.link_number !== null && pinned.includes(group.link_number) ? weights.pinnedPoints : 0)
    + weights.urgencyPoints * Math.min(1, Math.max(0, 1 - left / weights.windowSeconds))
    + Math.min(weights.agePointsMax, Math.max(0, waited / 60));
}

function matches(group) {
  return (!filters.category || group.category === filters.category)
    && (!filters.language || group.language === filters.language)
    && (!filters.link || String(group.link_number) === filters.link);
}

function sortQueue() {
  const at = now();
  const scored = [];
  for (const group of groups.values()) {
    if (isOpen(group) && matches(group)) scored.push([group, priority(group, at)]);
  }
  scored.sort(([a, pa], [b, pb]) => (pb - pa)
    || (Date.parse(a.deadline) - Date.parse(b.deadline)) || (a.id - b.id));
  order = scored.map(([group]) => group.id);
}

function sla(group, at) {
  const left = Math.round((Date.parse(group.deadline) - at) / 1000);
  let state = "ok";
  if (group.breached || left <= 0) state = "breach";
  else if (group.warned || left <= page.priority.warnBeforeSeconds) state = "warn";
  const text = left >= 0
    ? fill(labels.left, { time: formatSeconds(left) })
    : fill(labels.overdue, { time: formatSeconds(-left) });
  return { state, text };
}

function productLabel(link) {
  if (link === null || link === undefined) return "";
  const item = page.lineup.find((product) => product.link_number === link);
  return item ? `#${link} ${item.name}` : `#${link}`;
}

function holderText(group) {
  if (!group.claimed_by) return "";
  return group.claimed_by === me ? labels.you : fill(labels.holder, { name: group.claimed_by_name });
}

function askersText(group, shown) {
  if (!group.askers.length) return "";
  const names = group.askers.slice(0, shown).join(", ");
  const more = group.count - Math.min(group.askers.length, shown);
  return more > 0 ? `${names} ${fill(labels.moreAskers, { n: more })}` : names;
}

// --- Rendering

const rows = new Map(); // id → <li>

function render() {
  sortQueue();
  if (selectedId === null && order.length) {
    selectedId = order[0];
    loadFills(selectedId);
  }
  renderQueue();
  renderDetail();
  renderSide();
  renderPresence();
}

function renderQueue() {
  const at = now();
  for (const [id, row] of rows) {
    if (!order.includes(id)) {
      row.remove();
      rows.delete(id);
    }
  }
  order.forEach((id, index) => {
    const group = groups.get(id);
    let row = rows.get(id);
    if (!row) {
      row = node("li", "q-row");
      row.id = `group-${id}`;
      row.dataset.id = id;
      row.setAttribute("role", "option");
      row.addEventListener("click", () => select(id));
      rows.set(id, row);
    }
    fillRow(row, group, at);
    if (el.queue.children[index] !== row) el.queue.insertBefore(row, el.queue.children[index] || null);
  });
  if (selectedId !== null && rows.has(selectedId)) {
    el.queue.setAttribute("aria-activedescendant", `group-${selectedId}`);
  } else {
    el.queue.removeAttribute("aria-activedescendant");
  }
  const openCount = [...groups.values()].filter(isOpen).length;
  el.queueEmpty.hidden = order.length > 0;
  setText(el.queueEmpty, openCount ? labels.noMatch : labels.noGroups);
  setText(el.queueCount, order.length === openCount ? `${openCount}` : `${order.length} / ${openCount}`);
}

function fillRow(row, group, at) {
  const stamp = `${group.version}:${group.count}:${group.askers.length}`;
  row.setAttribute("aria-selected", String(group.id === selectedId));
  row.dataset.holder = group.claimed_by ? (group.claimed_by === me ? "me" : "other") : "";
  row.dataset.merge = String(group.id === mergeFrom);
  const timing = sla(group, at);
  row.dataset.sla = timing.state;
  if (row.dataset.stamp !== stamp) {
    row.dataset.stamp = stamp;
    const main = node("div", "q-main");
    main.append(node("span", "q-text", group.text), node("span", "q-count",
      fill(labels.times, { n: group.count })));
    if (group.vip) main.append(node("span", "badge vip", labels.vip));
    const meta = node("div", "q-meta");
    const parts = [
      labels.categories[group.category] || group.category,
      labels.languages[group.language] || group.language,
      productLabel(group.link_number),
      askersText(group, 3),
    ].filter(Boolean);
    for (const [i, part] of parts.entries()) {
      if (i) meta.append(" · ");
      meta.append(node("span", i === 2 && group.link_number !== null ? "q-product" : "", part));
    }
    const side = node("div", "q-side");
    side.append(node("span", "q-sla"), node("span", "q-holder"));
    row.replaceChildren(main, meta, side);
  }
  setText(row.querySelector(".q-sla"), timing.text);
  setText(row.querySelector(".q-holder"), holderText(group));
}

function stateOf(group) {
  if (group.status === "answered") {
    return {
      key: "answered",
      text: group.reply
        ? fill(labels.answered, { name: group.answered_by, reply: group.reply })
        : fill(labels.answeredOnAir, { name: group.answered_by }),
    };
  }
  if (group.status === "escalated") return { key: "escalated", text: labels.withHost };
  if (group.status === "dismissed" || group.merged_into) {
    return { key: "merged", text: group.merged_into ? labels.merged : labels.dismissed };
  }
  if (group.claimed_by === me) return { key: "mine", text: labels.holderYou };
  if (group.claimed_by) {
    return { key: "other", text: fill(labels.holder, { name: group.claimed_by_name }) };
  }
  return { key: "free", text: page.canWork ? labels.free : labels.waiting };
}

function renderDetailMeta(group, at) {
  const timing = isOpen(group) ? sla(group, at) : null;
  const meta = [
    labels.categories[group.category] || group.category,
    labels.languages[group.language] || group.language,
    productLabel(group.link_number),
    fill(labels.times, { n: group.count }),
    group.vip ? labels.vip : "",
    timing ? timing.text : "",
  ].filter(Boolean);
  setText(el.detailMeta, meta.join(" · "));
  el.detailMeta.dataset.sla = timing ? timing.state : "";
}

function renderDetail() {
  const group = selectedGroup();
  el.detailEmpty.hidden = Boolean(group);
  el.detailBody.hidden = !group;
  if (!group) {
    updateSend();
    return;
  }
  setText(el.detailText, group.text);
  renderDetailMeta(group, now());
  const state = stateOf(group);
  el.detailState.dataset.state = state.key;
  setText(el.detailState, state.text);
  setText(el.detailAskers, group.askers.length
    ? fill(labels.askers, { names: askersText(group, 12) }) : "");
  if (!page.canWork) return;
  if (shownDraftFor !== group.id) {
    el.reply.value = draftFor(group.id).text;
    shownDraftFor = group.id;
  }
  renderCanned(group);
  renderPreview(group);
  el.claim.disabled = !isOpen(group) || group.claimed_by === me;
  el.escalate.disabled = !isOpen(group) || Boolean(group.claimed_by && group.claimed_by !== me);
  el.skip.disabled = !mine(group);
  updateSend();
}

function filledReply(groupId, replyId) {
  const known = fills.get(groupId);
  const filled = known && known.replies.find((reply) => reply.id === replyId);
  if (filled) return { text: filled.filled, missing: filled.missing };
  const canned = page.cannedReplies.find((reply) => reply.id === replyId);
  return { text: canned ? canned.text : "", missing: "" };
}

function renderCanned(group) {
  const stack = draftFor(group.id).stack;
  const items = page.cannedReplies.map((reply) => {
    const item = node("li", "canned-reply");
    item.dataset.shortcut = reply.shortcut ?? "";
    const position = stack.indexOf(reply.id);
    item.dataset.stacked = position >= 0 ? String(position + 1) : "";
    const filled = filledReply(group.id, reply.id);
    item.append(
      node("kbd", "", reply.shortcut ?? "–"),
      node("span", "canned-title", reply.title),
      node("span", filled.text === null ? "canned-missing" : "canned-text",
        filled.text === null ? fill(labels.missing, { why: filled.missing }) : filled.text),
    );
    return item;
  });
  el.canned.replaceChildren(...items);
}

function composed(group) {
  const draft = draftFor(group.id);
  const parts = draft.stack.map((id) => {
    const filled = filledReply(group.id, id);
    return filled.text === null ? `[${fill(labels.missing, { why: filled.missing })}]` : filled.text;
  });
  if (draft.text.trim()) parts.push(draft.text.trim());
  return parts.join(" ");
}

function renderPreview(group) {
  const text = composed(group);
  setText(el.preview, text);
  el.preview.dataset.long = String(text.length > MAX_REPLY_CHARS);
  setText(el.replyLength, `${text.length} / ${MAX_REPLY_CHARS}`);
}

// Why Send is off now, or null when it may go.
function sendBlocker(group) {
  if (!page.canWork) return labels.readOnly;
  if (!group) return labels.selectFirst;
  if (!caughtUp) return labels.notCaughtUp;
  if (!mine(group)) return isOpen(group) ? labels.claimFirst : stateOf(group).text;
  const draft = draftFor(group.id);
  if (!draft.stack.length && !draft.text.trim()) return labels.writeFirst;
  if (busy) return "…";
  return null;
}

function updateSend() {
  if (!el.send) return;
  const blocker = sendBlocker(selectedGroup());
  el.send.disabled = blocker !== null;
  el.send.title = blocker || "";
}

function renderSide() {
  const withHost = [...groups.values()]
    .filter((group) => group.status === "escalated" && !group.merged_into)
    .sort((a, b) => a.id - b.id);
  el.withHost.replaceChildren(...withHost.map((group) => {
    const item = node("li", "side-item", group.text);
    item.dataset.id = group.id;
    item.append(" ", node("span", "muted small", fill(labels.times, { n: group.count })));
    return item;
  }));
  el.withHostEmpty.hidden = withHost.length > 0;
  el.activity.replaceChildren(...activity.map((entry) => {
    const item = node("li", "side-item", entry.text);
    item.dataset.status = entry.status;
    item.dataset.id = entry.id;
    return item;
  }));
}

function held() {
  return [...groups.values()].filter(mine).length;
}

function renderPresence() {
  if (!el.presence) return;
  for (const button of el.presence.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.status === agent.status));
  }
  el.presence.dataset.status = agent.status;
  const holding = held();
  el.capacity.dataset.full = String(holding >= agent.capacity);
  setText(el.capacity, fill(labels.holding, { n: holding, capacity: agent.capacity }));
}

function showConnection() {
  const state = socketState === "live" && !caughtUp ? "catching-up" : socketState;
  el.connection.dataset.state = state;
  setText(el.connection, state === "catching-up"
    ? labels.catchingUp : labels.connection[state] || state);
}

// --- Selection and drafts

function select(id) {
  if (id === selectedId) return;
  const previous = selectedGroup();
  selectedId = id;
  closeSplit();
  if (previous && previous.id !== id) carryDraft(previous, id);
  if (previous && !isOpen(previous) && previous.status !== "escalated") groups.delete(previous.id);
  render();
  const row = rows.get(id);
  if (row) row.scrollIntoView({ block: "nearest" });
  loadFills(id);
}

// Words typed for a group someone else finished are not thrown away: they move on with the
// agent to the next group, if that one has no draft of its own.
function carryDraft(previous, nextId) {
  const draft = drafts.get(previous.id);
  if (isOpen(previous) || !draft || !draft.text.trim() || nextId === null) return;
  const next = draftFor(nextId);
  if (!next.text.trim()) next.text = draft.text;
  drafts.delete(previous.id);
}

function move(delta) {
  if (!order.length) return;
  const index = order.indexOf(selectedId);
  const next = index < 0 ? 0 : Math.min(order.length - 1, Math.max(0, index + delta));
  select(order[next]);
}

function neighbour(id) {
  const index = order.indexOf(id);
  if (index < 0) return order[0] ?? null;
  return order[index + 1] ?? order[index - 1] ?? null;
}

function after(id) {
  const next = neighbour(id);
  if (selectedId === id) select(next);
}

async function loadFills(id, force = false) {
  if (!page.canWork || id === null) return;
  const known = fills.get(id);
  if (!force && known && Date.now() - known.at < FILLS_FRESH_MS) return;
  const result = await api("GET", groupUrl("replies", id));
  if (!result.ok) return;
  fills.set(id, { at: Date.now(), replies: result.data });
  if (selectedId === id) renderDetail();
}

function stack(shortcut) {
  const group = selectedGroup();
  if (!group) return say(labels.selectFirst, "error");
  const reply = page.cannedReplies.find((canned) => canned.shortcut === shortcut);
  if (!reply) return undefined;
  const draft = draftFor(group.id);
  const at = draft.stack.indexOf(reply.id);
  if (at >= 0) draft.stack.splice(at, 1);
  else draft.stack.push(reply.id);
  loadFills(group.id);
  renderDetail();
  return undefined;
}

function unstackLast() {
  const group = selectedGroup();
  if (!group) return;
  draftFor(group.id).stack.pop();
  renderDetail();
}

// --- Actions

async function claim() {
  const group = selectedGroup();
  if (!group) return say(labels.selectFirst, "error");
  const result = await call("POST", groupUrl("claim", group.id), { seen_version: group.version });
  if (result.ok) {
    apply("claimed", result.data);
    say(labels.claimed, "ok");
    render();
    loadFills(group.id, true);
  }
  return undefined;
}

async function claimNext() {
  const body = {};
  if (filters.category) body.category = filters.category;
  if (filters.language) body.language = filters.language;
  if (filters.link) body.link_number = Number(filters.link);
  const result = await call("POST", page.urls.claimNext, body);
  if (!result.ok) return;
  if (!result.data.group) {
    say(labels.nothingForYou);
    return;
  }
  apply("claimed", result.data.group);
  say(labels.claimed, "ok");
  select(result.data.group.id);
  render();
  loadFills(result.data.group.id, true);
}

async function send() {
  const group = selectedGroup();
  const blocker = sendBlocker(group);
  if (blocker !== null) {
    if (blocker !== "…") say(blocker, "error");
    return;
  }
  const draft = draftFor(group.id);
  const result = await call("POST", groupUrl("answer", group.id), {
    seen_version: group.version, text: draft.text, canned_replies: draft.stack,
  });
  if (!result.ok) return;
  drafts.delete(group.id);
  apply("answered", result.data);
  say(fill(labels.sent, { reply: result.data.reply }), "ok");
  after(group.id);
  render();
  focusQueue();
}

async function escalate() {
  const group = selectedGroup();
  if (!group) return say(labels.selectFirst, "error");
  const result = await call("POST", groupUrl("escalate", group.id), {
    seen_version: group.version,
  });
  if (result.ok) {
    apply("escalated", result.data);
    say(labels.escalated, "ok");
    after(group.id);
    render();
  }
  return undefined;
}

async function skip() {
  const group = selectedGroup();
  if (!group) return say(labels.selectFirst, "error");
  if (!mine(group)) {
    move(1);
    return undefined;
  }
  const result = await call("POST", groupUrl("release", group.id));
  if (result.ok) {
    apply("released", result.data);
    say(labels.released, "ok");
    after(group.id);
    render();
  }
  return undefined;
}

async function merge() {
  const group = selectedGroup();
  if (!group) return say(labels.selectFirst, "error");
  if (mergeFrom === null || mergeFrom === group.id || !groups.has(mergeFrom)) {
    mergeFrom = mergeFrom === group.id ? null : group.id;
    say(mergeFrom === null ? "" : fill(labels.mergeStart, { text: short(group.text) }));
    render();
    return undefined;
  }
  const absorbed = mergeFrom;
  const result = await call("POST", groupUrl("merge", group.id), { group_ids: [absorbed] });
  if (result.ok) {
    mergeFrom = null;
    apply("grouped", result.data);
    say(labels.mergedInto, "ok");
    render();
  }
  return undefined;
}

async function openSplit() {
  const group = selectedGroup();
  if (!group) return say(labels.selectFirst, "error");
  const result = await api("GET", groupUrl("questions", group.id));
  if (!result.ok) return say(result.data.detail, "error");
  splitFor = group.id;
  el.splitList.replaceChildren(...result.data.map((question) => {
    const item = node("li");
    const label = node("label");
    const box = node("input");
    box.type = "checkbox";
    box.value = question.id;
    label.append(box, ` ${question.user_name}: ${question.text}`);
    item.append(label);
    return item;
  }));
  el.split.hidden = false;
  const first = el.splitList.querySelector("input");
  if (first) first.focus();
  say(labels.splitNothing);
  return undefined;
}

function closeSplit() {
  if (!el.split || el.split.hidden) return;
  el.split.hidden = true;
  splitFor = null;
  el.splitList.replaceChildren();
}

async function submitSplit() {
  const ids = [...el.splitList.querySelectorAll("input:checked")].map((box) => Number(box.value));
  if (!ids.length) return say(labels.splitNothing, "error");
  const result = await call("POST", groupUrl("split", splitFor), { question_ids: ids });
  if (result.ok) {
    apply("split", result.data);
    closeSplit();
    say(labels.split, "ok");
    focusQueue();
    render();
  }
  return undefined;
}

function cancel() {
  if (mergeFrom !== null) {
    mergeFrom = null;
    render();
  }
  say("");
}

function focusQueue() {
  el.queue.focus();
}

function focusReply() {
  if (!selectedGroup()) return say(labels.selectFirst, "error");
  el.reply.focus();
  return undefined;
}

// --- Presence: online, on a break, offline; the heartbeat keeps one's claims

async function setStatus(status, handBack = false) {
  const result = await api("POST", page.urls.agentStatus, { status, hand_back: handBack });
  if (result.ok) {
    agent = result.data;
    say("");
    scheduleHeartbeat();
    renderPresence();
    return;
  }
  if (result.data.code === "holding_claims") {
    setText(el.handBackText, result.data.detail);
    setText(el.handBackConfirm, fill(labels.handBack, {
      status: labels.presence[status].toLowerCase(),
    }));
    el.handBack.returnValue = "";
    el.handBack.onclose = () => {
      focusQueue();
      if (el.handBack.returnValue === "hand-back") setStatus(status, true);
    };
    el.handBack.showModal();
    el.handBackConfirm.focus();
    return;
  }
  say(result.data.detail, "error");
}

function scheduleHeartbeat() {
  clearInterval(heartbeatTimer);
  heartbeatTimer = null;
  // On a break too: a screen that stays silent is taken offline by the server's sweep.
  if (!page.canWork || agent.status === "offline") return;
  heartbeatTimer = setInterval(heartbeat, agent.heartbeat_seconds * 1000);
}

async function heartbeat() {
  const result = await api("POST", page.urls.heartbeat);
  if (result.ok) {
    const statusChanged = result.data.status !== agent.status;
    agent = result.data;
    el.presenceWarning.hidden = true;
    if (statusChanged) scheduleHeartbeat();
    renderPresence();
    return;
  }
  el.presenceWarning.hidden = false;
  setText(el.presenceWarning, result.status === 0
    ? fill(labels.heartbeatFailed, { seconds: agent.lease_seconds })
    : result.data.detail);
}

// --- Following the log

class QueueSocket extends EventSocket {
  // The server answers a ping only after it has sent everything the socket missed.
  receive(socket, message) {
    super.receive(socket, message);
    if (socket !== this.socket || typeof message.data !== "string") return;
    if (!message.data.includes('"pong"')) return;
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.frame === "pong" && frame.head <= this.lastId) this.onCaughtUp();
  }

  // The device's network is back: reconnect now rather than at the end of the backoff.
  reconnectSoon() {
    if (this.stopped || this.socket !== null) return;
    this.attempt = 0;
    this.scheduleReconnect(0);
  }

  // The device says the network is gone: stop trusting the screen at once.
  drop() {
    if (this.socket) this.reconnectNow(this.socket);
  }
}

async function getJson(url) {
  const result = await api("GET", url);
  if (!result.ok) throw new Error(result.data.detail);
  return result.data;
}

// After a resync: the queue afresh (and the selected group, wherever it went).
async function reload() {
  const [waiting, withHost] = await Promise.all([
    getJson(page.urls.queue), getJson(`${page.urls.queue}?status=escalated`),
  ]);
  const selected = selectedGroup();
  groups.clear();
  for (const group of [...waiting.groups, ...withHost.groups]) groups.set(group.id, group);
  if (selected && !groups.has(selected.id)) {
    const result = await api("GET", groupUrl("group", selected.id));
    groups.set(selected.id, result.ok ? result.data : selected);
  }
  render();
  return Math.min(waiting.head, withHost.head);
}

// The SLA sweep names the groups it flagged; nothing else about them changed.
function applySla(data) {
  for (const flag of ["warned", "breached"]) {
    for (const id of data[flag] || []) {
      const group = groups.get(id);
      if (group) groups.set(id, { ...group, [flag]: true });
    }
  }
}

function onEvents(events) {
  for (const event of events) {
    if (event.type === "question") apply(event.op, event.data);
    else if (event.type === "sla") applySla(event.data);
    else applyPins(event);
  }
  render();
}

// Filtered views may reach beyond the queue the page was given: fetch the rest.
async function filterChanged() {
  filters.category = el.filterCategory.value;
  filters.language = el.filterLanguage.value;
  filters.link = el.filterProduct.value;
  render();
  const query = new URLSearchParams();
  if (filters.category) query.set("category", filters.category);
  if (filters.language) query.set("language", filters.language);
  if (filters.link) query.set("link_number", filters.link);
  if (![...query.keys()].length) return;
  const result = await api("GET", `${page.urls.queue}?${query}`);
  if (!result.ok) return;
  for (const group of result.data.groups) apply("current", group);
  render();
}

// --- Keys

function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  return target instanceof HTMLInputElement
    && !["checkbox", "radio", "button", "submit"].includes(target.type);
}

function onKey(event) {
  if (el.handBack && el.handBack.open) return;
  const { target } = event;
  if (target === el.reply) {
    // Enter sends (Ctrl+Enter too); Shift+Enter is a new line; Enter that confirms an input
    // method's candidate (拼音) is not a send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      send();
    } else if (event.key === "Escape") {
      event.preventDefault();
      focusQueue();
    }
    return;
  }
  if (el.split && el.split.contains(target)) return;
  if (typing(target)) {
    if (event.key === "Escape") {
      event.preventDefault();
      focusQueue();
    }
    return;
  }
  if (event.altKey || event.metaKey) return;
  if (event.ctrlKey) {
    if (event.key === "Enter") {
      event.preventDefault();
      send();
    }
    return;
  }
  if (event.repeat && !["j", "k", "ArrowDown", "ArrowUp"].includes(event.key)) return;
  const onControl = target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement;
  if (handleKey(event.key, onControl)) event.preventDefault();
}

function handleKey(key, onControl) {
  switch (key) {
    case "j": case "ArrowDown": move(1); return true;
    case "k": case "ArrowUp": move(-1); return true;
    case "/": el.filterCategory.focus(); return true;
    case "Escape": cancel(); focusQueue(); return true;
    default: break;
  }
  if (!page.canWork) return false;
  switch (key) {
    case "c": claim(); return true;
    case "n": claimNext(); return true;
    case "e": escalate(); return true;
    case "s": skip(); return true;
    case "m": merge(); return true;
    case "x": openSplit(); return true;
    case "r": focusReply(); return true;
    case "Backspace": unstackLast(); return true;
    // A focused button takes Enter as its own press.
    case "Enter": if (onControl) return false; send(); return true;
    default: break;
  }
  if (/^[1-9]$/.test(key)) {
    stack(Number(key));
    return true;
  }
  return false;
}

// --- Start

for (const group of [...page.groups, ...page.withHost]) groups.set(group.id, group);
render();
focusQueue();

window.addEventListener("keydown", onKey);
for (const select_ of [el.filterCategory, el.filterLanguage, el.filterProduct]) {
  select_.addEventListener("change", filterChanged);
}
$("filters").addEventListener("submit", (event) => event.preventDefault());

if (page.canWork) {
  el.reply.addEventListener("input", () => {
    const group = selectedGroup();
    if (!group) return;
    draftFor(group.id).text = el.reply.value;
    renderPreview(group);
    updateSend();
  });
  el.send.addEventListener("click", send);
  el.claim.addEventListener("click", claim);
  el.escalate.addEventListener("click", escalate);
  el.skip.addEventListener("click", skip);
  el.split.addEventListener("submit", (event) => {
    event.preventDefault();
    submitSplit();
  });
  el.split.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      submitSplit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      closeSplit();
      say("");
      focusQueue();
    }
  });
  el.splitCancel.addEventListener("click", () => {
    closeSplit();
    focusQueue();
  });
  for (const button of el.presence.querySelectorAll("button")) {
    button.addEventListener("click", () => setStatus(button.dataset.status));
  }
  scheduleHeartbeat();
}

setInterval(() => {
  ticks += 1;
  if (ticks % RESORT_EVERY_TICKS === 0) {
    render();
    return;
  }
  const at = now();
  for (const id of order) fillRow(rows.get(id), groups.get(id), at);
  const group = selectedGroup();
  if (group) renderDetailMeta(group, at);
}, 1000);

const socket = new QueueSocket({
  streamId: page.stream.id,
  lastId: page.head,
  heartbeatSeconds: page.heartbeatSeconds,
  onEvents,
  onResync: reload,
  onState: (state) => {
    socketState = state;
    if (state !== "live") caughtUp = false;
    showConnection();
    updateSend();
  },
  // Signed out elsewhere or no longer allowed: reloading shows the sign-in page or why.
  onForbidden: () => setTimeout(() => location.reload(), 10_000),
});
socket.onCaughtUp = () => {
  if (caughtUp) return;
  caughtUp = true;
  showConnection();
  updateSend();
};
socket.start();
window.addEventListener("online", () => socket.reconnectSoon());
window.addEventListener("offline", () => socket.drop());
