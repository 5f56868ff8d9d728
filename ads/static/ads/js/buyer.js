// The ad buyer's board (投手): a stream's decision cards, live, decided in seconds.
//
// It starts from the board the server rendered into the page (read after the event log's
// head), then follows the stream's log: every "boost" event carries the whole card, so the
// screen replaces its copy by id, never with an older version; "kill_switch" events carry
// the switch as it stands. Campaign figures and executions change with "ad_metrics" and
// execution events; only the parts those events make stale are read again from the board
// API, at most every few seconds. After a `resync` the whole board is.
//
// Every action goes over HTTP with the version of the card the person saw. A refusal shows
// the server's own words on the card; a 409 replaces the card with the one the server sends
// (`current`); an amount being edited stays in its field whatever arrives meanwhile.
import { request } from "../../js/api.js";
import { EventSocket } from "../../js/event-socket.js";

const page = JSON.parse(document.getElementById("buyer-data").textContent);
const labels = page.labels;
const can = page.can;
const me = page.me;
const $ = (id) => document.getElementById(id);
const el = {
  connection: $("connection"),
  notice: $("notice"),
  cards: $("cards"),
  cardsEmpty: $("cards-empty"),
  cardsCount: $("cards-count"),
  history: $("history"),
  historyEmpty: $("history-empty"),
  campaigns: $("campaigns"),
  campaignsEmpty: $("campaigns-empty"),
  killList: $("kill-list"),
  executions: $("executions"),
  executionsEmpty: $("executions-empty"),
  confirm: $("kill-confirm"),
  confirmText: $("kill-confirm-text"),
  confirmYes: $("kill-confirm-yes"),
  streamStatus: $("stream-status"),
};

const OPEN = new Set(["proposed", "awaiting_approval", "approved", "executing"]);
const HISTORY_SHOWN = 30;
// Figures and executions are read again at most this often while events keep coming.
const REFRESH_MS = 3000;

const cards = new Map(); // id → card, as the last event or answer gave it
const cardElements = new Map(); // id → <article>
const drafts = new Map(); // id → { amount, note, editing }
const cardErrors = new Map(); // id → the server's words about the last action on it
const busy = new Set(); // card ids with a request in flight
const openAudits = new Set(); // execution ids whose audit trail is unfolded
let campaigns = [];
let killSwitch = { stream: { killed: false }, accounts: [] };
let executions = [];
let selectedId = null;

const currency = page.stream.currency;
const moneyFormat = new Intl.NumberFormat(page.language, {
  style: "currency", currency, currencyDisplay: "narrowSymbol",
});
const ratioFormat = new Intl.NumberFormat(page.language, {
  minimumFractionDigits: 2, maximumFractionDigits: 2,
});
const percentFormat = new Intl.NumberFormat(page.language, {
  style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 2,
});
const countFormat = new Intl.NumberFormat(page.language);
const timeFormat = new Intl.DateTimeFormat(page.language, {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  timeZone: page.stream.timeZone,
});

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

function money(raw) {
  if (raw === null || raw === undefined || raw === "") return "–";
  return moneyFormat.format(Number(raw));
}

function signedMoney(raw) {
  if (raw === null || raw === undefined) return "–";
  const value = Number(raw);
  return `${value < 0 ? "−" : "+"}${moneyFormat.format(Math.abs(value))}`;
}

function ratio(raw) {
  if (raw === null || raw === undefined) return "–";
  if (raw === "Infinity") return "∞";
  return ratioFormat.format(Number(raw));
}

function percent(raw) {
  return raw === null || raw === undefined ? "–" : percentFormat.format(Number(raw));
}

function metricValue(metric, raw) {
  if (raw === null || raw === undefined) return "–";
  if (["ctr", "cvr", "viewer_trend"].includes(metric)) return percent(raw);
  if (metric === "pinned_stock") return countFormat.format(Number(raw));
  return ratio(raw);
}

function clock(iso) {
  return iso ? timeFormat.format(new Date(iso)) : "";
}

function url(name, id) {
  return page.urls[name].replace("/0/", `/${id}/`);
}

// Calls the REST API with the session's CSRF token. Never throws: `ok`, the HTTP status and
// the body (the server's `detail`, `code` and, on a conflict, `current`).
function api(method, address, body) {
  return request(method, address, body, {
    csrfToken: page.csrfToken, networkError: labels.networkError,
  });
}

