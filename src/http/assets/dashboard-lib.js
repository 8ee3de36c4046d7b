// What every part of the dashboard shares: API calls with the tab's token, the role the token
// has, small formatting helpers and the "asks once" confirmation.

export const $ = (id) => document.getElementById(id);

export function escapeText(text) {
  const div = document.createElement("div");
  div.textContent = text == null ? "" : String(text);
  return div.innerHTML.replace(/"/g, "&quot;");
}

/** "12s", "5m", "3h", "2d" from a duration in milliseconds. */
export function span(ms) {
  const seconds = Math.max(0, ms / 1000);
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

export const age = (iso) => (iso ? span(Date.now() - Date.parse(iso)) : "");

/** A time for people, in their zone, with the ISO form as a tooltip. */
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return `<time datetime="${escapeText(iso)}" title="${escapeText(iso)}">${escapeText(date.toLocaleString())}</time>`;
}

/** The time of day only (the date when not today), the full ISO form as a tooltip. */
export function clock(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const today = date.toDateString() === new Date().toDateString();
  const text = today ? date.toLocaleTimeString() : date.toLocaleString();
  return `<time datetime="${escapeText(iso)}" title="${escapeText(iso)}">${escapeText(text)}</time>`;
}

export function bar(progress, label) {
  const value = Math.round(Number(progress) || 0);
  return `<progress max="100" value="${value}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${value}" aria-label="${escapeText(label)}">${value}%</progress>`;
}

export const FINISHED = ["completed", "failed", "cancelled"];

// When the server needs a token, the dashboard asks once and keeps it in this tab only.
const TOKEN_KEY = "jobcast-token";
export const token = () => sessionStorage.getItem(TOKEN_KEY);

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, options = {}, asked = false) {
  const headers = { ...(options.headers || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.json) };
  }
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 && !asked) {
    const given = window.prompt("This jobcast server needs an API token:");
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given.trim());
      return api(path, options, true);
    }
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new HttpError(response.status, (body && body.message) || `HTTP ${response.status}`);
  return body;
}

const NO_JOB = "00000000-0000-7000-8000-000000000000";

/**
 * What this tab's token may do: "admin", "submit" or "read". The server answers 403 before
 * looking anything up, so asking for an action on a job or type that does not exist tells the
 * role without changing anything (404: allowed; 403: not).
 */
export async function detectRole() {
  const allowed = async (path) => {
    try {
      await api(path, { method: "POST" }, true);
      return true;
    } catch (error) {
      return error.status === 404; // anything else (403, 401, a failure): not shown the action
    }
  };
  if (await allowed("/api/types/jobcast-dashboard-role-probe/pause")) return "admin";
  if (await allowed(`/api/jobs/${NO_JOB}/cancel`)) return "submit";
  return "read";
}

/** Shows `message` in the page's one confirmation dialog; resolves true on "Confirm". */
export function confirmOnce(message, label = "Confirm") {
  const dialog = $("confirm-dialog");
  $("confirm-text").textContent = message;
  $("confirm-ok").textContent = label;
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/** A toast for errors of actions. */
export function notify(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => (box.hidden = true), 6000);
}

/** Collapsible, pretty JSON. */
export function jsonBlock(title, value, open = true) {
  return `<details class="json" ${open ? "open" : ""}><summary>${escapeText(title)}</summary><pre tabindex="0">${escapeText(JSON.stringify(value, null, 2))}</pre></details>`;
}

/** A sparkline (inline SVG) of `values`, oldest first. */
export function sparkline(values, label) {
  const width = 120;
  const height = 24;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values
    .map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`)
    .join(" ");
  return `<svg class="spark" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeText(label)}"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${points}"/></svg>`;
}
