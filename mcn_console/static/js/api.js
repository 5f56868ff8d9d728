// Calls the console's REST API with the session and its CSRF token. Never throws: the
// answer says `ok`, the HTTP status and the body (`detail`, `code` and any `fields` on an
// error; `detail` is the network error's text when the server could not be reached).
export async function request(method, url, body, { csrfToken, networkError, keepalive = false }) {
  const reading = method === "GET";
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      keepalive,
      headers: {
        Accept: "application/json",
        ...(reading ? {} : { "Content-Type": "application/json", "X-CSRFToken": csrfToken }),
      },
      body: reading ? undefined : JSON.stringify(body ?? {}),
    });
  } catch {
    return { ok: false, status: 0, data: { detail: networkError, code: "network" } };
  }
  let data = {};
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = {};
    }
  }
  if (!response.ok && !data.detail) data = { ...data, detail: `HTTP ${response.status}` };
  return { ok: response.ok, status: response.status, data };
}
