// jobcast.js: the jobcast client, served by jobcast itself at /jobcast.js (and its types at
// /jobcast.d.ts). Built from clients/typescript (the npm package `jobcast`) by
// `npm run build:assets`: do not edit here.
// jobcast: the client for jobcast's HTTP API and event streams, for browsers and Node 20+.
// No dependencies. The server serves this same module, built, at /jobcast.js.
//
//   import { Client } from "jobcast";            // or from "http://localhost:8080/jobcast.js"
//   const jobcast = new Client({ baseUrl: "http://localhost:8080", token });
//   const job = await jobcast.createJob("demo", { steps: 20 });
//   for await (const event of jobcast.jobEvents(job)) console.log(event.event, event.data);
//
// The types below come from the server's OpenAPI document (src/http/openapi.json), generated
// into openapi.ts by openapi-typescript at build time; the routes this client calls are
// checked against the document's paths by the compiler.
const jobEventNamesMatch = true;
const changeEventNamesMatch = true;
void jobEventNamesMatch;
void changeEventNamesMatch;
const FINISHED = ["completed", "failed", "cancelled"];
/** Whether a job with this status can still change (only a retry brings it back). */
export function isFinished(status) {
    return status != null && FINISHED.includes(status);
}
/**
 * An answer that was not a success, or a server that could not be reached. `status` is the
 * HTTP status (0 when no answer came), `error` the server's stable code (`not_found`,
 * `conflict`, ...; `network` or `aborted` for no answer) and `message` its text.
 */
