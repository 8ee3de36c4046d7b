// The jobcast dashboard: the jobs list (live through one /api/events stream), a job view
// (live through the job's own stream, via jobcast.js) and the "new job" modal, which uploads a
// file when the type takes one and then shows the job's progress until it ends.
import { createJob, streamJob } from "/jobcast.js";

const $ = (id) => document.getElementById(id);
const jobs = new Map(); // job id -> latest job data
let types = [];
let selected = null; // { id, stream }
let dialogStream = null; // the modal's live job view

function escapeText(text) {
  const div = document.createElement("div");
  div.textContent = text == null ? "" : String(text);
  return div.innerHTML;
}

function age(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

function bar(progress, label) {
  const value = Math.round(Number(progress) || 0);
  return `<progress max="100" value="${value}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${value}" aria-label="${escapeText(label)}">${value}%</progress>`;
}

// When the server needs a token, the dashboard asks once and keeps it in this tab only.
const TOKEN_KEY = "jobcast-token";
const token = () => sessionStorage.getItem(TOKEN_KEY);

async function api(path, options = {}, asked = false) {
  const headers = { ...(options.headers || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 && !asked) {
    const given = window.prompt("This jobcast server needs an API token:");
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given.trim());
      return api(path, options, true);
    }
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error((body && body.message) || `HTTP ${response.status}`);
  return body;
}

/** A stream URL that resumes after `version` (the URL may already carry a signed token). */
function resumeUrl(url, version) {
  return `${url}${url.includes("?") ? "&" : "?"}last_event_id=${version}`;
}

function matchesFilter(job) {
  const status = $("filter-status").value;
  const type = $("filter-type").value;
  return (!status || job.status === status) && (!type || job.type === type);
}

function renderList() {
  const rows = [...jobs.values()]
    .filter(matchesFilter)
    .sort((a, b) => (a.id < b.id ? 1 : -1))
    .slice(0, 200);
  $("jobs").innerHTML = rows
    .map(
      (job) => `<tr data-id="${job.id}" class="${selected && selected.id === job.id ? "selected" : ""}" tabindex="0">
        <td>${escapeText(job.type)}</td>
        <td class="status status-${job.status}">${job.status}</td>
        <td class="progress-cell">${bar(job.progress, `${job.type} progress`)} ${Math.round(job.progress || 0)}%</td>
        <td class="message-cell">${escapeText(job.error || job.message || "")}</td>
        <td>${job.created_at ? age(job.created_at) : ""}</td>
      </tr>`,
    )
    .join("");
  $("empty").hidden = rows.length > 0;
}

async function loadList() {
  const params = new URLSearchParams({ limit: "100" });
  const page = await api(`/api/jobs?${params}`);
  for (const job of page.jobs) jobs.set(job.id, job);
  renderList();
}

/**
 * Follows every job's changes on one /api/events stream for as long as the page is open.
 * EventSource reconnects by itself after the stream's cap, with Last-Event-ID. It gives up
 * (readyState CLOSED) when a reconnect is refused: with tokens on, once the signed URL has
 * expired. Then the page asks for a fresh URL and resumes from the last event it saw.
 */
async function followEvents() {
  const state = $("connection");
  let lastId = null;
  let wait = 1000;
  const reconnecting = () => {
    state.textContent = "reconnecting…";
    state.className = "connection reconnecting";
  };
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
    const events = new EventSource(lastId === null ? url : resumeUrl(url, lastId));
    events.addEventListener("open", () => {
      wait = 1000;
      state.textContent = "live";
      state.className = "connection live";
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
        const data = JSON.parse(event.data);
        const known = jobs.get(data.job_id) || { id: data.job_id, created_at: data.updated_at };
        const job = { ...known, ...data, id: data.job_id };
        for (const field of ["result", "error", "details"]) if (!(field in data)) delete job[field];
        jobs.set(job.id, job);
        renderList();
      });
    }
  };
  await open();
}

