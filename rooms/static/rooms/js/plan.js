// The planning calendar: drag a stream to another time or day. The move goes through the
// REST API with the same clash rules as every other path; a refusal shows its message and
// the stream goes back where it was.
(function () {
  "use strict";
  const calendar = document.getElementById("calendar");
  if (!calendar) return;
  const config = JSON.parse(document.getElementById("plan-config").textContent);
  const message = document.getElementById("plan-message");
  const DAY_MINUTES = 24 * 60;
  const snap = config.snapMinutes;

  // Placed from data attributes: the Content-Security-Policy forbids inline style attributes.
  for (const item of calendar.querySelectorAll("[data-top]")) {
    item.style.top = `${item.dataset.top}%`;
    item.style.height = `${item.dataset.height}%`;
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function show(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function trackOf(block) {
    return block.closest(".calendar-track");
  }

  function dayAt(x) {
    for (const day of calendar.querySelectorAll(".calendar-day")) {
      const box = day.getBoundingClientRect();
      if (x >= box.left && x <= box.right) return day;
    }
    return null;
  }

  async function move(block, minutesShift, dayShift) {
    const start = new Date(block.dataset.start);
    const end = new Date(block.dataset.end);
    const shift = (minutesShift + dayShift * DAY_MINUTES) * 60000;
    if (!shift) return false;
    const response = await fetch(block.dataset.url, {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({
        planned_start: new Date(start.getTime() + shift).toISOString(),
        planned_end: new Date(end.getTime() + shift).toISOString(),
      }),
    });
    if (response.ok) return true;
    let text = response.statusText;
    try {
      const body = await response.json();
      text = body.clashes ? body.clashes.map((c) => c.message).join(" ") : body.detail || text;
    } catch (error) {
      // not JSON: keep the status text
    }
    show(text);
    return false;
  }

  function settle(block, ok) {
    block.classList.remove("dragging");
    block.style.transform = "";
    if (ok) window.location.reload();
  }

  // A drag that ends over the stream's title must not also follow its link.
  let justDragged = false;
  calendar.addEventListener(
    "click",
    (event) => {
      if (justDragged) {
        event.preventDefault();
        justDragged = false;
      }
    },
    true,
  );

  calendar.addEventListener("pointerdown", (event) => {
    const block = event.target.closest(".calendar-stream.movable");
    if (!block || event.button !== 0) return;
    const startX = event.clientX;
    const startY = event.clientY;
    const track = trackOf(block);
    const pxPerMinute = track.getBoundingClientRect().height / DAY_MINUTES;
    const fromDay = block.closest(".calendar-day");
    let moved = false;
    let minutes = 0;
    let dayShift = 0;

    function onMove(e) {
      const dy = e.clientY - startY;
      const dx = e.clientX - startX;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 6) return;
      moved = true;
      block.classList.add("dragging");
      minutes = Math.round(dy / pxPerMinute / snap) * snap;
      const overDay = dayAt(e.clientX);
      const days = [...calendar.querySelectorAll(".calendar-day")];
      dayShift = overDay ? days.indexOf(overDay) - days.indexOf(fromDay) : 0;
      const dayWidth = fromDay.getBoundingClientRect().width;
      block.style.transform = `translate(${dayShift * dayWidth}px, ${minutes * pxPerMinute}px)`;
    }

    async function onUp() {
      window.removeEventListener("pointermove", onMove);
      window.removeEventListener("pointerup", onUp);
      if (!moved) return;
      justDragged = true;
      show("");
      settle(block, await move(block, minutes, dayShift));
    }

    window.addEventListener("pointermove", onMove);
    window.addEventListener("pointerup", onUp);
    event.preventDefault();
  });

  // Keyboard: arrows move a focused stream by 15 minutes or a day.
  calendar.addEventListener("keydown", async (event) => {
    const block = event.target.closest(".calendar-stream.movable");
    if (!block) return;
    const steps = { ArrowUp: [-snap, 0], ArrowDown: [snap, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const step = steps[event.key];
    if (!step) return;
    event.preventDefault();
    show("");
    settle(block, await move(block, step[0], step[1]));
  });
})();