function say(text, kind = "info") {
  el.notice.hidden = !text;
  el.notice.dataset.kind = kind;
  setText(el.notice, text || "");
}

// --- The board's state

function applyCard(card) {
  const before = cards.get(card.id);
  if (before && card.version < before.version) return;
  cards.set(card.id, card);
  if (card.status !== "proposed") {
    const draft = drafts.get(card.id);
    // Nothing left to edit: the field closes, what was typed stays for a later look.
    if (draft) draft.editing = false;
  }
  if (before && before.version !== card.version) cardErrors.delete(card.id);
}

function applyKill(data) {
  if (data.scope === "stream") {
    killSwitch.stream = {
      killed: data.killed, changed_by: data.changed_by, changed_at: data.changed_at,
    };
  } else {
    const account = killSwitch.accounts.find((a) => a.id === data.account);
    if (account) account.killed = data.killed;
    for (const campaign of campaigns) {
      if (campaign.account.id === data.account) campaign.account.killed = data.killed;
    }
  }
}

// Takes a board, or the parts of one a refresh asked for.
function loadBoard(board, { replaceCards = false } = {}) {
  if (replaceCards) cards.clear();
  for (const card of board.cards ?? []) applyCard(card);
  if (board.campaigns) campaigns = board.campaigns;
  if (board.kill_switch) killSwitch = board.kill_switch;
  if (board.executions) executions = board.executions;
}

function openCards() {
  return [...cards.values()]
    .filter((card) => OPEN.has(card.status))
    .sort((a, b) => Date.parse(b.proposed_at) - Date.parse(a.proposed_at) || b.id - a.id);
}

function closedCards() {
  return [...cards.values()]
    .filter((card) => !OPEN.has(card.status))
    .sort((a, b) => Date.parse(b.proposed_at) - Date.parse(a.proposed_at) || b.id - a.id)
    .slice(0, HISTORY_SHOWN);
}

function draftFor(card) {
  if (!drafts.has(card.id)) {
    drafts.set(card.id, { amount: editableAmount(card), note: "", editing: false });
  }
  return drafts.get(card.id);
}

// An amount in the action's own terms, as the API takes it: what to add, the budget to set,
// what to cut.
function editableAmount(card) {
  if (card.action === "set_budget") return card.target_budget ?? "";
  if (card.amount === null) return "";
  return String(Math.abs(Number(card.amount)).toFixed(2));
}

// --- Rendering: cards

function actionText(card) {
  const amount = card.amount === null ? null : Math.abs(Number(card.amount));
  switch (card.action) {
    case "add_budget":
      return fill(labels.addBudget, { amount: money(amount) });
    case "set_budget":
      return fill(labels.setBudget, { amount: money(card.target_budget) });
    case "cut":
      return fill(labels.cut, { amount: money(amount) });
    case "pause":
      return labels.pause;
    default:
      return labels.notify;
  }
}

function budgetText(card) {
  if (card.target_budget === null) return "";
  const before = card.evidence.budget_before
    ?? String(Number(card.target_budget) - Number(card.amount ?? 0));
  const move = fill(labels.budgetMove, { before: money(before), after: money(card.target_budget) });
  return card.action === "set_budget"
    ? `${move} · ${fill(labels.change, { change: signedMoney(card.amount) })}`
    : move;
}

function conditionItem(condition) {
  const item = node("li", "ad-condition");
  const name = labels.metricShort[condition.metric] || condition.metric;
  const window = condition.window ? ` (${fill(labels.lastMinutes, { n: condition.window })})` : "";
  const threshold = condition.break_even
    ? fill(labels.breakEven, { value: ratio(condition.value) })
    : metricValue(condition.metric, condition.value);
  item.append(
    node("span", "ad-condition-name", `${name}${window}`),
    node("strong", "ad-condition-actual", metricValue(condition.metric, condition.actual)),
    node("span", "ad-condition-op", condition.op),
    node("span", "ad-condition-value", threshold),
    node("span", "ad-condition-held", labels.held),
  );
  return item;
}

