// The jobcast dashboard: the overview (counts by status as tabs, the job types with their
// throughput and pause/resume, the schedules), the jobs list (server-side filters and search,
// "load more" paging, live through one /api/events stream, selection with bulk cancel/retry),
// the job view (dashboard-job.js) and the "new job" modal. The address holds the view
// (#/?status=failed&type=x&q=text, #/jobs/ID), so a reload or a shared link shows the same.
import { createJob, streamJob } from "/jobcast.js";
import {
  $, FINISHED, age, api, bar, confirmOnce, detectRole, escapeText, notify, span, sparkline, token,
} from "/dashboard-lib.js";
import { showJob } from "/dashboard-job.js";

void streamJob; // the job view follows single jobs (dashboard-job.js)

const STATUSES = ["queued", "running", "waiting", "completed", "failed", "cancelled"];
const PAGE = 50;
const RANK = { read: 0, submit: 1, admin: 2 };

const state = {
  role: "read",
  filters: { status: "", type: "", q: "" },
  jobs: new Map(), // job id -> latest job data, for the rows loaded
  order: [], // the rows, newest first
  cursor: null,
  picked: new Set(), // ids selected for a bulk action
  types: [],
  view: null, // { id, handle } of the open job view
  listToken: 0, // which list load is current
};
let dialogStream = null; // the modal's live job view

const may = (needed) => RANK[state.role] >= RANK[needed];

/**
 * Replaces `node`'s content only when it changed, and puts the focus back on the control that
 * had it (same id, or same data attributes), so a refresh every few seconds does not throw a
 * keyboard user out of the tabs or the tables.
 */
const shown = new WeakMap(); // node -> the HTML it was last given
function setHtml(node, html) {
  if (shown.get(node) === html) return;
  shown.set(node, html);
  const active = document.activeElement;
  let selector = null;
  if (active && node.contains(active)) {
    selector = active.tagName.toLowerCase() + [...active.attributes]
      .filter((a) => a.name.startsWith("data-"))
      .map((a) => `[${a.name}="${CSS.escape(a.value)}"]`)
      .join("");
  }
  node.innerHTML = html;
  if (selector) {
    const again = node.querySelector(selector);
    if (again) again.focus();
  }
}

/* ---------- the address ---------- */

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  const params = new URLSearchParams(query);
  const job = path.match(/^\/jobs\/([0-9a-fA-F-]{36})$/);
  return {
    job: job ? job[1].toLowerCase() : null,
    filters: { status: params.get("status") || "", type: params.get("type") || "", q: params.get("q") || "" },
  };
}

function filterQuery(filters = state.filters) {
  const params = new URLSearchParams();
  for (const key of ["status", "type", "q"]) if (filters[key]) params.set(key, filters[key]);
  const text = params.toString();
  return text ? `?${text}` : "";
}

function hashFor({ job = state.view && state.view.id, filters = state.filters } = {}) {
  return `#/${job ? `jobs/${job}` : ""}${filterQuery(filters)}`;
}

function go(target) {
  const hash = hashFor(target);
  if (location.hash !== hash) location.hash = hash;
}

async function route() {
  const { job, filters } = parseHash();
  const changed = ["status", "type", "q"].some((k) => filters[k] !== state.filters[k]);
  state.filters = filters;
  $("filter-status").value = filters.status;
  if (filters.type && ![...$("filter-type").options].some((o) => o.value === filters.type)) {
    $("filter-type").insertAdjacentHTML("beforeend", `<option>${escapeText(filters.type)}</option>`);
  }
  $("filter-type").value = filters.type;
  if (document.activeElement !== $("search")) $("search").value = filters.q;
  renderTabs();
  if (changed || !state.order.length) loadList();
  if (job !== (state.view && state.view.id)) {
    if (job) openJob(job);
    else closeJob();
  }
}

/* ---------- overview ---------- */

/** Jobs finished per minute over the last hour, oldest first, as the server counts them. */
function perMinute(type) {
  return Array.isArray(type.finished_per_minute) ? type.finished_per_minute : new Array(60).fill(0);
}

function totals() {
  const sum = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  for (const type of state.types) for (const s of STATUSES) sum[s] += (type.counts && type.counts[s]) || 0;
  return sum;
}

