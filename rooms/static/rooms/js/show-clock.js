// The run-of-show clock, shared by the operator console, the crew's follow screens and the
// wall screen, so every screen counts the same way.
//
// A screen keeps the show's state from the live snapshot (`show` in /api/v1/streams/<id>/live)
// and applies `show` and `cue` events to it with `applyShowEvent`; `timing` then says, at any
// moment, which segment is on, which is next, how long is left and how far the show runs
// over or under its plan. Nothing here needs the server while it counts: if the operator's
// console or the network goes away, the screens keep counting from the last position.

// Milliseconds to add to this device's clock to get the server's (from `server_now`).
export function clockOffset(serverNow) {
  return Date.parse(serverNow) - Date.now();
}

export function applyShowEvent(show, event) {
  if (event.type === "show") {
    // Both "moved" and "operator" carry the whole position.
    const { from, by, ...position } = event.data;
    Object.assign(show, position);
    return true;
  }
  if (event.type === "cue") {
    const index = show.cues.findIndex((cue) => cue.id === event.data.id);
    if (index >= 0) show.cues[index] = event.data;
    else show.cues.push(event.data);
    return true;
  }
  return false;
}

// Where the show stands at `nowMs` (server time, in ms).
export function timing(show, nowMs) {
  const segments = show.segments || [];
  const position = show.position ?? -1;
  const current = position >= 0 ? segments[position] : null;
  const next = segments[position + 1] || null;
  if (!current || !show.started_at || !show.segment_started_at) {
    return { current: null, next, position, remaining: null, elapsed: null, drift: null };
  }
  const started = Date.parse(show.started_at);
  const segmentStarted = Date.parse(show.segment_started_at);
  const elapsed = Math.floor((nowMs - segmentStarted) / 1000);
  const lateStart = Math.round((segmentStarted - started) / 1000) - current.offset_seconds;
  const overrun = Math.max(0, elapsed - current.planned_seconds);
  return {
    current,
    next,
    position,
    elapsed,
    remaining: current.planned_seconds - elapsed,
    drift: lateStart + overrun,
  };
}

// "4:05", "-0:12", "1:02:03".
export function formatSeconds(seconds) {
  const sign = seconds < 0 ? "-" : "";
  let rest = Math.abs(Math.trunc(seconds));
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const secs = String(rest - minutes * 60).padStart(2, "0");
  return hours
    ? `${sign}${hours}:${String(minutes).padStart(2, "0")}:${secs}`
    : `${sign}${minutes}:${secs}`;
}

// "+1:30" over plan, "-0:40" under, "±0:00" on time.
export function formatDrift(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds === 0) return "±0:00";
  return seconds > 0 ? `+${formatSeconds(seconds)}` : formatSeconds(seconds);
}

// The cues a role should see: its own (product cues belong to the room operator).
export function cuesFor(show, role) {
  return role ? show.cues.filter((cue) => cue.role === role) : show.cues;
}
