// The job view: state and progress (live through the job's own stream, via jobcast.js),
// payload and result, error and details, every attempt, timestamps, the lease holder, the
// parent and its children, and the log with a level filter, search, follow mode and download.
import { streamJob } from "/jobcast.js";
import { FINISHED, api, bar, clock, confirmOnce, escapeText, jsonBlock, notify, span, when } from "/dashboard-lib.js";

/** A stream URL that resumes after `version` (the URL may already carry a signed token). */
export function resumeUrl(url, version) {
  return `${url}${url.includes("?") ? "&" : "?"}last_event_id=${version}`;
}

const LEVELS = ["debug", "info", "success", "warning", "error"];

/**
 * Renders job `id` into `container`; returns `{ close, child(event) }`. `role` decides which
 * actions show; `onChange` is told after an action changed the job.
 */
export async function showJob(id, container, { role = "admin", compact = false, onChange = () => {} } = {}) {
  const job = await api(`/api/jobs/${id}`);
  const backlog = await api(`/api/jobs/${id}/logs`);
  const canAct = role === "admin" || role === "submit";
  container.innerHTML = `
    <div class="panel-head">
      <h2 id="job-title" tabindex="-1">${escapeText(job.type)} <span class="meta mono">${escapeText(id)}</span></h2>
      ${compact ? "" : `<button type="button" class="icon" data-action="close" aria-label="Close the job view" title="Close (Esc)">✕</button>`}
    </div>
    <p><span class="status" data-field="status"></span> <span class="meta" data-field="paused"></span></p>
    <label>Progress <span data-field="percent"></span>
      <progress data-field="bar" max="100" value="0" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"></progress>
    </label>
    <p class="meta" data-field="counts"></p>
    <p data-field="message"></p>
    <div data-field="outcome"></div>
    ${canAct ? `<div class="actions">
      <button type="button" data-action="cancel">Cancel</button>
      <button type="button" data-action="retry">Retry</button>
    </div>` : ""}
    ${compact ? "" : `
    <dl class="facts" data-field="facts"></dl>
    <div class="attempts" data-field="attempts" hidden></div>
    <div data-field="family"></div>
    ${jsonBlock("Payload", job.payload, false).replace("<details", '<details data-field="payload"')}`}
    <div class="log-tools" ${compact ? "hidden" : ""}>
      <label>Level <select data-field="level">
        <option value="">all</option>${LEVELS.map((l) => `<option>${l}</option>`).join("")}
      </select></label>
      <label>Search <input type="search" data-field="log-search" placeholder="text in the log"></label>
      <label class="inline"><input type="checkbox" data-field="follow" checked> Follow</label>
      <button type="button" data-action="download">Download</button>
    </div>
    <div class="logs" data-field="logs" role="log" aria-live="polite" aria-label="log lines" tabindex="0"></div>`;
  const field = (name) => container.querySelector(`[data-field="${name}"]`);
  const action = (name) => container.querySelector(`[data-action="${name}"]`);
  const lines = [];
  const seen = new Set();
  let state = job;

  const visible = (line) => {
    const level = field("level").value;
    const text = field("log-search").value.trim().toLowerCase();
    return (!level || line.level === level) && (!text || line.message.toLowerCase().includes(text));
  };
  const lineText = (line) =>
    `${line.ts.slice(11, 19)} ${line.level}${line.child_id ? ` [${line.child_id.slice(-6)}]` : ""}: ${line.message}`;
  const lineNode = (line) => {
    const div = document.createElement("div");
    div.className = `log-${line.level}`;
    div.textContent = lineText(line);
    return div;
  };
  const logs = field("logs");
  const follow = () => {
    if (field("follow").checked) logs.scrollTop = logs.scrollHeight;
  };
  const addLine = (line) => {
    // A child's lines on its parent's stream carry the child's id and its own numbering.
    const key = `${line.child_id || ""}:${line.seq}`;
    if (seen.has(key)) return;
    seen.add(key);
    lines.push(line);
    if (visible(line)) logs.appendChild(lineNode(line));
    follow();
  };
  const redrawLog = () => {
    logs.replaceChildren(...lines.filter(visible).map(lineNode));
    follow();
  };
  field("level").addEventListener("change", redrawLog);
  field("log-search").addEventListener("input", redrawLog);
  field("follow").addEventListener("change", follow);
  // Scrolling up stops following; scrolling to the bottom starts again.
  logs.addEventListener("scroll", () => {
    field("follow").checked = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
  });
  action("download").addEventListener("click", () => {
    const text = lines.map((l) => `${l.ts} ${l.level}${l.child_id ? ` [child ${l.child_id}]` : ""}: ${l.message}`).join("\n") + "\n";
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    link.download = `job-${id}.log`;
    link.dataset.field = "download-link";
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.lastDownload = text; // the browser tests read what was offered
  });

  const facts = () => {
    const rows = [
      ["Status", state.status],
      ["Attempt", `${state.attempt ?? 0} of ${state.max_attempts ?? "?"}`],
      ["Priority", state.priority ?? job.priority],
      ["Run at", when(state.run_at || job.run_at)],
      ["Created", when(job.created_at)],
      ["Started", when(state.started_at || job.started_at)],
      ["Finished", when(state.finished_at || job.finished_at)],
      ["Updated", when(state.updated_at)],
    ];
    const worker = state.worker || job.worker;
    if (state.status === "running" && worker) rows.push(["Lease holder", escapeText(worker)]);
    if (job.timeout) rows.push(["Timeout", escapeText(job.timeout)]);
    if (job.idempotency_key) rows.push(["Idempotency key", `<span class="mono">${escapeText(job.idempotency_key)}</span>`]);
    if (job.schedule) rows.push(["Schedule", escapeText(job.schedule)]);
    // A parent's children by status (the family counts a parent's JSON and stream carry).
    const family = state.family || job.family;
    if (family) {
      const parts = ["queued", "running", "completed", "failed", "cancelled"]
        .filter((k) => family[k])
        .map((k) => `${family[k]} ${k}`);
      rows.push(["Children", escapeText(parts.join(", ") || "none")]);
    }
    return rows.map(([k, v]) => `<dt>${k}</dt><dd data-fact="${k.toLowerCase().replace(/ /g, "-")}">${typeof v === "string" && v.startsWith("<") ? v : escapeText(v)}</dd>`).join("");
  };

  const render = (next) => {
    state = { ...state, ...next };
    const status = state.status;
    const percent = Math.round(state.progress || 0);
    field("status").textContent = status;
    field("status").className = `status status-${status}`;
    field("paused").textContent = state.paused ? "(type paused)" : "";
    field("percent").textContent = `${percent}%`;
    field("bar").value = percent;
    field("bar").setAttribute("aria-valuenow", String(percent));
    const counts = [state.current != null && state.total != null ? `${state.current}/${state.total}` : "", state.stage || ""];
    field("counts").textContent = counts.filter(Boolean).join(" · ");
    field("message").textContent = state.message || "";
    if (canAct) {
      action("cancel").hidden = FINISHED.includes(status);
      action("retry").hidden = !(status === "failed" || status === "cancelled");
    }
    if (status === "completed") {
      field("outcome").innerHTML = jsonBlock("Result", state.result);
    } else if (status === "failed" || status === "cancelled") {
      field("outcome").innerHTML =
        `<p class="error" data-field="error">${escapeText(state.error || status)}</p>` +
        (state.details != null ? jsonBlock("Details", state.details) : "");
    } else {
      field("outcome").innerHTML = "";
    }
    if (!compact) field("facts").innerHTML = facts();
  };

  const loadAttempts = async () => {
    if (compact) return;
    const box = field("attempts");
    try {
      const { attempts } = await api(`/api/jobs/${id}/attempts`);
      if (!attempts.length) {
        box.hidden = true;
        return;
      }
      box.innerHTML = `<h3 id="attempts-title">Attempts</h3><div class="scroll" tabindex="0" role="region" aria-labelledby="attempts-title"><table><thead><tr><th>#</th><th>Started</th><th>Finished</th><th>Duration</th><th>Outcome</th><th>Error</th></tr></thead><tbody>${attempts
        .map(
          (a) => `<tr data-attempt="${a.attempt}"><td>${a.attempt}</td><td>${clock(a.started_at)}</td><td>${clock(a.finished_at)}</td>
          <td>${a.duration_ms != null ? `${(a.duration_ms / 1000).toFixed(a.duration_ms < 10000 ? 2 : 0)} s` : ""}</td>
          <td class="status status-${escapeText(a.outcome)}">${escapeText(a.outcome || "running")}</td>
          <td class="error">${escapeText(a.error || "")}${a.worker ? `<span class="meta"> · ${escapeText(a.worker)}</span>` : ""}</td></tr>`,
        )
        .join("")}</tbody></table></div>`;
      box.hidden = false;
    } catch {
      box.hidden = true; // a server without attempt history: the table is left out
    }
  };

  const children = new Map();
  const renderFamily = () => {
    if (compact) return;
    const parts = [];
    if (job.parent_id) parts.push(`<p>Parent: <a href="#/jobs/${escapeText(job.parent_id)}" class="mono">${escapeText(job.parent_id)}</a></p>`);
    if (children.size) {
      parts.push(`<h3>Children (${children.size})</h3><ul class="children">${[...children.values()]
        .map(
          (c) => `<li data-child="${escapeText(c.id)}"><a href="#/jobs/${escapeText(c.id)}" class="mono">${escapeText(c.id.slice(-12))}</a>
            <span class="status status-${escapeText(c.status)}">${escapeText(c.status)}</span>
            ${bar(c.progress, `child ${c.id} progress`)}</li>`,
        )
        .join("")}</ul>`);
    }
    field("family").innerHTML = parts.join("");
  };
  const loadChildren = async () => {
    if (compact) return;
    try {
      const page = await api(`/api/jobs/${id}/children?limit=100`);
      for (const c of page.children || page.jobs || []) children.set(c.id, c);
    } catch {
      /* no children */
    }
    renderFamily();
  };

  for (const line of backlog.logs) addLine(line);
  render(job);
  renderFamily();
  loadAttempts();
  loadChildren();

  if (canAct) {
    action("cancel").onclick = async () => {
      if (!(await confirmOnce(`Cancel this ${job.type} job?`, "Cancel job"))) return;
      api(`/api/jobs/${id}/cancel`, { method: "POST" }).then(onChange, (e) => notify(e.message));
    };
    action("retry").onclick = async () => {
      try {
        await api(`/api/jobs/${id}/retry`, { method: "POST" });
        onChange();
      } catch (error) {
        notify(error.message);
      }
    };
  }

  let stream = null;
  const handle = {
    close: () => stream && stream.close(),
    /** A change of any job seen on /api/events: a child of this one moves its row. */
    update(data) {
      if (data.parent_id === id || children.has(data.job_id)) {
        const known = children.get(data.job_id) || { id: data.job_id };
        children.set(data.job_id, { ...known, ...data, id: data.job_id });
        renderFamily();
      }
    },
    child(data) {
      const childId = data.child_id;
      if (!childId) return;
      children.set(childId, { ...(children.get(childId) || { id: childId }), ...data, id: childId });
      renderFamily();
    },
    log: addLine,
  };
  if (!FINISHED.includes(job.status)) {
    // Resume right after the version just read, so no change between the two is missed.
    stream = streamJob(resumeUrl(job.stream_url, job.version), {
      onProgress: render,
      onLog: addLine,
      // A parent's stream is its family's: each child's change as a child event.
      onChild: (child) => handle.child(child),
      onCompleted: (_, s) => {
        render(s);
        loadAttempts();
      },
      onFailed: (_, __, s) => {
        render(s);
        loadAttempts();
      },
    });
  }
  return handle;
}

export { span };