/** Renders a job's live view into `container`; returns the stream to close later. */
async function showJob(id, container) {
  const job = await api(`/api/jobs/${id}`);
  const backlog = await api(`/api/jobs/${id}/logs`);
  container.innerHTML = `
    <h2 id="job-title">${escapeText(job.type)} <span class="meta">${id}</span></h2>
    <p class="status" data-field="status"></p>
    <label>Progress <span data-field="percent"></span>
      <progress data-field="bar" max="100" value="0" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"></progress>
    </label>
    <p class="meta" data-field="counts"></p>
    <p data-field="message"></p>
    <div class="logs" data-field="logs" role="log" aria-live="polite" aria-label="log lines"></div>
    <div data-field="outcome"></div>
    <div class="actions">
      <button type="button" data-action="cancel">Cancel</button>
      <button type="button" data-action="retry">Retry</button>
    </div>`;
  const field = (name) => container.querySelector(`[data-field="${name}"]`);
  const seen = new Set();
  const addLine = (line) => {
    if (seen.has(line.seq)) return;
    seen.add(line.seq);
    const logs = field("logs");
    const follow = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    const div = document.createElement("div");
    div.className = `log-${line.level}`;
    div.textContent = `${line.ts.slice(11, 19)} ${line.level}: ${line.message}`;
    logs.appendChild(div);
    if (follow) logs.scrollTop = logs.scrollHeight;
  };
  const render = (state) => {
    const status = state.status || job.status;
    const percent = Math.round(state.progress || 0);
    field("status").textContent = status;
    field("status").className = `status status-${status}`;
    field("percent").textContent = `${percent}%`;
    field("bar").value = percent;
    field("bar").setAttribute("aria-valuenow", String(percent));
    const counts = [state.current != null && state.total != null ? `${state.current}/${state.total}` : "", state.stage || ""];
    field("counts").textContent = counts.filter(Boolean).join(" · ");
    field("message").textContent = state.message || "";
    const finished = ["completed", "failed", "cancelled"].includes(status);
    container.querySelector('[data-action="cancel"]').hidden = finished;
    container.querySelector('[data-action="retry"]').hidden = !(status === "failed" || status === "cancelled");
    if (status === "completed") {
      field("outcome").innerHTML = `<pre class="result">${escapeText(JSON.stringify(state.result, null, 2))}</pre>`;
    } else if (status === "failed" || status === "cancelled") {
      const details = state.details ? `\n${JSON.stringify(state.details, null, 2)}` : "";
      field("outcome").innerHTML = `<p class="error">${escapeText((state.error || status) + details)}</p>`;
    } else {
      field("outcome").innerHTML = "";
    }
  };
  for (const line of backlog.logs) addLine(line);
  render(job);
  container.querySelector('[data-action="cancel"]').onclick = () =>
    api(`/api/jobs/${id}/cancel`, { method: "POST" }).catch((e) => alert(e.message));
  container.querySelector('[data-action="retry"]').onclick = async () => {
    try {
      await api(`/api/jobs/${id}/retry`, { method: "POST" });
      if (selected && selected.id === id) select(id);
    } catch (error) {
      alert(error.message);
    }
  };
  const finished = ["completed", "failed", "cancelled"].includes(job.status);
  if (finished) return null;
  // Resume right after the version just read, so no change between the two is missed.
  return streamJob(resumeUrl(job.stream_url, job.version), {
    onProgress: render,
    onLog: addLine,
    onCompleted: (_, state) => render(state),
    onFailed: (_, __, state) => render(state),
  });
}

async function select(id) {
  if (selected && selected.stream) selected.stream.close();
  selected = { id, stream: null };
  const view = $("job-view");
  view.hidden = false;
  renderList();
  try {
    selected.stream = await showJob(id, view);
  } catch (error) {
    view.innerHTML = `<p class="error">${escapeText(error.message)}</p>`;
  }
}

async function loadTypes() {
  types = await api("/api/types");
  $("filter-type").innerHTML += types.map((t) => `<option>${escapeText(t.name)}</option>`).join("");
  $("job-type").innerHTML = types
    .filter((t) => t.kind !== "external")
    .map((t) => `<option value="${escapeText(t.name)}">${escapeText(t.name)}</option>`)
    .join("");
  onTypeChange();
}

function onTypeChange() {
  const type = types.find((t) => t.name === $("job-type").value);
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
    jobs.set(job.id, job);
    renderList();
    // The modal becomes the job's live progress view until it ends.
    $("new-job-form").hidden = true;
    const progress = $("dialog-progress");
    progress.hidden = false;
    dialogStream = await showJob(job.id, progress);
    const close = document.createElement("button");
    close.textContent = "Close";
    close.type = "button";
    close.onclick = () => $("new-job-dialog").close();
    progress.querySelector(".actions").appendChild(close);
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  }
}

$("jobs").addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-id]");
  if (row) select(row.dataset.id);
});
$("jobs").addEventListener("keydown", (event) => {
  const row = event.target.closest("tr[data-id]");
  if (row && event.key === "Enter") select(row.dataset.id);
});
$("filter-status").addEventListener("change", renderList);
$("filter-type").addEventListener("change", renderList);
$("new-job").addEventListener("click", openDialog);
$("dialog-cancel").addEventListener("click", () => $("new-job-dialog").close());
$("job-type").addEventListener("change", onTypeChange);
$("new-job-form").addEventListener("submit", submitJob);
$("new-job-dialog").addEventListener("close", () => {
  if (dialogStream) dialogStream.close();
  dialogStream = null;
  $("dialog-progress").innerHTML = "";
});

// Types first: it is the call that asks for a token when one is needed.
loadTypes()
  .catch((e) => console.error(e))
  .then(() => Promise.all([followEvents(), loadList()]))
  .catch((e) => console.error(e));
setInterval(renderList, 10000); // keep the ages fresh