function renderTabs() {
  const sum = totals();
  const all = STATUSES.reduce((n, s) => n + sum[s], 0);
  const tab = (status, label, count) => {
    const current = state.filters.status === status;
    return `<a href="${hashFor({ job: null, filters: { ...state.filters, status } })}" class="tab tab-${status || "all"}"
      data-status="${status}" ${current ? 'aria-current="page"' : ""}>${label} <span class="count">${count.toLocaleString()}</span></a>`;
  };
  setHtml($("status-tabs"), tab("", "All", all) + STATUSES.map((s) => tab(s, s, sum[s])).join(""));
}

function renderTypes() {
  const admin = may("admin");
  const html = state.types
    .map((t) => {
      const spark = perMinute(t);
      const wait = t.oldest_queued_age_ms == null ? "—" : span(t.oldest_queued_age_ms);
      const stateCell = t.paused
        ? `<span class="badge paused">paused</span>${admin ? ` <button type="button" data-type-action="resume" data-type="${escapeText(t.name)}">Resume</button>` : ""}`
        : `<span class="badge">active</span>${admin ? ` <button type="button" data-type-action="pause" data-type="${escapeText(t.name)}">Pause</button>` : ""}`;
      return `<tr data-type-row="${escapeText(t.name)}">
        <th scope="row"><a href="${hashFor({ job: null, filters: { ...state.filters, type: t.name } })}">${escapeText(t.name)}</a></th>
        <td data-col="queued">${t.counts.queued.toLocaleString()}</td>
        <td data-col="running">${t.counts.running.toLocaleString()}</td>
        <td data-col="failed" title="${(t.counts.failed || 0).toLocaleString()} failed in all">${(t.failed_last_hour ?? 0).toLocaleString()}</td>
        <td data-col="wait">${wait}</td>
        <td data-col="spark" title="${t.finished_last_hour} in the last hour, ${t.finished_last_minute} in the last minute">${sparkline(spark, `${t.name}: ${t.finished_last_hour} finished in the last hour`)} <span class="meta">${t.finished_last_minute}/min</span></td>
        <td data-col="state">${stateCell}</td></tr>`;
    })
    .join("");
  setHtml($("types"), html);
}

async function loadTypes() {
  const first = !state.types.length;
  state.types = await api("/api/types");
  renderTabs();
  renderTypes();
  if (first) {
    performance.mark("jobcast-counts");
    $("filter-type").innerHTML =
      `<option value="">all</option>` + state.types.map((t) => `<option>${escapeText(t.name)}</option>`).join("");
    $("filter-type").value = state.filters.type;
    $("job-type").innerHTML = state.types
      .filter((t) => t.kind !== "external")
      .map((t) => `<option value="${escapeText(t.name)}">${escapeText(t.name)}</option>`)
      .join("");
    onTypeChange();
  }
}

let typesTimer = null;
/** The counts again soon (at most every 2 s however many events arrive). */
function refreshTypesSoon() {
  if (typesTimer) return;
  typesTimer = setTimeout(() => {
    typesTimer = null;
    loadTypes().catch(() => {});
  }, 2000);
}

async function loadSchedules() {
  const { schedules } = await api("/api/schedules");
  $("schedules-box").hidden = schedules.length === 0;
  const admin = may("admin");
  const html = schedules
    .map((s) => {
      const last = s.last_run_at
        ? `${age(s.last_run_at)} ago${s.last_job_id ? ` · <a href="#/jobs/${escapeText(s.last_job_id)}" data-last-job>job</a>` : ""}`
        : "never";
      const next = s.paused ? `<span class="badge paused">paused</span>` : s.next_run_at ? `in ${span(Date.parse(s.next_run_at) - Date.now())}` : "—";
      const actions = admin
        ? `<button type="button" data-schedule-action="${s.paused ? "resume" : "pause"}" data-schedule="${escapeText(s.name)}">${s.paused ? "Resume" : "Pause"}</button>
           <button type="button" data-schedule-action="trigger" data-schedule="${escapeText(s.name)}">Trigger</button>`
        : "";
      return `<tr data-schedule-row="${escapeText(s.name)}"><th scope="row" title="${escapeText(`${s.cron} (${s.timezone}) → ${s.type}`)}">${escapeText(s.name)}<div class="meta mono">${escapeText(s.cron)}</div></th>
        <td data-col="next">${next}</td><td data-col="last">${last}</td><td data-col="runs">${s.run_count}</td><td>${actions}</td></tr>`;
    })
    .join("");
  setHtml($("schedules"), html);
}

/* ---------- the jobs list ---------- */

function matches(job) {
  const { status, type } = state.filters;
  return (!status || job.status === status) && (!type || job.type === type);
}

