// The client against the real server (clients/harness): no mocks.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client, JobcastError, createJob, streamJob } from "../dist/index.js";
import { Server, nextWithin, repo, until } from "./harness.mjs";

const sample = readFileSync(join(repo, "examples", "data", "traces-1000.jsonl"));
const expected = JSON.parse(readFileSync(join(repo, "examples", "data", "traces-1000.expected.json"), "utf8"));

async function collect(iterator, ms = 20000) {
  const events = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const { value, done } = await nextWithin(iterator, deadline - Date.now(), "stream");
    if (done) return events;
    events.push(value);
  }
}

describe("open server", () => {
  let server;
  let client;
  before(async () => {
    server = await Server.start();
    client = new Client({ baseUrl: server.base });
  });
  after(() => server.close());

  test("createJob, getJob, cancel and retry round-trip a job", async () => {
    const job = await client.createJob("external", { n: 1 }, { priority: 5, idempotency_key: "k-1" });
    assert.equal(job.status, "queued");
    assert.equal(job.priority, 5);
    assert.deepEqual(job.payload, { n: 1 });
    const again = await client.createJob("external", { n: 1 }, { idempotency_key: "k-1" });
    assert.equal(again.id, job.id, "a repeated idempotency key returns the same job");
    assert.equal((await client.getJob(job.id)).id, job.id);
    const cancelled = await client.cancel(job);
    assert.equal(cancelled.status, "cancelled");
    const retried = await client.retry(job.id);
    assert.equal(retried.status, "queued");
    assert.equal(retried.id, job.id);
    const types = await client.types();
    assert.ok(types.some((t) => t.name === "import-traces" && t.file_input));
  });

  test("listJobs walks every cursor page; listJobPages yields the pages", async () => {
    const made = [];
    for (let i = 0; i < 7; i += 1) made.push((await client.createJob("external", { i }, {})).id);
    const pages = [];
    for await (const page of client.listJobPages({ type: "external", status: "queued", limit: 3 })) pages.push(page);
    assert.ok(pages.length >= 3, `pages of 3: ${pages.length}`);
    assert.ok(pages.slice(0, -1).every((p) => p.jobs.length === 3 && p.next_cursor));
    assert.equal(pages.at(-1).next_cursor, null);
    const ids = [];
    for await (const job of client.listJobs({ type: "external", status: "queued", limit: 2 })) ids.push(job.id);
    for (const id of made) assert.ok(ids.includes(id), `${id} listed`);
    assert.equal(new Set(ids).size, ids.length, "no job twice");
    assert.deepEqual(ids, pages.flatMap((p) => p.jobs.map((j) => j.id)), "newest first, the same order");
  });

  test("listJobs searches with q; getAttempts lists a job's ended attempts", async () => {
    const key = `ts-search-${Date.now()}`;
    const job = await client.createJob("external", {}, { idempotency_key: key });
    await client.createJob("external", {});
    const found = [];
    for await (const j of client.listJobs({ q: key.toUpperCase() })) found.push(j.id);
    assert.deepEqual(found, [job.id]);
    assert.deepEqual(await client.getAttempts(job.id), []);
    await client.fail(job.id, "disk full", { free: 0 });
    const attempts = await client.getAttempts(job.id);
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.outcome, a.error, a.details]),
      [[1, "failed", "disk full", { free: 0 }]],
    );
    assert.ok(attempts[0].duration_ms >= 0);
  });

  test("errors are typed: status, error code, message, field", async () => {
    await assert.rejects(client.getJob("01900000-0000-7000-8000-000000000000"), (error) => {
      assert.ok(error instanceof JobcastError);
      assert.equal(error.status, 404);
      assert.equal(error.error, "not_found");
      assert.match(error.message, /job/);
      return true;
    });
    await assert.rejects(client.createJob("demo", { steps: 1 }, { priority: 5000 }), (error) => {
      assert.equal(error.status, 422);
      assert.equal(error.error, "invalid_field");
      assert.equal(error.field, "priority");
      return true;
    });
    await assert.rejects(client.createJob("no-such-type"), (error) => error.status === 422 && error.field === "type");
    const finished = await client.createJob("external");
    await client.cancel(finished.id);
    await assert.rejects(client.cancel(finished.id), (error) => error.status === 409 && error.error === "conflict");
    const away = new Client({ baseUrl: "http://127.0.0.1:1" });
    await assert.rejects(away.getJob(finished.id), (error) => error.status === 0 && error.error === "network" && error.retryable);
  });

  test("uploadFile sends bytes with progress, and an import job reads the upload", async () => {
    const seen = [];
    const upload = await client.uploadFile(new Uint8Array(sample), {
      contentType: "application/x-ndjson",
      onProgress: (p) => seen.push(p),
    });
    assert.equal(upload.size, sample.length);
    assert.equal(upload.content_type, "application/x-ndjson");
    assert.ok(seen.length > 1, `several progress reports: ${seen.length}`);
    assert.equal(seen.at(-1).percent, 100);
    assert.ok(seen.every((p, i) => i === 0 || p.loaded >= seen[i - 1].loaded), "loaded only grows");
    const blob = await client.uploadFile(new Blob(["hello"], { type: "text/plain" }));
    assert.equal(blob.size, 5);
    assert.equal(blob.content_type, "text/plain");

    const job = await client.createJob("import-traces", { upload_id: upload.upload_id });
    const events = await collect(client.jobEvents(job));
    const last = events.at(-1);
    assert.equal(last.event, "completed", JSON.stringify(events.slice(-3)));
    assert.deepEqual(last.data.result, expected);
    assert.ok(events.some((e) => e.event === "progress" && e.data.progress > 0 && e.data.progress < 100));
  });

  test("jobEvents follows a job to its terminal event and ends: every log line once, ids growing", async () => {
    const job = await client.createJob("demo", { steps: 12, step_ms: 30 });
    const events = await collect(client.jobEvents(job));
    assert.equal(events.at(-1).event, "completed");
    assert.equal(events.filter((e) => e.event === "completed").length, 1);
    const ids = events.map((e) => e.id);
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), `ids grow: ${ids}`);
    const stored = await client.getLogs(job.id);
    const streamed = events.filter((e) => e.event === "log").map((e) => e.data.seq);
    // The stream started at the job's state when it opened: the lines from then on, once each.
    assert.deepEqual(streamed, stored.map((l) => l.seq).slice(stored.length - streamed.length));
    assert.ok(streamed.length > 0);
    // No reconnect loop: the stream is not opened again after the end.
    const opened = await server.metric("jobcast_streams_opened_total");
    await new Promise((resolve) => setTimeout(resolve, 500)); // 5 retry delays
    assert.equal(await server.metric("jobcast_streams_opened_total"), opened);
    await until("streams closed", () => server.metric("jobcast_streams_open"), (n) => n === 0);
  });

  test("a stream resumed with lastEventId gets only newer events; a 204 ends it", async () => {
    const job = await client.createJob("external");
    await client.reportProgress(job.id, { progress: 10, message: "one" });
    const middle = await client.getJob(job.id);
    await client.addLog(job.id, "info", "after the middle");
    await client.complete(job.id, { ok: true });
    const events = await collect(client.jobEvents(job.id, { lastEventId: middle.version }));
    assert.deepEqual(events.map((e) => e.event), ["log", "completed"]);
    assert.equal(events[0].data.message, "after the middle");
    const final = await client.getJob(job.id);
    assert.deepEqual(await collect(client.jobEvents(job, { lastEventId: final.version })), []);
  });

  test("streamJob calls its handlers, keeps the state and closes itself at the end", async () => {
    const job = await client.createJob("demo", { steps: 6, step_ms: 30, fail_at_step: 4 });
    const calls = [];
    const stream = client.streamJob(job, {
      onOpen: () => calls.push("open"),
      onProgress: (s) => calls.push(`progress ${s.status}`),
      onLog: (line) => calls.push(`log ${line.seq}`),
      onCompleted: () => calls.push("completed"),
      onFailed: (error, details, state) => calls.push(`failed ${error} ${state.status}`),
    });
    const final = await stream.done;
    assert.equal(final.status, "failed");
    assert.match(final.error, /failed at step 4/);
    assert.equal(stream.closed, true);
    assert.equal(calls[0], "open");
    assert.match(calls.at(-1), /^failed failed at step 4 of 6 failed$/);
    assert.ok(calls.some((c) => c.startsWith("log ")));
    assert.deepEqual(stream.state.logs.map((l) => `log ${l.seq}`), calls.filter((c) => c.startsWith("log ")));
  });

  test("an AbortSignal (or close) stops a stream at once and frees the server's side", async () => {
    const job = await client.createJob("external");
    const controller = new AbortController();
    const events = client.jobEvents(job, { signal: controller.signal });
    assert.equal((await nextWithin(events, 5000, "first event")).value.event, "progress");
    await until("stream open", () => server.metric("jobcast_streams_open"), (n) => n === 1);
    controller.abort();
    assert.equal((await nextWithin(events, 5000, "end after abort")).done, true);
    await until("stream closed", () => server.metric("jobcast_streams_open"), (n) => n === 0);

    const handle = client.streamJob(job, {});
    await until("stream open", () => server.metric("jobcast_streams_open"), (n) => n === 1);
    handle.close();
    await handle.done;
    await until("stream closed", () => server.metric("jobcast_streams_open"), (n) => n === 0);
    await client.cancel(job);
  });

  test("watchEvents carries every job's changes on one stream, from ready", async () => {
    const controller = new AbortController();
    const events = client.watchEvents({ type: "external", signal: controller.signal });
    const ready = (await nextWithin(events, 5000, "ready")).value;
    assert.equal(ready.event, "ready");
    const job = await client.createJob("external");
    await client.reportProgress(job.id, { progress: 50 });
    await client.complete(job.id, { done: 1 });
    const seen = [];
    while (!seen.some((e) => e.event === "completed")) {
      const { value } = await nextWithin(events, 5000, "change");
      if (value.data.job_id === job.id) seen.push(value);
    }
    assert.deepEqual(seen.at(-1).data.result, { done: 1 });
    assert.ok(seen.every((e, i) => i === 0 || e.id > seen[i - 1].id));
    controller.abort();
    assert.equal((await nextWithin(events, 5000, "end")).done, true);
  });

  test("the functions /jobcast.js always had: createJob(type, payload, {base}) and streamJob", async () => {
    const job = await createJob("demo", { steps: 3, step_ms: 10 }, { base: server.base });
    let result;
    const stream = streamJob(job, { onCompleted: (r) => (result = r) }, { base: server.base });
    await stream.done;
    assert.deepEqual(Object.keys(result).sort(), ["elapsed_ms", "steps"]);
  });

  test("the server serves this build as /jobcast.js and /jobcast.d.ts", async () => {
    for (const name of ["jobcast.js", "jobcast.d.ts"]) {
      const served = await (await fetch(`${server.base}/${name}`)).text();
      const built = readFileSync(new URL(`../dist/browser/${name}`, import.meta.url), "utf8");
      assert.ok(served === built, `the binary's /${name} is not this build: run \`npm run build:assets\` and cargo build`);
    }
  });
});