function productText(entry) {
  if (!entry) return null;
  const product = entry.product;
  if (!product) return entry.title;
  const parts = [`#${product.link_number} ${product.product}`];
  parts.push(product.loss_leader ? `${product.kind_label} · ${labels.lossLeader}` : product.kind_label);
  if (product.live_price) parts.push(money(product.live_price));
  if (product.stock_left !== null && product.stock_left !== undefined) {
    parts.push(fill(labels.stockLeft, { n: countFormat.format(product.stock_left) }));
  }
  return parts.join(" · ");
}

function showBlock(show) {
  const items = [];
  if (!show) return items;
  const now = productText(show.now);
  const next = productText(show.next);
  const line = (label, text, kind) => {
    const p = node("p", `ad-show-line ${kind}`);
    p.append(node("span", "ad-show-label", label), node("span", "ad-show-text", text));
    return p;
  };
  items.push(line(labels.now, now ?? labels.nothingOn, "now"));
  const nextLine = line(labels.next, next ?? labels.endOfPlan, "next");
  if (show.next?.product?.loss_leader) nextLine.dataset.lossLeader = "true";
  items.push(nextLine);
  if (show.pinned?.length) {
    const pinned = show.pinned.map((p) => `#${p.link_number} ${p.product}`
      + (p.stock_left !== null && p.stock_left !== undefined
        ? ` (${fill(labels.stockLeft, { n: countFormat.format(p.stock_left) })})` : ""));
    items.push(node("p", "ad-show-line small muted", fill(labels.pinned, { products: pinned.join(", ") })));
  }
  return items;
}

function stateOf(card) {
  const who = { name: card.decided_by };
  switch (card.status) {
    case "proposed":
      return "";
    case "awaiting_approval":
      return card.decided_by === me.username
        ? labels.youAccepted
        : `${fill(labels.acceptedBy, who)} · ${labels.waitingApprover}`;
    case "approved":
      return [card.decided_by && fill(labels.acceptedBy, who),
        card.approved_by && fill(labels.approvedBy, { name: card.approved_by }),
        labels.sending].filter(Boolean).join(" · ");
    case "executing":
      return labels.executing;
    case "done":
      return card.action === "notify" ? fill(labels.acceptedBy, who) : labels.confirmed;
    case "failed":
      return fill(labels.failed, { reason: card.note });
    case "stopped":
      return fill(labels.stopped, { reason: card.note });
    case "rejected":
      if (card.evidence.blocked) return fill(labels.blocked, { reason: card.evidence.blocked });
      return fill(labels.rejectedBy, { name: card.approved_by || card.decided_by || labels.system })
        + (card.note ? ` · ${card.note}` : "");
    case "expired":
      return labels.expired;
    default:
      return labels.statuses[card.status] || card.status;
  }
}

function mayDecide(card) {
  return can.decide && card.status === "proposed";
}

function mayApprove(card) {
  return can.approve && card.status === "awaiting_approval" && card.decided_by !== me.username;
}

function buildCard(id) {
  const article = node("article", "ad-card");
  article.dataset.card = id;
  article.tabIndex = -1;
  const head = node("header", "ad-card-head");
  head.append(
    node("span", "ad-card-rule"),
    node("span", "ad-card-campaign"),
    node("span", "badge ad-card-status"),
    node("time", "ad-card-time"),
  );
  const action = node("div", "ad-card-action");
  action.append(node("span", "ad-card-change"), node("span", "ad-card-budget"));
  const evidence = node("div", "ad-card-evidence");
  evidence.dataset.testid = "evidence";
  evidence.append(
    node("ul", "ad-conditions"),
    node("p", "ad-numbers small"),
    node("p", "ad-numbers-more small muted"),
    node("p", "ad-min-spend small muted"),
  );
  const show = node("div", "ad-card-show");
  show.dataset.testid = "show";
  const state = node("p", "ad-card-state");
  state.dataset.testid = "card-state";
  const error = node("p", "control-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const controls = node("div", "ad-card-controls");
  const buttons = {
    accept: node("button", "primary", labels.accept),
    edit: node("button", "", labels.edit),
    reject: node("button", "danger", labels.reject),
    approve: node("button", "primary", labels.approve),
  };
  for (const [name, button] of Object.entries(buttons)) {
    button.type = "button";
    button.dataset.action = name;
    button.addEventListener("click", () => {
      select(id);
      act(name, id);
    });
    controls.append(button);
  }
  const form = node("form", "ad-card-edit");
  form.hidden = true;
  const amountLabel = node("label", "ad-edit-amount");
  const amountText = node("span", "");
  const amount = node("input", "");
  amount.type = "number";
  amount.step = "0.01";
  amount.min = "0.01";
  amount.name = "amount";
  amount.required = true;
  amountLabel.append(amountText, amount);
  const noteLabel = node("label", "ad-edit-note");
  const note = node("input", "");
  note.name = "note";
  note.maxLength = 300;
  noteLabel.append(node("span", "", labels.note), note);
  const submit = node("button", "primary", labels.acceptEdited);
  submit.type = "submit";
  const cancel = node("button", "", labels.cancel);
  cancel.type = "button";
  form.append(amountLabel, noteLabel, submit, cancel);
  amount.addEventListener("input", () => {
    draftFor(cards.get(id)).amount = amount.value;
  });
  note.addEventListener("input", () => {
    draftFor(cards.get(id)).note = note.value;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    acceptEdited(id);
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeEdit(id);
    }
  });
  cancel.addEventListener("click", () => closeEdit(id));
  article.append(head, action, evidence, show, state, error, controls, form);
  article.addEventListener("click", () => select(id));
  return article;
}