function row(job) {
  const picked = state.picked.has(job.id);
  const open = state.view && state.view.id === job.id;
  return `<tr data-id="${job.id}" class="${open ? "selected" : ""}${picked ? " picked" : ""}" tabindex="0"${open ? ' aria-current="true"' : ""}>
    ${may("admin") ? `<td class="pick"><input type="checkbox" data-pick="${job.id}" aria-label="Select ${escapeText(job.type)} job ${job.id}" ${picked ? "checked" : ""}></td>` : ""}
    <td><a href="#/jobs/${job.id}${filterQuery()}" tabindex="-1">${escapeText(job.type)}</a></td>
    <td class="status status-${job.status}">${job.status}</td>
    <td class="progress-cell">${bar(job.progress, `${job.type} progress`)} ${Math.round(job.progress || 0)}%</td>
    <td class="message-cell">${escapeText(job.error || job.message || "")}</td>
    <td>${age(job.created_at)}</td>
  </tr>`;
}

function renderList() {
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("tr[data-id]");
  const focusId = focused && focused.dataset.id;
  const rows = state.order.map((id) => state.jobs.get(id)).filter(Boolean);
  $("jobs").innerHTML = rows.map(row).join("");
  $("empty").hidden = rows.length > 0;
  $("load-more").hidden = !state.cursor;
  $("shown").textContent = rows.length ? `${rows.length.toLocaleString()} shown` : "";
  if (focusId) {
    const again = $("jobs").querySelector(`tr[data-id="${focusId}"]`);
    if (again) again.focus();
  }
  renderBulk();
}

async function loadList(more = false) {
  const ticket = ++state.listToken;
  const params = new URLSearchParams({ limit: String(PAGE) });
  for (const key of ["status", "type", "q"]) if (state.filters[key]) params.set(key, state.filters[key]);
  if (more && state.cursor) params.set("cursor", state.cursor);
  $("load-more").disabled = true;
  try {
    const page = await api(`/api/jobs?${params}`);
    if (ticket !== state.listToken) return; // a newer filter won
    if (!more) {
      state.jobs.clear();
      state.order = [];
      state.picked.clear();
    }
    for (const job of page.jobs) {
      if (!state.jobs.has(job.id)) state.order.push(job.id);
      state.jobs.set(job.id, job);
    }
    state.cursor = page.next_cursor;
    renderList();
  } catch (error) {
    notify(`Could not list jobs: ${error.message}`);
  } finally {
    $("load-more").disabled = false;
  }
}

function renderBulk() {
  const n = state.picked.size;
  $("bulk").hidden = !may("admin") || n === 0;
  $("bulk-count").textContent = `${n} selected`;
  const all = $("select-all");
  const shown = state.order.length;
  all.checked = shown > 0 && n >= shown && state.order.every((id) => state.picked.has(id));
  all.indeterminate = n > 0 && !all.checked;
}

async function bulk(action) {
  const ids = [...state.picked];
  if (!ids.length) return;
  const verb = action === "cancel" ? "cancelled" : "retried";
  try {
    const dry = await api(`/api/jobs/${action}`, { method: "POST", json: { ids, dry_run: true } });
    if (dry.affected === 0) {
      notify(`None of the ${ids.length} selected jobs can be ${verb}.`);
      return;
    }
    const sure = await confirmOnce(
      `${dry.affected} of the ${ids.length} selected jobs will be ${verb}.`,
      `${action === "cancel" ? "Cancel" : "Retry"} ${dry.affected} jobs`,
    );
    if (!sure) return;
    const done = await api(`/api/jobs/${action}`, { method: "POST", json: { ids } });
    notify(`${done.affected} jobs ${verb}.`);
    state.picked.clear();
    renderList();
    refreshTypesSoon();
  } catch (error) {
    notify(error.message);
  }
}

/* ---------- the job view ---------- */

