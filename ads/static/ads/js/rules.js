// The rule form: condition rows added and removed in place (a Django formset: new rows come
// from the page's <template>, removed ones are ticked for deletion and hidden, so the server
// still sees them), the window off for metrics without one, the value off when a condition
// compares with the break-even ROI, and the break-even ROI recomputed as margin and return
// rate are typed.
const windowed = new Set(JSON.parse(document.getElementById("rules-data").textContent));
const form = document.getElementById("rule-form");
const rows = document.getElementById("condition-rows");
const template = document.getElementById("condition-template");
const addButton = document.getElementById("condition-add");
const total = form.querySelector('input[name="conditions-TOTAL_FORMS"]');
const maxForms = Number(form.querySelector('input[name="conditions-MAX_NUM_FORMS"]').value);
const breakEven = document.getElementById("break-even");

function field(row, suffix) {
  return row.querySelector(`[name$="-${suffix}"]`);
}

function sync(row) {
  const metric = field(row, "metric");
  const window = field(row, "window");
  const value = field(row, "value");
  const atBreakEven = field(row, "break_even");
  window.disabled = !windowed.has(metric.value);
  value.disabled = atBreakEven.checked;
  const removed = field(row, "DELETE").checked;
  row.dataset.removed = String(removed);
}

function prepare(row) {
  const remove = field(row, "DELETE");
  // The tick box becomes a button; ticked, the row is hidden but still sent as deleted.
  remove.closest("label").hidden = true;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link remove-condition";
  button.textContent = remove.closest("label").textContent.trim();
  button.addEventListener("click", () => {
    remove.checked = true;
    sync(row);
    countRows();
  });
  row.append(button);
  row.addEventListener("change", () => sync(row));
  sync(row);
}

function countRows() {
  const shown = rows.querySelectorAll('[data-condition]:not([data-removed="true"])').length;
  addButton.disabled = Number(total.value) >= maxForms;
  for (const button of rows.querySelectorAll(".remove-condition")) button.hidden = shown <= 1;
}

function addRow() {
  const index = Number(total.value);
  const html = template.innerHTML.replaceAll("__prefix__", String(index));
  const holder = document.createElement("ol");
  holder.innerHTML = html;
  const row = holder.firstElementChild;
  rows.append(row);
  total.value = String(index + 1);
  prepare(row);
  countRows();
  field(row, "metric").focus();
}

function showBreakEven() {
  const margin = Number(form.elements.gross_margin.value);
  const returns = Number(form.elements.return_rate.value);
  const kept = margin * (1 - returns);
  breakEven.textContent = kept > 0 && Number.isFinite(kept) ? (1 / kept).toFixed(2) : "–";
}

for (const row of rows.querySelectorAll("[data-condition]")) prepare(row);
addButton.hidden = false;
addButton.addEventListener("click", addRow);
countRows();
form.elements.gross_margin.addEventListener("input", showBreakEven);
form.elements.return_rate.addEventListener("input", showBreakEven);
// Disabled fields are not sent: enable them for the submit so nothing typed is dropped.
form.addEventListener("submit", () => {
  for (const input of form.querySelectorAll("[disabled]")) input.disabled = false;
});