function fillCard(article, card) {
  const q = (selector) => article.querySelector(selector);
  article.dataset.status = card.status;
  article.setAttribute("aria-selected", String(card.id === selectedId));
  const stamp = String(card.version);
  if (article.dataset.stamp !== stamp) {
    article.dataset.stamp = stamp;
    setText(q(".ad-card-rule"), card.rule ? card.rule.name : card.evidence.rule?.name ?? "");
    setText(q(".ad-card-campaign"), card.campaign.name);
    setText(q(".ad-card-time"), fill(labels.proposedAt, { time: clock(card.proposed_at) }));
    q(".ad-card-time").dateTime = card.proposed_at;
    setText(q(".ad-card-change"), actionText(card));
    setText(q(".ad-card-budget"), budgetText(card));
    const evidence = card.evidence || {};
    q(".ad-conditions").replaceChildren(...(evidence.conditions || []).map(conditionItem));
    const numbers = evidence.numbers;
    setText(q(".ad-numbers"), numbers ? fill(labels.numbers, {
      window: numbers.window,
      spend: money(numbers.spend),
      gmv: money(numbers.gmv),
      roi: ratio(numbers.roi),
      orders: countFormat.format(numbers.orders ?? 0),
      ctr: percent(numbers.ctr),
      cvr: percent(numbers.cvr),
    }) : "");
    setText(q(".ad-numbers-more"), numbers ? fill(labels.stockLine, {
      left: money(numbers.budget_left),
      share: percent(numbers.paid_share),
      online: countFormat.format(numbers.online ?? 0),
    }) : "");
    const rule = evidence.rule;
    setText(q(".ad-min-spend"), rule && Number(rule.min_spend) > 0
      ? fill(labels.minSpend, { amount: money(rule.min_spend) }) : "");
    q(".ad-card-show").replaceChildren(...showBlock(evidence.show));
  }
  const badge = q(".ad-card-status");
  badge.dataset.status = card.status;
  setText(badge, card.status === "awaiting_approval"
    ? labels.needsApprover : labels.statuses[card.status] || card.status);
  setText(q(".ad-card-state"), stateOf(card));
  const error = cardErrors.get(card.id);
  q(".control-error").hidden = !error;
  setText(q(".control-error"), error || "");
  const inFlight = busy.has(card.id);
  const decide = mayDecide(card);
  const buttons = {
    accept: decide,
    edit: decide && !["pause", "notify"].includes(card.action),
    reject: decide || mayApprove(card),
    approve: mayApprove(card),
  };
  for (const [name, shown] of Object.entries(buttons)) {
    const button = q(`button[data-action="${name}"]`);
    button.hidden = !shown;
    button.disabled = inFlight;
  }
  q(".ad-card-controls").hidden = !Object.values(buttons).some(Boolean);
  const draft = drafts.get(card.id);
  const form = q(".ad-card-edit");
  const editing = Boolean(draft?.editing && decide);
  form.hidden = !editing;
  if (editing) {
    const amount = form.elements.amount;
    const note = form.elements.note;
    const amountLabel = {
      set_budget: labels.editAmountSet, cut: labels.editAmountCut,
    }[card.action] || labels.editAmountAdd;
    setText(form.querySelector(".ad-edit-amount span"), amountLabel);
    // The field is the person's: only filled from the draft when it is not being typed in.
    if (document.activeElement !== amount && amount.value !== draft.amount) amount.value = draft.amount;
    if (document.activeElement !== note && note.value !== draft.note) note.value = draft.note;
    form.querySelector('button[type="submit"]').disabled = inFlight;
  }
}

