// The script table editor: add a row under the last one, or remove a row. Rows are posted
// as parallel lists of cells, so a removed row simply is not sent.
(function () {
  "use strict";
  const body = document.getElementById("script-rows");
  if (!body) return;

  function renumber() {
    body.querySelectorAll(".row-number").forEach((cell, index) => {
      cell.textContent = String(index + 2);
    });
  }

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-add-row]")) {
      const last = body.lastElementChild;
      const row = last.cloneNode(true);
      row.classList.remove("row-error");
      row.querySelectorAll("textarea").forEach((area) => {
        area.value = "";
      });
      body.appendChild(row);
      renumber();
      row.querySelector("textarea").focus();
    }
    const remove = event.target.closest("[data-remove-row]");
    if (remove && body.children.length > 1) {
      remove.closest("tr").remove();
      renumber();
    }
  });
})();