describe("server with tokens", () => {
  let server;
  before(async () => {
    server = await Server.start({ tokens: true });
  });
  after(() => server.close());

  test("tokens: no token is 401, a role that may not is 403, the right one works", async () => {
    const none = new Client({ baseUrl: server.base });
    await assert.rejects(none.createJob("external"), (e) => e.status === 401 && e.error === "unauthorized");
    const reader = new Client({ baseUrl: server.base, token: server.tokens.read });
    await assert.rejects(reader.createJob("external"), (e) => e.status === 403 && e.error === "forbidden");
    const submit = new Client({ baseUrl: server.base, token: server.tokens.submit });
    const job = await submit.createJob("external");
    assert.match(job.stream_url, /[?&]token=/);
    assert.equal((await reader.getJob(job.id)).id, job.id);
  });

  test("a job followed through a server restart mid-stream: resumed, nothing lost or repeated", async (t) => {
    const admin = new Client({ baseUrl: server.base, token: server.tokens.admin });
    const job = await admin.createJob("external");
    // The page's side: only the signed stream_url, no token.
    const page = new Client({ baseUrl: server.base });
    const retries = [];
    const controller = new AbortController();
    t.after(() => controller.abort());
    const events = page.jobEvents(job, { signal: controller.signal, onRetry: (error) => retries.push(error.error) });
    const seen = [];
    const take = async (what) => {
      const { value, done } = await nextWithin(events, 20000, what);
      assert.ok(!done, `${what}: the stream ended early`);
      seen.push(value);
      return value;
    };
    assert.equal((await take("first progress")).event, "progress");
    await admin.reportProgress(job.id, { progress: 25, message: "before" });
    await admin.addLog(job.id, "info", "line 1");
    while (seen.at(-1).event !== "log") await take("line 1");

    await server.kill();
    // While it is away, work goes on elsewhere... then it is back on the same port and file.
    await server.start();
    await admin.addLog(job.id, "info", "line 2");
    await admin.reportProgress(job.id, { progress: 75, message: "after" });
    // Live again: the stream shows the update made after the restart.
    while (!(seen.at(-1).event === "progress" && seen.at(-1).data.message === "after")) await take("progress after");
    await admin.complete(job.id, { rows: 2 });
    const rest = await collect(events, 30000);
    seen.push(...rest);
    assert.ok(retries.length >= 1, "it noticed the restart and reconnected");
    assert.equal(seen.at(-1).event, "completed");
    assert.deepEqual(seen.at(-1).data.result, { rows: 2 });
    assert.deepEqual(seen.filter((e) => e.event === "log").map((e) => e.data.message), ["line 1", "line 2"]);
    const ids = seen.map((e) => e.id);
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), `ids grow, none repeated: ${ids}`);
  });

  test("a stream URL refused after the secret changed is replaced by a fresh one and resumes", async (t) => {
    const admin = new Client({ baseUrl: server.base, token: server.tokens.admin });
    const job = await admin.createJob("external");
    const follower = new Client({ baseUrl: server.base, token: server.tokens.read });
    const controller = new AbortController();
    t.after(() => controller.abort());
    // The signed URL, and a token to ask for a new one.
    const events = follower.jobEvents(job, { signal: controller.signal });
    assert.equal((await nextWithin(events, 5000, "first")).value.event, "progress");
    await admin.addLog(job.id, "info", "before rotation");
    let event;
    do event = (await nextWithin(events, 5000, "line")).value;
    while (event.event !== "log");
    assert.equal(event.data.message, "before rotation");
    // A new signing secret: every signed URL handed out so far is refused (401).
    await server.restart({ JOBCAST_AUTH_SECRET: "a-new-secret-0123456789abcdef" });
    const old = await fetch(new URL(job.stream_url, server.base));
    assert.equal(old.status, 401, "the old URL is refused");
    await old.body?.cancel();
    await admin.addLog(job.id, "info", "after rotation");
    await admin.complete(job.id);
    const rest = await collect(events, 30000);
    assert.deepEqual(rest.map((e) => e.event), ["log", "completed"]);
    assert.equal(rest[0].data.message, "after rotation");
  });
});