function renderCards() {
  const open = openCards();
  const closed = closedCards();
  if (selectedId !== null && !open.some((card) => card.id === selectedId)) selectedId = null;
  if (selectedId === null && open.length) selectedId = open[0].id;
  const shown = new Set([...open, ...closed].map((card) => card.id));
  for (const [id, article] of cardElements) {
    if (!shown.has(id)) {
      article.remove();
      cardElements.delete(id);
    }
  }
  for (const [container, list] of [[el.cards, open], [el.history, closed]]) {
    list.forEach((card, index) => {
      let article = cardElements.get(card.id);
      if (!article) {
        article = buildCard(card.id);
        cardElements.set(card.id, article);
      }
      fillCard(article, card);
      if (container.children[index] !== article) {
        container.insertBefore(article, container.children[index] || null);
      }
    });
  }
  el.cardsEmpty.hidden = open.length > 0;
  setText(el.cardsEmpty, labels.noCards);
  el.historyEmpty.hidden = closed.length > 0;
  setText(el.historyEmpty, labels.noHistory);
  setText(el.cardsCount, open.length ? `(${open.length})` : "");
}

// --- Rendering: campaigns, kill switches, executions

function renderCampaigns() {
  const rows = campaigns.map((campaign) => {
    const row = node("tr", "");
    row.dataset.campaign = campaign.id;
    const name = node("td", "");
    name.append(node("span", "", campaign.name));
    if (campaign.paused) name.append(" ", node("span", "badge warn", labels.actions.pause));
    if (campaign.account.killed) name.append(" ", node("span", "badge bad", labels.killOn));
    name.append(node("span", "muted small campaign-account", campaign.account.name));
    const cell = (text, extra = "") => node("td", `num ${extra}`.trim(), text);
    row.append(
      name,
      cell(money(campaign.budget), "campaign-budget"),
      cell(money(campaign.spend)),
      cell(money(campaign.window_spend)),
      cell(ratio(campaign.window_roi), "campaign-roi"),
    );
    return row;
  });
  el.campaigns.replaceChildren(...rows);
  el.campaignsEmpty.hidden = campaigns.length > 0;
  setText(el.campaignsEmpty, labels.noCampaigns);
}

function killItem({ key, label, killed, changedBy, changedAt, allowed, onToggle }) {
  const item = node("li", "kill-item");
  item.dataset.kill = key;
  item.dataset.killed = String(killed);
  const state = node("span", `badge ${killed ? "bad" : "ok"} kill-state`, killed ? labels.killOn : labels.killOff);
  item.append(node("span", "kill-label", label), state);
  if (changedBy) {
    item.append(node("span", "muted small",
      fill(labels.changedBy, { name: changedBy, time: clock(changedAt) })));
  }
  if (allowed) {
    const button = node("button", killed ? "" : "danger", killed ? labels.turnOff : labels.turnOn);
    button.type = "button";
    button.dataset.action = "kill";
    button.addEventListener("click", onToggle);
    item.append(button);
  }
  return item;
}

function renderKill() {
  const stream = killSwitch.stream;
  const items = [killItem({
    key: "stream",
    label: page.stream.title,
    killed: stream.killed,
    changedBy: stream.changed_by,
    changedAt: stream.changed_at,
    allowed: can.killStream,
    onToggle: () => confirmKill({
      text: stream.killed ? labels.killStreamOff : labels.killStreamOn,
      killed: !stream.killed,
      address: page.urls.streamKill,
    }),
  })];
  for (const account of killSwitch.accounts) {
    items.push(killItem({
      key: `account-${account.id}`,
      label: account.name,
      killed: account.killed,
      allowed: can.killAccount,
      onToggle: () => confirmKill({
        text: fill(account.killed ? labels.killAccountOff : labels.killAccountOn,
          { name: account.name }),
        killed: !account.killed,
        address: url("accountKill", account.id),
        account: account.id,
      }),
    }));
  }
  el.killList.replaceChildren(...items);
}