async function openJob(id) {
  closeJob(false);
  const view = $("job-view");
  state.view = { id, handle: null };
  view.hidden = false;
  view.innerHTML = `<p class="meta">Loading ${escapeText(id)}…</p>`;
  document.body.classList.add("with-view");
  renderList();
  try {
    const handle = await showJob(id, view, {
      role: state.role,
      onChange: () => refreshTypesSoon(),
    });
    if (!state.view || state.view.id !== id) {
      handle.close();
      return;
    }
    state.view.handle = handle;
    view.querySelector('[data-action="close"]').addEventListener("click", () => go({ job: null }));
    // One column on a narrow screen: the view is below the list, so bring it into sight.
    if (matchMedia("(max-width: 900px)").matches) view.scrollIntoView({ block: "start" });
    if (openJob.byKeyboard) view.querySelector("#job-title").focus();
  } catch (error) {
    view.innerHTML = `<p class="error">${escapeText(error.status === 404 ? `No job ${id}.` : error.message)}</p>
      <button type="button" data-action="close">Close</button>`;
    view.querySelector('[data-action="close"]').addEventListener("click", () => go({ job: null }));
  }
  openJob.byKeyboard = false;
}

function closeJob(rerender = true) {
  if (state.view && state.view.handle) state.view.handle.close();
  const was = state.view && state.view.id;
  state.view = null;
  $("job-view").hidden = true;
  $("job-view").innerHTML = "";
  document.body.classList.remove("with-view");
  if (rerender) {
    renderList();
    const back = was && $("jobs").querySelector(`tr[data-id="${was}"]`);
    if (back) back.focus();
  }
}

/* ---------- live: one /api/events stream ---------- */

/**
 * Follows every job's changes on one /api/events stream for as long as the page is open.
 * EventSource reconnects by itself after the stream's cap, with Last-Event-ID. It gives up
 * (readyState CLOSED) when a reconnect is refused: with tokens on, once the signed URL has
 * expired. Then the page asks for a fresh URL and resumes from the last event it saw.
 */
async function followEvents() {
  const connection = $("connection");
  let lastId = null;
  let wait = 1000;
  const reconnecting = () => {
    connection.textContent = "reconnecting…";
    connection.className = "connection reconnecting";
  };
  const resume = (url, id) => `${url}${url.includes("?") ? "&" : "?"}last_event_id=${id}`;
  const open = async () => {
    let url;
    try {
      // Signed when the server needs tokens: EventSource cannot send an Authorization header.
      ({ url } = await api("/api/events/token"));
    } catch {
      reconnecting();
      setTimeout(open, wait);
      wait = Math.min(wait * 2, 30000);
      return;
    }
    const events = new EventSource(lastId === null ? url : resume(url, lastId));
    events.addEventListener("open", () => {
      wait = 1000;
      connection.textContent = "live";
      connection.className = "connection live";
    });
    events.addEventListener("error", () => {
      reconnecting();
      if (events.readyState === EventSource.CLOSED) {
        events.close();
        setTimeout(open, wait);
        wait = Math.min(wait * 2, 30000);
      }
    });
    events.addEventListener("ready", (event) => {
      if (event.lastEventId) lastId = event.lastEventId;
    });
    for (const name of ["progress", "completed", "failed"]) {
      events.addEventListener(name, (event) => {
        if (event.lastEventId) lastId = event.lastEventId;
        onJobEvent(JSON.parse(event.data));
      });
    }
    events.addEventListener("child", (event) => {
      if (event.lastEventId) lastId = event.lastEventId;
      const data = JSON.parse(event.data);
      if (state.view && state.view.handle && data.job_id === state.view.id) state.view.handle.child(data);
    });
  };
  await open();
}

function onJobEvent(data) {
  const known = state.jobs.get(data.job_id);
  if (known) {
    const job = { ...known, ...data, id: data.job_id };
    for (const field of ["result", "error", "details", "message"]) if (!(field in data)) delete job[field];
    state.jobs.set(job.id, job);
  } else if (!state.filters.q && matches(data)) {
    // A job this list has not seen: a new one when it is newer than every row shown.
    const newest = state.order[0];
    if (!newest || data.job_id > newest) {
      state.jobs.set(data.job_id, { ...data, id: data.job_id, created_at: data.updated_at });
      state.order.unshift(data.job_id);
    }
  }
  if (state.view && state.view.handle) state.view.handle.update(data);
  scheduleRender();
  if (FINISHED.includes(data.status) || data.status === "queued") refreshTypesSoon();
}

let renderPending = false;
/** Many events in one frame redraw the list once. */
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    renderList();
  });
}

/* ---------- the new-job modal ---------- */

function onTypeChange() {
  const type = state.types.find((t) => t.name === $("job-type").value);
  $("file-field").hidden = !(type && type.file_input);
  $("job-payload").value = type && type.name === "demo" ? '{"steps": 20, "step_ms": 250}' : "{}";
}