export class JobcastError extends Error {
    name = "JobcastError";
    status;
    error;
    /** For `invalid_field`: the field at fault. */
    field;
    /** Seconds, from `Retry-After`, when the server sent one. */
    retryAfter;
    /** The answer's body as parsed (the `ErrorBody`), when there was one. */
    body;
    constructor(status, error, message, extra = {}) {
        super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
        this.status = status;
        this.error = error;
        this.field = extra.field;
        this.retryAfter = extra.retryAfter;
        this.body = extra.body;
    }
    /** Whether asking again later may help (the server was away, busy or shutting down). */
    get retryable() {
        return this.status === 0 || this.status === 429 || this.status >= 500;
    }
}
const moduleOrigin = (() => {
    try {
        const url = new URL(import.meta.url);
        return url.protocol === "http:" || url.protocol === "https:" ? url.origin : undefined;
    }
    catch {
        return undefined;
    }
})();
const MAX_BACKOFF_MS = 30_000;
function sleep(ms, signal) {
    return new Promise((resolve) => {
        if (signal?.aborted)
            return resolve();
        const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener("abort", done, { once: true });
    });
}
function retryAfterSeconds(response) {
    const value = Number(response.headers.get("retry-after"));
    return Number.isFinite(value) && value >= 0 && response.headers.has("retry-after") ? value : undefined;
}
async function errorFrom(response) {
    const text = await response.text().catch(() => "");
    let body = null;
    try {
        body = text ? JSON.parse(text) : null;
    }
    catch {
        body = text;
    }
    const parsed = body && typeof body === "object" ? body : {};
    return new JobcastError(response.status, parsed.error ?? "unexpected", parsed.message ?? `HTTP ${response.status}`, { field: parsed.field, retryAfter: retryAfterSeconds(response), body });
}
function networkError(cause, signal) {
    if (signal?.aborted)
        return new JobcastError(0, "aborted", "aborted", { cause });
    const reason = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause);
    return new JobcastError(0, "network", `the server could not be reached (${reason})`, { cause });
}
/** The id in a job's stream URL (`/api/jobs/{id}/stream`), if it is one. */
function jobIdOfUrl(url) {
    const match = /\/api\/jobs\/([^/?#]+)\/stream(?:[?#]|$)/.exec(url);
    return match ? decodeURIComponent(match[1]) : undefined;
}
/**
 * Reads an event stream body: the HTML standard's rules (fields, comments, CR/LF/CRLF line
 * ends, a leading BOM), yielding each event with its last-event-id; `retry` is reported on
 * the first event after the field (or alone, with an empty name, when no event follows).
 */
async function* parseEventStream(body, lastId) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let first = true;
    let event = "";
    let data = [];
    let retry;
    let id = lastId;
    try {
        for (;;) {
            const { value, done } = await reader.read();
            buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
            if (first && buffer.length > 0) {
                if (buffer.charCodeAt(0) === 0xfeff)
                    buffer = buffer.slice(1);
                first = false;
            }
            for (;;) {
                const end = buffer.search(/\r\n|\r|\n/);
                // A lone CR at the end may be the first half of a CRLF: wait for more.
                if (end < 0 || (end === buffer.length - 1 && buffer[end] === "\r" && !done))
                    break;
                const line = buffer.slice(0, end);
                buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
                if (line === "") {
                    if (data.length > 0) {
                        yield { event: event || "message", data: data.join("\n"), id, ...(retry === undefined ? {} : { retry }) };
                        retry = undefined;
                    }
                    else if (retry !== undefined) {
                        yield { event: "", data: "", id, retry };
                        retry = undefined;
                    }
                    event = "";
                    data = [];
                    continue;
                }
                if (line.startsWith(":"))
                    continue;
                const colon = line.indexOf(":");
                const field = colon < 0 ? line : line.slice(0, colon);
                let text = colon < 0 ? "" : line.slice(colon + 1);
                if (text.startsWith(" "))
                    text = text.slice(1);
                if (field === "event")
                    event = text;
                else if (field === "data")
                    data.push(text);
                else if (field === "id" && !text.includes("\0"))
                    id = text;
                else if (field === "retry" && /^\d+$/.test(text))
                    retry = Number(text);
            }
            if (done)
                return;
        }
    }
    finally {
        reader.cancel().catch(() => { });
    }
}
/**
 * jobcast's HTTP API. Every method rejects with a `JobcastError` when the server refuses
 * (with its `status`, `error` code and `message`) or cannot be reached (`status` 0).
 */
export class Client {
    baseUrl;
    token;
    fetchImpl;
    constructor(options = {}) {
        const opts = typeof options === "string" ? { baseUrl: options } : options;
        const base = opts.baseUrl ?? moduleOrigin;
        if (base === undefined) {
            throw new TypeError("jobcast: pass baseUrl, e.g. new Client({ baseUrl: \"http://localhost:8080\" })");
        }
        this.baseUrl = base.replace(/\/+$/, "");
        this.token = opts.token || undefined;
        this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    }
    /** An absolute URL for a path of the API (or the URL itself, when it is absolute). */
    url(pathOrUrl) {
        return /^https?:\/\//i.test(pathOrUrl) ? pathOrUrl : `${this.baseUrl}${pathOrUrl}`;
    }
    headers(extra = {}) {
        return this.token ? { Authorization: `Bearer ${this.token}`, ...extra } : extra;
    }
    /** A route of the API with its `{id}` filled in; the compiler checks it is in the document. */
    route(template, id) {
        return id === undefined ? template : template.replace("{id}", encodeURIComponent(id));
    }
    async call(method, path, options = {}) {
        let target = this.url(path);
        const query = Object.entries(options.query ?? {}).filter(([, v]) => v !== undefined && v !== "");
        if (query.length > 0)
            target += `?${new URLSearchParams(query.map(([k, v]) => [k, String(v)]))}`;
        const headers = this.headers(options.lease ? { "Jobcast-Lease": options.lease } : {});
        if (options.body !== undefined)
            headers["Content-Type"] = "application/json";
        let response;
        try {
            response = await this.fetchImpl(target, {
                method,
                headers,
                body: options.body === undefined ? undefined : JSON.stringify(options.body),
                signal: options.signal,
            });
        }
        catch (cause) {
            throw networkError(cause, options.signal);
        }
        if (!response.ok)
            throw await errorFrom(response);
        const text = response.status === 204 ? "" : await response.text();
        return { status: response.status, body: (text ? JSON.parse(text) : null), response };
    }
    /** `POST /api/jobs`: a new job (or, for a repeated `idempotency_key`, the existing one). */
    async createJob(type, payload, options = {}) {
        const { signal, ...rest } = options;
        const body = { type };
        if (payload !== undefined)
            body.payload = payload;
        for (const [key, value] of Object.entries(rest))
            if (value !== undefined)
                body[key] = value;
        return (await this.call("POST", this.route("/api/jobs"), { body, signal })).body;
    }
    /** `GET /api/jobs/{id}`. */
    async getJob(id, options = {}) {
        return (await this.call("GET", this.route("/api/jobs/{id}", id), options)).body;
    }
    /** `GET /api/jobs`, one page at a time: follows `next_cursor` until the last page. */
    async *listJobPages(filter = {}) {
        let cursor = filter.cursor;
        for (;;) {
            const { body } = await this.call("GET", this.route("/api/jobs"), {
                query: { status: filter.status, type: filter.type, q: filter.q, limit: filter.limit, cursor },
                signal: filter.signal,
            });
            yield body;
            if (!body.next_cursor)
                return;
            cursor = body.next_cursor;
        }
    }
    /** Every job matching the filter, newest first, fetched a page at a time as you iterate. */
    async *listJobs(filter = {}) {
        for await (const page of this.listJobPages(filter))
            yield* page.jobs;
    }
    /** `GET /api/jobs/{id}/logs`: log lines after `after` (a `seq`), oldest first. */
    async getLogs(id, options = {}) {
        const { body } = await this.call("GET", this.route("/api/jobs/{id}/logs", id), {
            query: { after: options.after, limit: options.limit },
            signal: options.signal,
        });
        return body.logs;
    }
    /** `GET /api/jobs/{id}/attempts`: the job's ended attempts, oldest first. */
    async getAttempts(id, options = {}) {
        const { body } = await this.call("GET", this.route("/api/jobs/{id}/attempts", id), options);
        return body.attempts;
    }
    /** `POST /api/jobs/{id}/cancel`: the job, `cancelled` (or still stopping: `cancel_requested`). */
    async cancel(job, options = {}) {
        const id = typeof job === "string" ? job : job.id;
        return (await this.call("POST", this.route("/api/jobs/{id}/cancel", id), options)).body;
    }
    /** `POST /api/jobs/{id}/retry`: a failed or cancelled job, queued again (same id). */
    async retry(job, options = {}) {
        const id = typeof job === "string" ? job : job.id;
        return (await this.call("POST", this.route("/api/jobs/{id}/retry", id), options)).body;
    }
    /** `GET /api/types`: the server's declared job types. */
    async types(options = {}) {
        return (await this.call("GET", this.route("/api/types"), options)).body;
    }
    /** `GET /api/events/token`: the `/api/events` URL for a filter (signed with tokens on). */
    async eventsUrl(filter = {}, options = {}) {
        const { body } = await this.call("GET", this.route("/api/events/token"), {
            query: { type: filter.type, status: filter.status },
            signal: options.signal,
        });
        return body.url;
    }
    /** For `external` jobs (your backend's work): `POST /api/jobs/{id}/progress`. */
    async reportProgress(id, update, options = {}) {
        return (await this.call("POST", this.route("/api/jobs/{id}/progress", id), { ...options, body: update })).body;
    }
    /** For `external` jobs: `POST /api/jobs/{id}/logs`. */
    async addLog(id, level, message, options = {}) {
        return (await this.call("POST", this.route("/api/jobs/{id}/logs", id), { ...options, body: { level, message } })).body;
    }
    /** For `external` jobs: `POST /api/jobs/{id}/complete`. */
    async complete(id, result, options = {}) {
        return (await this.call("POST", this.route("/api/jobs/{id}/complete", id), { ...options, body: { result: result ?? null } })).body;
    }
    /** For `external` jobs: `POST /api/jobs/{id}/fail`. */
    async fail(id, error, details, options = {}) {
        const body = details === undefined ? { error } : { error, details };
        return (await this.call("POST", this.route("/api/jobs/{id}/fail", id), { ...options, body })).body;
    }
    /**
     * `POST /api/uploads`: sends a file (a `File`/`Blob`, bytes or text) as the raw body and
     * resolves to the upload, whose `upload_id` a job's payload names. `onProgress` reports the
     * bytes sent (in browsers through XMLHttpRequest, which reports upload progress; elsewhere
     * as the body is read).
     */
    async uploadFile(file, options = {}) {
        const blob = file instanceof Blob ? file : new Blob([file]);
        const contentType = options.contentType || blob.type || "application/octet-stream";
        const target = this.url(this.route("/api/uploads"));
        const total = blob.size;
        const report = (loaded) => options.onProgress?.({ loaded, total, percent: total === 0 ? 100 : Math.min(100, (100 * loaded) / total) });
        if (options.signal?.aborted)
            throw networkError(options.signal.reason, options.signal);
        // A page's own Blob goes through XMLHttpRequest, the only API with upload progress events
        // (elsewhere, e.g. Node, fetch reports the bytes as it reads them).
        const pageBlob = typeof window !== "undefined" && typeof window.Blob === "function" ? window.Blob : undefined;
        if (options.onProgress && typeof XMLHttpRequest !== "undefined" && pageBlob && blob instanceof pageBlob) {
            return this.uploadWithXhr(target, blob, contentType, report, options.signal);
        }
        let body = blob;
        const init = {};
        if (options.onProgress && typeof ReadableStream !== "undefined") {
            // Count the bytes as fetch reads them (Node: a streamed request body).
            let loaded = 0;
            const reader = blob.stream().getReader();
            body = new ReadableStream({
                async pull(controller) {
                    const { value, done } = await reader.read();
                    if (done) {
                        controller.close();
                        return;
                    }
                    loaded += value.byteLength;
                    report(loaded);
                    controller.enqueue(value);
                },
                cancel: (reason) => reader.cancel(reason),
            });
            init.duplex = "half";
        }
        let response;
        try {
            response = await this.fetchImpl(target, {
                method: "POST",
                headers: this.headers({ "Content-Type": contentType }),
                body,
                signal: options.signal,
                ...init,
            });
        }
        catch (cause) {
            throw networkError(cause, options.signal);
        }
        if (!response.ok)
            throw await errorFrom(response);
        const upload = (await response.json());
        report(total);
        return upload;
    }
    uploadWithXhr(target, blob, contentType, report, signal) {
        return new Promise((resolve, reject) => {
            const xhr = new XMLHttpRequest();
            xhr.open("POST", target);
            for (const [key, value] of Object.entries(this.headers({ "Content-Type": contentType }))) {
                xhr.setRequestHeader(key, value);
            }
            xhr.upload.onprogress = (event) => {
                if (event.lengthComputable)
                    report(event.loaded);
            };
            const abort = () => xhr.abort();
            signal?.addEventListener("abort", abort, { once: true });
            xhr.onloadend = () => signal?.removeEventListener("abort", abort);
            xhr.onload = () => {
                let body = null;
                try {
                    body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
                }
                catch {
                    body = xhr.responseText;
                }
                if (xhr.status === 201) {
                    report(blob.size);
                    resolve(body);
                    return;
                }
                const parsed = body && typeof body === "object" ? body : {};
                const retry = Number(xhr.getResponseHeader("retry-after"));
                reject(new JobcastError(xhr.status, parsed.error ?? "unexpected", parsed.message ?? `HTTP ${xhr.status}`, {
                    field: parsed.field,
                    retryAfter: Number.isFinite(retry) && xhr.getResponseHeader("retry-after") !== null ? retry : undefined,
                    body,
                }));
            };
            xhr.onerror = () => reject(new JobcastError(0, "network", "the upload failed: the server could not be reached"));
            xhr.onabort = () => reject(new JobcastError(0, "aborted", "aborted"));
            xhr.send(blob);
        });
    }
    /**
     * Follows one event stream to its end: reconnects with `Last-Event-ID` when the body ends
     * (the server's cap, a restart) or the connection drops, with capped exponential backoff
     * while the server is away, asks for a fresh URL once when the server refuses the one in
     * hand, and stops at a terminal event, a 204, an abort, or a refusal it cannot fix.
     */
    async *follow(plan) {
        let url = plan.url;
        let lastEventId = plan.lastEventId;
        let retryMs = 2000;
        let failures = 0;
        let refreshed = false;
        const signal = plan.signal;
        while (!signal?.aborted) {
            const connection = new AbortController();
            const abort = () => connection.abort();
            signal?.addEventListener("abort", abort, { once: true });
            let idle;
            const touch = () => {
                clearTimeout(idle);
                idle = setTimeout(() => connection.abort(), plan.idleTimeoutMs);
                // Node: the open connection keeps the process alive, not this timer.
                idle.unref?.();
            };
            let problem;
            let waitMs;
            try {
                touch();
                const headers = this.headers({ Accept: "text/event-stream" });
                if (lastEventId !== undefined && lastEventId !== "")
                    headers["Last-Event-ID"] = lastEventId;
                let response;
                try {
                    response = await this.fetchImpl(this.url(url), { headers, signal: connection.signal, cache: "no-store" });
                }
                catch (cause) {
                    throw networkError(cause, signal);
                }
                if (response.status === 204)
                    return; // it already saw the terminal event
                if ((response.status === 401 || response.status === 403) && plan.refresh && !refreshed) {
                    await response.body?.cancel().catch(() => { });
                    refreshed = true;
                    url = await plan.refresh();
                    continue;
                }
                if (!response.ok) {
                    const error = await errorFrom(response);
                    if (!error.retryable)
                        throw error;
                    problem = error;
                    if (error.retryAfter !== undefined)
                        waitMs = error.retryAfter * 1000;
                }
                else if (!response.body) {
                    throw new JobcastError(response.status, "unexpected", "the stream answer had no body");
                }
                else {
                    refreshed = false;
                    failures = 0;
                    plan.onOpen?.();
                    for await (const raw of parseEventStream(response.body, lastEventId ?? "")) {
                        touch();
                        if (raw.retry !== undefined)
                            retryMs = raw.retry;
                        lastEventId = raw.id;
                        if (!raw.event)
                            continue;
                        const event = plan.parse(raw);
                        if (event === undefined)
                            continue;
                        yield event;
                        if (plan.terminal(event))
                            return;
                    }
                    // The body ended before the job did (the stream's cap, or a shutdown): go on.
                    problem = new JobcastError(0, "network", "the stream ended; reconnecting");
                    waitMs = retryMs;
                }
            }
            catch (error) {
                if (signal?.aborted)
                    return;
                const failure = error instanceof JobcastError ? error : networkError(error, connection.signal);
                if (!failure.retryable) {
                    throw failure;
                }
                else {
                    problem = failure;
                }
            }
            finally {
                clearTimeout(idle);
                signal?.removeEventListener("abort", abort);
                connection.abort();
            }
            if (signal?.aborted)
                return;
            const delay = waitMs ?? Math.min(MAX_BACKOFF_MS, Math.max(retryMs, 500) * 2 ** failures) * (0.5 + Math.random() / 2);
            if (waitMs === undefined)
                failures += 1;
            plan.onRetry?.(problem ?? new JobcastError(0, "network", "reconnecting"), delay);
            await sleep(delay, signal);
        }
    }
    streamPlan(jobOrUrl, options) {
        let url;
        let id;
        if (typeof jobOrUrl === "object") {
            url = jobOrUrl.stream_url;
            id = "id" in jobOrUrl ? jobOrUrl.id : jobIdOfUrl(url);
        }
        else if (/^https?:\/\//i.test(jobOrUrl) || jobOrUrl.startsWith("/")) {
            url = jobOrUrl;
            id = jobIdOfUrl(url);
        }
        else {
            // A bare id: the stream needs a token header (or an open server).
            id = jobOrUrl;
            url = this.route("/api/jobs/{id}/stream", id);
        }
        const refresh = options.refreshUrl ??
            (id === undefined ? undefined : async () => (await this.getJob(id, { signal: options.signal })).stream_url);
        return { url, refresh };
    }
    /**
     * A job's events as an async iterator, from its current state to its terminal event (then
     * it ends: no reconnect loop). `jobOrUrl`: the job (from `createJob`, `getJob`...), its
     * `stream_url` (signed when tokens are on), or its id (with this client's token, or on an
     * open server). Breaking out of the loop, or aborting `signal`, closes the connection.
     */
    jobEvents(jobOrUrl, options = {}) {
        const { url, refresh } = this.streamPlan(jobOrUrl, options);
        return this.follow({
            url,
            refresh,
            lastEventId: options.lastEventId === undefined ? undefined : String(options.lastEventId),
            signal: options.signal,
            onOpen: options.onOpen,
            onRetry: options.onRetry,
            idleTimeoutMs: options.idleTimeoutMs ?? 90_000,
            parse(raw) {
                if (!["progress", "log", "completed", "failed"].includes(raw.event))
                    return undefined;
                return { event: raw.event, id: Number(raw.id), data: JSON.parse(raw.data) };
            },
            terminal: (event) => event.event === "completed" || event.event === "failed",
        });
    }
    /**
     * Follows a job with callbacks (see `StreamHandlers`); returns a handle to stop it. The
     * latest state is in `stream.state`; `stream.done` settles when the stream ends.
     */
    streamJob(jobOrUrl, handlers = {}, options = {}) {
        const controller = new AbortController();
        if (options.signal) {
            if (options.signal.aborted)
                controller.abort();
            else
                options.signal.addEventListener("abort", () => controller.abort(), { once: true });
        }
        const state = initialState(typeof jobOrUrl === "object" ? jobOrUrl : undefined);
        let closed = false;
        const call = (name, ...args) => {
            const handler = handlers[name];
            if (typeof handler !== "function")
                return;
            try {
                handler(...args);
            }
            catch (error) {
                console.error(`jobcast: ${name} threw`, error);
            }
        };
        const events = this.jobEvents(jobOrUrl, {
            ...options,
            signal: controller.signal,
            onOpen: () => {
                options.onOpen?.();
                call("onOpen");
            },
            onRetry: (error, delay) => {
                options.onRetry?.(error, delay);
                call("onError", error, true);
            },
        });
        const done = (async () => {
            try {
                for await (const event of events) {
                    applyEvent(state, event);
                    call("onEvent", event, snapshot(state));
                    if (event.event === "progress")
                        call("onProgress", snapshot(state));
                    else if (event.event === "log")
                        call("onLog", event.data, snapshot(state));
                    else if (event.event === "completed") {
                        closed = true;
                        call("onCompleted", event.data.result, snapshot(state));
                    }
                    else {
                        closed = true;
                        call("onFailed", event.data.error, event.data.details, snapshot(state));
                    }
                }
                return snapshot(state);
            }
            catch (error) {
                const failure = error instanceof JobcastError ? error : networkError(error);
                call("onError", failure, false);
                throw failure;
            }
            finally {
                closed = true;
            }
        })();
        // Handlers see the failure; a caller that does not await `done` gets no unhandled rejection.
        done.catch(() => { });
        return {
            close() {
                closed = true;
                controller.abort();
            },
            state,
            get closed() {
                return closed;
            },
            done,
        };
    }
    /**
     * `GET /api/events`: every matching job's changes on one stream, as an async iterator that
     * never ends by itself (it reconnects after each cap and asks for a fresh signed URL when
     * the old one expired). Stop it with `signal` or by breaking out of the loop.
     */
    watchEvents(filter = {}) {
        const { type, status, url, ...options } = filter;
        const plainUrl = this.route("/api/events") + (() => {
            const query = new URLSearchParams();
            if (type)
                query.set("type", type);
            if (status)
                query.set("status", status);
            const text = query.toString();
            return text ? `?${text}` : "";
        })();
        const fresh = options.refreshUrl ?? (() => this.eventsUrl({ type, status }, { signal: options.signal }));
        const self = this;
        return (async function* () {
            // With a token, the header opens the stream; without one, an open server needs nothing.
            yield* self.follow({
                url: url ?? plainUrl,
                refresh: fresh,
                lastEventId: options.lastEventId === undefined ? undefined : String(options.lastEventId),
                signal: options.signal,
                onOpen: options.onOpen,
                onRetry: options.onRetry,
                idleTimeoutMs: options.idleTimeoutMs ?? 90_000,
                parse(raw) {
                    if (!["ready", "progress", "completed", "failed"].includes(raw.event))
                        return undefined;
                    return { event: raw.event, id: Number(raw.id), data: JSON.parse(raw.data) };
                },
                terminal: () => false,
            });
        })();
    }
}
function initialState(job) {
    return {
        status: job?.status ?? null,
        progress: job?.progress ?? 0,
        message: job?.message ?? null,
        current: job?.current ?? null,
        total: job?.total ?? null,
        stage: job?.stage ?? null,
        result: job?.result ?? null,
        error: job?.error ?? null,
        details: job?.details ?? null,
        logs: [],
        version: job?.version ?? null,
    };
}
function snapshot(state) {
    return { ...state, logs: state.logs.slice() };
}
/** Folds one event into a job state (what `streamJob` and the React hook keep). */
export function applyEvent(state, event) {
    state.version = event.id;
    switch (event.event) {
        case "progress": {
            const data = event.data;
            state.status = data.status;
            state.progress = data.progress;
            state.message = data.message ?? null;
            state.current = data.current ?? null;
            state.total = data.total ?? null;
            state.stage = data.stage ?? null;
            // A retried job starts again: what its last attempt ended with no longer holds.
            state.result = null;
            state.error = null;
            state.details = null;
            break;
        }
        case "log":
            state.logs.push(event.data);
            break;
        case "completed":
            state.status = "completed";
            state.progress = 100;
            state.result = event.data.result;
            state.error = null;
            break;
        case "failed":
            state.status = event.data.status;
            state.error = event.data.error;
            state.details = event.data.details ?? null;
            break;
    }
    return state;
}
/** Creates a job; rejects with a `JobcastError` (`status`, `error`, `message`, `body`). */
export function createJob(type, payload, options = {}) {
    const { base, token, ...rest } = options;
    return new Client({ baseUrl: base, token }).createJob(type, payload, rest);
}
/**
 * Follows a job: `jobOrUrl` is the job, its `stream_url`, or (without tokens, or with
 * `token`) its id. Closes itself after the terminal event; `close()` stops it sooner.
 */
export function streamJob(jobOrUrl, handlers = {}, options = {}) {
    const { base, token, ...rest } = options;
    return new Client({ baseUrl: base, token }).streamJob(jobOrUrl, handlers, rest);
}