function executionItem(execution) {
  const item = node("li", "execution");
  item.dataset.execution = execution.id;
  item.dataset.state = execution.state;
  const card = execution.decision_card;
  const summary = node("div", "execution-summary");
  summary.append(
    node("time", "muted small", clock(execution.created_at)),
    node("span", "execution-what", `${card.campaign.name} · ${actionText(card)}`),
    node("span", `badge execution-state state-${execution.state}`,
      labels.intentStates[execution.state] || execution.state),
    node("span", "muted small", fill(labels.attempts, { n: execution.attempts })),
    node("code", "small", execution.idempotency_key),
  );
  if (execution.platform_ref) summary.append(node("code", "small muted", execution.platform_ref));
  item.append(summary);
  if (execution.last_error) item.append(node("p", "small error", execution.last_error));
  const details = node("details", "audit");
  details.open = openAudits.has(execution.id);
  details.addEventListener("toggle", () => {
    if (details.open) openAudits.add(execution.id);
    else openAudits.delete(execution.id);
  });
  details.append(node("summary", "small", fill(labels.auditTrail, { n: execution.audit.length })));
  const list = node("ol", "audit-list");
  for (const entry of execution.audit) {
    const line = node("li", "audit-entry");
    line.dataset.kind = entry.kind;
    const head = node("div", "audit-head");
    head.append(
      node("time", "muted small", clock(entry.at)),
      node("strong", "", entry.kind),
      node("span", "muted small", entry.actor || labels.system),
    );
    const data = node("pre", "audit-data small", JSON.stringify(entry.data, null, 1));
    line.append(head, data);
    list.append(line);
  }
  details.append(list);
  item.append(details);
  return item;
}

function renderExecutions() {
  el.executions.replaceChildren(...executions.map(executionItem));
  el.executionsEmpty.hidden = executions.length > 0;
  setText(el.executionsEmpty, labels.noExecutions);
}

function render() {
  renderCards();
  renderCampaigns();
  renderKill();
}

// --- Actions

function select(id) {
  if (selectedId === id) return;
  selectedId = id;
  renderCards();
}

function selectedCard() {
  return selectedId === null ? null : cards.get(selectedId) || null;
}

async function send(id, name, body) {
  busy.add(id);
  cardErrors.delete(id);
  renderCards();
  const result = await api("POST", url(name, id), body);
  busy.delete(id);
  if (result.ok) {
    applyCard(result.data);
  } else {
    if (result.data.current) applyCard(result.data.current);
    cardErrors.set(id, result.data.detail);
    say(result.data.detail, "error");
  }
  renderCards();
  return result;
}

async function act(name, id) {
  const card = cards.get(id);
  if (!card || busy.has(id)) return;
  if (name === "edit") {
    openEdit(id);
    return;
  }
  if (name === "accept") {
    const result = await send(id, "accept", { seen_version: card.version });
    if (result.ok) say(result.data.status === "approved" ? labels.approved : labels.accepted, "ok");
  } else if (name === "reject") {
    const draft = drafts.get(id);
    const result = await send(id, "reject", { seen_version: card.version, note: draft?.note || "" });
    if (result.ok) say(labels.rejected, "ok");
  } else if (name === "approve") {
    const result = await send(id, "approve", { seen_version: card.version });
    if (result.ok) say(labels.approved, "ok");
  }
}

function openEdit(id) {
  const card = cards.get(id);
  if (!card || !mayDecide(card)) return;
  draftFor(card).editing = true;
  renderCards();
  const input = cardElements.get(id)?.querySelector('input[name="amount"]');
  if (input) {
    input.focus();
    input.select();
  }
}

function closeEdit(id) {
  const draft = drafts.get(id);
  if (draft) draft.editing = false;
  renderCards();
  cardElements.get(id)?.focus();
}

async function acceptEdited(id) {
  const card = cards.get(id);
  const draft = drafts.get(id);
  if (!card || !draft) return;
  const result = await send(id, "accept", {
    seen_version: card.version, amount: draft.amount, note: draft.note,
  });
  if (result.ok) {
    drafts.delete(id);
    say(result.data.status === "approved" ? labels.approved : labels.accepted, "ok");
  }
}