/** Uploads `file` with XMLHttpRequest, for its upload progress events. */
function upload(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/uploads");
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    if (token()) xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.round((100 * event.loaded) / event.total);
      $("upload-bar").value = percent;
      $("upload-bar").setAttribute("aria-valuenow", String(percent));
    };
    xhr.onload = () => {
      const body = JSON.parse(xhr.responseText || "null");
      if (xhr.status === 201) resolve(body);
      else reject(new Error((body && body.message) || `upload failed: HTTP ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error("upload failed: the server could not be reached"));
    xhr.send(file);
  });
}

function openDialog() {
  $("new-job-form").hidden = false;
  $("dialog-progress").hidden = true;
  $("form-error").hidden = true;
  $("upload").hidden = true;
  $("new-job-dialog").showModal();
}

async function submitJob(event) {
  event.preventDefault();
  const error = $("form-error");
  error.hidden = true;
  let payload;
  try {
    payload = JSON.parse($("job-payload").value || "{}");
  } catch (e) {
    error.textContent = `The payload is not valid JSON: ${e.message}`;
    error.hidden = false;
    return;
  }
  const type = $("job-type").value;
  try {
    const file = $("job-file").files[0];
    if (!$("file-field").hidden && file) {
      $("upload").hidden = false;
      const uploaded = await upload(file);
      payload = { ...payload, upload_id: uploaded.upload_id };
    }
    const job = await createJob(type, payload, { base: "", token: token() || undefined });
    if (!state.jobs.has(job.id) && matches(job) && !state.filters.q) state.order.unshift(job.id);
    state.jobs.set(job.id, job);
    renderList();
    // The modal becomes the job's live progress view until it ends.
    $("new-job-form").hidden = true;
    const progress = $("dialog-progress");
    progress.hidden = false;
    const handle = await showJob(job.id, progress, { role: state.role, compact: true });
    dialogStream = handle;
    const close = document.createElement("button");
    close.textContent = "Close";
    close.type = "button";
    close.onclick = () => $("new-job-dialog").close();
    const open = document.createElement("button");
    open.textContent = "Open job";
    open.type = "button";
    open.onclick = () => {
      $("new-job-dialog").close();
      go({ job: job.id });
    };
    let actions = progress.querySelector(".actions");
    if (!actions) {
      actions = document.createElement("div");
      actions.className = "actions";
      progress.appendChild(actions);
    }
    actions.append(open, close);
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  }
}

/**
 * Whether this server searches jobs (`q` on GET /api/jobs), from its OpenAPI document: a server
 * without it ignores the parameter, so the search box is hidden rather than silently ignored.
 */
async function checkSearch() {
  let supported = true;
  try {
    const doc = await (await fetch("/openapi.json")).json();
    const params = doc.paths["/api/jobs"].get.parameters || [];
    supported = params.some((p) => {
      const param = p.$ref ? doc.components.parameters[p.$ref.split("/").pop()] : p;
      return param && param.name === "q";
    });
  } catch {
    /* no document: leave the box */
  }
  $("search-field").hidden = !supported;
  if (!supported && state.filters.q) go({ filters: { ...state.filters, q: "" } });
}

/* ---------- look and feel ---------- */

function applyTheme() {
  const chosen = document.documentElement.dataset.theme;
  const dark = chosen ? chosen === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  $("theme").setAttribute("aria-pressed", String(dark));
  $("theme").textContent = dark ? "☀ Light" : "☾ Dark";
  $("theme").setAttribute("aria-label", dark ? "Switch to the light theme" : "Switch to the dark theme");
}

function toggleTheme() {
  const dark = $("theme").getAttribute("aria-pressed") === "true";
  const next = dark ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  try {
    localStorage.setItem("jobcast-theme", next);
  } catch {
    /* private mode: for this page only */
  }
  applyTheme();
}

function applyRole() {
  $("role").textContent = state.role === "admin" ? "" : `${state.role} only`;
  for (const node of document.querySelectorAll("[data-needs]")) node.hidden = !may(node.dataset.needs);
  $("bulk").hidden = !may("admin") || state.picked.size === 0;
}

/* ---------- wiring ---------- */

function rowNeighbour(rowNode, step) {
  let next = step > 0 ? rowNode.nextElementSibling : rowNode.previousElementSibling;
  while (next && !next.matches("tr[data-id]")) next = step > 0 ? next.nextElementSibling : next.previousElementSibling;
  return next;
}

$("jobs").addEventListener("click", (event) => {
  const pick = event.target.closest("input[data-pick]");
  if (pick) {
    if (pick.checked) state.picked.add(pick.dataset.pick);
    else state.picked.delete(pick.dataset.pick);
    pick.closest("tr").classList.toggle("picked", pick.checked);
    renderBulk();
    return;
  }
  const rowNode = event.target.closest("tr[data-id]");
  if (!rowNode) return;
  event.preventDefault();
  go({ job: rowNode.dataset.id });
});
$("jobs").addEventListener("keydown", (event) => {
  const rowNode = event.target.closest("tr[data-id]");
  if (!rowNode || event.target.matches("input")) return;
  if (event.key === "Enter") {
    openJob.byKeyboard = true;
    go({ job: rowNode.dataset.id });
  } else if (event.key === "ArrowDown" || event.key === "j") {
    const next = rowNeighbour(rowNode, 1);
    if (next) next.focus();
    event.preventDefault();
  } else if (event.key === "ArrowUp" || event.key === "k") {
    const prev = rowNeighbour(rowNode, -1);
    if (prev) prev.focus();
    event.preventDefault();
  } else if (event.key === " " && may("admin")) {
    const box = rowNode.querySelector("input[data-pick]");
    box.click();
    event.preventDefault();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.target.matches("input, textarea, select") || document.querySelector("dialog[open]")) {
    if (event.key === "Escape" && event.target === $("search")) $("search").blur();
    return;
  }
  if (event.key === "/") {
    event.preventDefault();
    $("search").focus();
  } else if (event.key === "Escape" && state.view) {
    go({ job: null });
  }
});
$("select-all").addEventListener("change", (event) => {
  if (event.target.checked) for (const id of state.order) state.picked.add(id);
  else state.picked.clear();
  renderList();
});
$("bulk-cancel").addEventListener("click", () => bulk("cancel"));
$("bulk-retry").addEventListener("click", () => bulk("retry"));
$("bulk-clear").addEventListener("click", () => {
  state.picked.clear();
  renderList();
});
$("load-more").addEventListener("click", () => loadList(true));
/** The filters as the controls show them (several may change before the address does). */
const controls = () => ({
  status: $("filter-status").value,
  type: $("filter-type").value,
  q: $("search").value.trim(),
});
$("filter-status").addEventListener("change", () => go({ filters: controls() }));
$("filter-type").addEventListener("change", () => go({ filters: controls() }));
let searchTimer = null;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => go({ filters: controls() }), 250);
});
$("types").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-type-action]");
  if (!button) return;
  button.disabled = true;
  try {
    await api(`/api/types/${encodeURIComponent(button.dataset.type)}/${button.dataset.typeAction}`, { method: "POST" });
    await loadTypes();
  } catch (error) {
    notify(error.message);
    button.disabled = false;
  }
});
$("schedules").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-schedule-action]");
  if (!button) return;
  const { schedule, scheduleAction } = button.dataset;
  button.disabled = true;
  try {
    const answer = await api(`/api/schedules/${encodeURIComponent(schedule)}/${scheduleAction}`, { method: "POST" });
    if (scheduleAction === "trigger" && answer && answer.job) notify(`${schedule}: made job ${answer.job.id}`);
    await loadSchedules();
  } catch (error) {
    notify(error.message);
    button.disabled = false;
  }
});
$("theme").addEventListener("click", toggleTheme);
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
$("new-job").addEventListener("click", openDialog);
$("dialog-cancel").addEventListener("click", () => $("new-job-dialog").close());
$("job-type").addEventListener("change", onTypeChange);
$("new-job-form").addEventListener("submit", submitJob);
$("new-job-dialog").addEventListener("close", () => {
  if (dialogStream) dialogStream.close();
  dialogStream = null;
  $("dialog-progress").innerHTML = "";
});
window.addEventListener("hashchange", route);

applyTheme();
applyRole();
// Types first: it is the call that asks for a token when one is needed, and it holds the
// counts, so the overview paints from one cheap call however many jobs are stored.
loadTypes()
  .catch((e) => console.error(e))
  .then(async () => {
    state.role = await detectRole();
    applyRole();
    renderTypes();
    route();
    followEvents();
    loadSchedules().catch(() => {});
    checkSearch();
  })
  .catch((e) => console.error(e));
setInterval(() => {
  loadTypes().catch(() => {});
  loadSchedules().catch(() => {});
}, 10000);
setInterval(() => scheduleRender(), 10000); // keep the ages fresh
