// The TV's side of pairing, in the manner of RFC 8628's device flow: ask for a code, show
// it large, and poll until someone signed in has entered it. The token arrives as the
// screen's cookie with the answer that grants it, so the wall then only needs a reload.
// A code that expires is replaced by a new one without anyone touching the TV.

const config = JSON.parse(document.getElementById("pairing-data").textContent);
const labels = config.labels;
const root = document.querySelector("[data-pairing]");
const codeElement = document.getElementById("pairing-code");
const uriElement = document.getElementById("pairing-uri");
const statusElement = document.getElementById("pairing-status");

const SLOW_DOWN_SECONDS = 5; // RFC 8628 §3.5: each slow_down adds five seconds
const MAX_RETRY_SECONDS = 60;

let pairing = null; // {deviceCode, expiresAt, interval}
let failures = 0;
let timer = null;

function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
}

function formatLeft(seconds) {
  const rest = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(rest / 60)}:${String(rest % 60).padStart(2, "0")}`;
}

function show(state, message) {
  root.dataset.state = state;
  statusElement.textContent = message;
}

function later(fn, seconds) {
  clearTimeout(timer);
  timer = setTimeout(fn, seconds * 1000);
}

// Retry after a failure, waiting longer each time (the server may be restarting).
function retry(fn) {
  failures += 1;
  show("offline", labels.offline);
  later(fn, Math.min(MAX_RETRY_SECONDS, 2 ** Math.min(failures, 6)));
}

async function post(url, body) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(body),
    // A request that hangs must not stop the pairing screen: it fails and is retried.
    signal: AbortSignal.timeout(15_000),
  });
}

async function begin(renewed = false) {
  pairing = null;
  codeElement.dataset.code = "";
  if (!renewed) show("starting", labels.starting);
  let response;
  try {
    response = await post(config.urls.start, {});
  } catch {
    retry(() => begin(renewed));
    return;
  }
  // A captive portal or proxy page answers 200 with HTML: try again, never stop here.
  const data = response.ok ? await response.json().catch(() => null) : null;
  if (!data || !data.device_code) {
    retry(() => begin(renewed));
    return;
  }
  failures = 0;
  pairing = {
    deviceCode: data.device_code,
    expiresAt: Date.now() + data.expires_in * 1000,
    interval: data.interval,
  };
  codeElement.textContent = data.user_code;
  codeElement.dataset.code = data.user_code;
  uriElement.textContent = data.verification_uri;
  if (renewed) {
    show("renewed", labels.renewing);
    setTimeout(() => {
      if (root.dataset.state === "renewed") show("waiting", waitingText());
    }, 5000);
  } else {
    show("waiting", waitingText());
  }
  later(poll, pairing.interval);
}

function waitingText() {
  return fill(labels.waiting, { time: formatLeft((pairing.expiresAt - Date.now()) / 1000) });
}

async function poll() {
  if (!pairing) return;
  if (Date.now() >= pairing.expiresAt) {
    begin(true);
    return;
  }
  let response;
  try {
    response = await post(config.urls.token, { device_code: pairing.deviceCode });
  } catch {
    retry(poll);
    return;
  }
  if (response.ok) {
    show("paired", labels.paired);
    location.replace(config.urls.screen);
    return;
  }
  const error = await response.json().catch(() => ({}));
  switch (error.code) {
    case "authorization_pending":
      failures = 0;
      later(poll, pairing.interval);
      return;
    case "slow_down":
      pairing.interval += SLOW_DOWN_SECONDS;
      later(poll, pairing.interval);
      return;
    case "expired_token":
    case "invalid_grant":
      begin(true);
      return;
    default:
      retry(poll);
  }
}

// The countdown on the code, so nobody types one that is about to lapse.
setInterval(() => {
  if (pairing && root.dataset.state === "waiting") statusElement.textContent = waitingText();
}, 1000);

begin();
