// jobcast.js: a small, dependency-free browser client for jobcast (served at /jobcast.js).
//
//   import { createJob, streamJob } from "http://localhost:8080/jobcast.js";
//   const job = await createJob("demo", { steps: 20 });
//   const stream = streamJob(job, { onProgress, onLog, onCompleted, onFailed });
//   stream.close(); // when the component goes away
//
// streamJob follows one job's event stream (give it the job, or its `stream_url`, which is
// signed when the server needs tokens): it closes itself after the terminal event (so
// EventSource does not reconnect), survives reconnects without repeating log lines (the
// server resumes after Last-Event-ID; lines are also de-duplicated by seq), and keeps the
// latest state in `stream.state`.

const moduleOrigin = (() => {
  try {
    return new URL(import.meta.url).origin;
  } catch {
    return "";
  }
})();

/** The server's base URL: the origin this module was loaded from, unless given. */
function baseUrl(options) {
  return (options && options.base) || moduleOrigin;
}

/** Creates a job; resolves to the job, rejects with an Error carrying `status` and `body`. */
export async function createJob(type, payload, options = {}) {
  const body = { type, payload };
  for (const key of ["priority", "max_attempts", "timeout", "run_at", "idempotency_key"]) {
    if (options[key] !== undefined) body[key] = options[key];
  }
  const headers = { "Content-Type": "application/json" };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  const response = await fetch(`${baseUrl(options)}/api/jobs`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((answer && answer.message) || `HTTP ${response.status}`);
    error.status = response.status;
    error.body = answer;
    throw error;
  }
  return answer;
}

function streamUrl(jobOrUrl, options) {
  // A job as the API returns it: its stream_url works with tokens on and off.
  const idOrUrl = typeof jobOrUrl === "object" && jobOrUrl ? jobOrUrl.stream_url : jobOrUrl;
  if (/^https?:\/\//.test(idOrUrl)) return idOrUrl;
  if (idOrUrl.startsWith("/")) return `${baseUrl(options)}${idOrUrl}`;
  // A bare id opens only when the server runs without tokens.
  return `${baseUrl(options)}/api/jobs/${encodeURIComponent(idOrUrl)}/stream`;
}

/**
 * Follows a job's progress: `jobOrUrl` is the job from createJob (or any job from the API),
 * its `stream_url`, or (without tokens only) its id. `handlers`: onOpen(), onProgress(state), onLog(line),
 * onCompleted(result, state), onFailed(error, details, state), onError(event).
 * Returns { close(), state, closed }.
 */
export function streamJob(jobOrUrl, handlers = {}, options = {}) {
  const seenLogs = new Set();
  const state = {
    status: null,
    progress: 0,
    message: null,
    current: null,
    total: null,
    stage: null,
    result: null,
    error: null,
    details: null,
    logs: [],
  };
  const source = new EventSource(streamUrl(jobOrUrl, options));
  let closed = false;
  const call = (name, ...args) => {
    const handler = handlers[name];
    if (typeof handler === "function") {
      try {
        handler(...args);
      } catch (error) {
        console.error(`jobcast: ${name} threw`, error);
      }
    }
  };
  const close = () => {
    if (!closed) {
      closed = true;
      source.close();
    }
  };
  const parse = (event) => {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  };
  source.addEventListener("open", () => call("onOpen"));
  source.addEventListener("progress", (event) => {
    const data = parse(event);
    if (!data) return;
    Object.assign(state, data);
    call("onProgress", { ...state });
  });
  source.addEventListener("log", (event) => {
    const line = parse(event);
    if (!line || seenLogs.has(line.seq)) return;
    seenLogs.add(line.seq);
    state.logs.push(line);
    call("onLog", line);
  });
  source.addEventListener("completed", (event) => {
    const data = parse(event) || {};
    Object.assign(state, data);
    close();
    call("onCompleted", data.result, { ...state });
  });
  source.addEventListener("failed", (event) => {
    const data = parse(event) || {};
    Object.assign(state, data);
    close();
    call("onFailed", data.error, data.details, { ...state });
  });
  source.addEventListener("error", (event) => {
    if (closed) return;
    // CLOSED means EventSource gave up (404, 204, a network it cannot reach): so do we.
    if (source.readyState === EventSource.CLOSED) closed = true;
    call("onError", event);
  });
  return {
    close,
    state,
    get closed() {
      return closed;
    },
  };
}