describe("server with short-lived events URLs", () => {
  let server;
  before(async () => {
    server = await Server.start({ tokens: true, tokenTtl: "1s", env: { JOBCAST_STREAM_MAX_DURATION: "700ms" } });
  });
  after(() => server.close());

  test("watchEvents from a signed URL asks for a fresh one when it expired and misses nothing", async () => {
    const backend = new Client({ baseUrl: server.base, token: server.tokens.admin });
    const page = new Client({ baseUrl: server.base });
    let refreshed = 0;
    const controller = new AbortController();
    const events = page.watchEvents({
      url: await backend.eventsUrl({ type: "external" }),
      refreshUrl: async () => {
        refreshed += 1;
        return backend.eventsUrl({ type: "external" });
      },
      signal: controller.signal,
    });
    assert.equal((await nextWithin(events, 5000, "ready")).value.event, "ready");
    const made = [];
    const seen = new Map();
    // Several TTLs and stream caps go by while jobs are made.
    const start = Date.now();
    while (Date.now() - start < 3500) {
      const job = await backend.createJob("external");
      made.push(job.id);
      await backend.complete(job.id, { n: made.length });
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    while (made.some((id) => !seen.has(id))) {
      const { value } = await nextWithin(events, 10000, "changes");
      if (value.event === "completed") seen.set(value.data.job_id, value.data.result);
    }
    controller.abort();
    assert.ok(refreshed >= 1, `the expired URL was replaced (${refreshed} times)`);
    assert.deepEqual(made.map((id) => seen.get(id).n), made.map((_, i) => i + 1));
  });
});