function confirmKill({ text, killed, address, account }) {
  setText(el.confirmText, text);
  setText(el.confirmYes, killed ? labels.turnOn : labels.turnOff);
  el.confirmYes.classList.toggle("danger", killed);
  el.confirm.returnValue = "";
  el.confirm.onclose = async () => {
    if (el.confirm.returnValue !== "confirm") return;
    const result = await api("PUT", address, { killed });
    if (!result.ok) {
      say(result.data.detail, "error");
      return;
    }
    if (account === undefined) {
      applyKill({ scope: "stream", ...result.data });
    } else {
      applyKill({ scope: "account", account, killed: result.data.killed });
    }
    say(result.data.stopped?.length
      ? fill(labels.stoppedCount, { n: result.data.stopped.length }) : "", "ok");
    renderKill();
    renderCampaigns();
    scheduleRefresh("executions", "campaigns");
  };
  el.confirm.showModal();
}

// --- Keyboard

function onKey(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest("input, textarea, select, dialog")) return;
  const open = openCards();
  const index = open.findIndex((card) => card.id === selectedId);
  const key = event.key;
  if (key === "j" || key === "ArrowDown") {
    if (open.length) select(open[Math.min(index + 1, open.length - 1)].id);
  } else if (key === "k" || key === "ArrowUp") {
    if (open.length) select(open[Math.max(index - 1, 0)].id);
  } else if (["a", "e", "r", "v"].includes(key)) {
    const card = selectedCard();
    if (!card) {
      say(labels.selectFirst, "error");
    } else {
      const name = { a: "accept", e: "edit", r: "reject", v: "approve" }[key];
      const allowed = name === "approve" ? mayApprove(card)
        : name === "reject" ? mayDecide(card) || mayApprove(card) : mayDecide(card);
      if (allowed) act(name, card.id);
      else say(labels.notYours, "error");
    }
  } else {
    return;
  }
  event.preventDefault();
  cardElements.get(selectedId)?.scrollIntoView({ block: "nearest" });
}

// --- Following the stream

let refreshTimer = null;
let lastRefresh = 0;
const staleParts = new Set();

function scheduleRefresh(...parts) {
  for (const part of parts) staleParts.add(part);
  if (refreshTimer !== null) return;
  const wait = Math.max(300, lastRefresh + REFRESH_MS - Date.now());
  refreshTimer = setTimeout(refresh, wait);
}

async function refresh() {
  refreshTimer = null;
  lastRefresh = Date.now();
  const parts = [...staleParts];
  staleParts.clear();
  const result = await api("GET", `${page.urls.board}?parts=${parts.join(",")}`);
  if (!result.ok) {
    for (const part of parts) staleParts.add(part);
    return;
  }
  loadBoard(result.data);
  render();
  if (result.data.executions) renderExecutions();
}

async function resync() {
  const result = await api("GET", page.urls.board);
  if (!result.ok) throw new Error(result.data.detail);
  loadBoard(result.data, { replaceCards: true });
  render();
  renderExecutions();
  return result.data.head;
}

// What each event makes stale besides what it carries itself.
const STALE_AFTER = {
  approved: ["executions"],
  executing: ["executions"],
  confirmed: ["executions", "campaigns"],
  failed: ["executions"],
  stopped: ["executions"],
};

function onEvents(events) {
  for (const event of events) {
    if (event.type === "boost") {
      applyCard(event.data);
      if (STALE_AFTER[event.op]) scheduleRefresh(...STALE_AFTER[event.op]);
    } else if (event.type === "kill_switch") {
      applyKill(event.data);
      scheduleRefresh("kill_switch", "campaigns");
    } else if (event.type === "ad_metrics") {
      scheduleRefresh("campaigns");
    } else if (event.type === "stream" && event.op === "status_changed" && el.streamStatus) {
      el.streamStatus.className = `status status-${event.data.to}`;
      setText(el.streamStatus, labels.streamStatuses[event.data.to] || event.data.to);
    }
  }
  render();
}

function showConnection(state) {
  el.connection.dataset.state = state;
  setText(el.connection, labels.connection[state] || state);
}

function start() {
  loadBoard(page.board);
  render();
  renderExecutions();
  document.addEventListener("keydown", onKey);
  new EventSocket({
    streamId: page.stream.id,
    lastId: page.board.head,
    heartbeatSeconds: page.heartbeatSeconds,
    onEvents,
    onResync: resync,
    onState: showConnection,
  }).start();
}

start();
