// jobcast/react with React Testing Library in jsdom, against the real server.
import "./dom.mjs";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { StrictMode, createElement as h, useEffect } from "react";
import { act, cleanup, render, waitFor } from "@testing-library/react";
import { Client } from "../dist/index.js";
import { JobcastProvider, useJob, useUpload } from "../dist/react.js";
import { Server, until } from "./harness.mjs";

const long = { timeout: 20000, interval: 20 };

/** Renders useJob(job, options) in StrictMode; `latest.current` is the hook's last result. */
function follow(client, job, options = {}) {
  const latest = { current: null, renders: 0 };
  function Follow() {
    const state = useJob(job, options);
    latest.current = state;
    latest.renders += 1;
    return h("output", null, `${state.status} ${state.progress}`);
  }
  const view = render(h(StrictMode, null, h(JobcastProvider, { client }, h(Follow))));
  return { latest, view };
}

describe("useJob and useUpload on an open server", () => {
  let server;
  let client;
  before(async () => {
    server = await Server.start();
    client = new Client({ baseUrl: server.base });
  });
  after(async () => {
    cleanup();
    await server.close();
  });

  test("useJob(id) under StrictMode follows a job to completed with every log line once, then closes", async () => {
    const job = await client.createJob("demo", { steps: 10, step_ms: 40 });
    const { latest, view } = follow(client, job.id);
    await waitFor(() => assert.equal(latest.current.status, "completed"), long);
    const state = latest.current;
    assert.equal(state.progress, 100);
    assert.equal(state.result.steps, 10);
    assert.equal(state.error, null);
    assert.equal(state.job.id, job.id);
    const stored = await client.getLogs(job.id);
    assert.deepEqual(state.logs.map((l) => l.seq), stored.map((l) => l.seq), "the backlog and the stream, each line once");
    assert.deepEqual(state.logs.map((l) => l.message), stored.map((l) => l.message));
    await until("streams closed after the end", () => server.metric("jobcast_streams_open"), (n) => n === 0);
    view.unmount();
  });

  test("StrictMode's double mount leaves one stream; unmounting mid-job closes it", async () => {
    const job = await client.createJob("external");
    const { latest, view } = follow(client, job);
    await waitFor(() => assert.equal(latest.current.connection, "live"), long);
    await until("one stream", () => server.metric("jobcast_streams_open"), (n) => n === 1);
    await client.reportProgress(job.id, { progress: 30, message: "a third", current: 1, total: 3, stage: "parse" });
    await client.addLog(job.id, "warning", "careful");
    await waitFor(() => assert.equal(latest.current.progress, 30), long);
    const state = latest.current;
    assert.deepEqual(
      [state.status, state.message, state.current, state.total, state.stage],
      ["running", "a third", 1, 3, "parse"],
    );
    await waitFor(() => assert.deepEqual(latest.current.logs.map((l) => l.message), ["careful"]), long);
    assert.equal(await server.metric("jobcast_streams_open"), 1, "the first mount's stream was closed");
    view.unmount();
    await until("the stream closed on unmount", () => server.metric("jobcast_streams_open"), (n) => n === 0);
    assert.equal((await client.getJob(job.id)).status, "running", "the job itself goes on");
    await client.cancel(job);
  });

  test("cancel() and retry() act on the job, and the hook follows it again after a retry", async () => {
    const job = await client.createJob("external");
    const { latest, view } = follow(client, job.id);
    await waitFor(() => assert.equal(latest.current.connection, "live"), long);
    await act(() => latest.current.cancel());
    await waitFor(() => assert.equal(latest.current.status, "cancelled"), long);
    assert.equal(latest.current.error, "cancelled");
    await act(() => latest.current.retry());
    await waitFor(() => assert.equal(latest.current.connection, "live"), long);
    assert.equal(latest.current.status, "queued");
    assert.equal(latest.current.error, null);
    await client.addLog(job.id, "info", "second attempt");
    await client.complete(job.id, { rows: 3 });
    await waitFor(() => assert.equal(latest.current.status, "completed"), long);
    assert.deepEqual(latest.current.result, { rows: 3 });
    assert.ok(latest.current.logs.some((l) => l.message === "second attempt"));
    view.unmount();
  });

  test("useUpload uploads with progress and gives the upload; the job it feeds completes", async () => {
    const latest = { current: null };
    function Upload() {
      latest.current = useUpload();
      return null;
    }
    const view = render(h(StrictMode, null, h(JobcastProvider, { client }, h(Upload))));
    const bytes = new TextEncoder().encode('{"not": "a span"}\n'.repeat(20000));
    let upload;
    await act(async () => {
      upload = await latest.current.upload(bytes, { contentType: "application/x-ndjson" });
    });
    assert.equal(latest.current.status, "done");
    assert.equal(latest.current.progress, 100);
    assert.equal(latest.current.result.upload_id, upload.upload_id);
    assert.equal(upload.size, bytes.length);
    const job = await client.createJob("import-traces", { upload_id: upload.upload_id });
    const followed = follow(client, job);
    await waitFor(() => assert.equal(followed.latest.current.status, "completed"), long);
    assert.equal(followed.latest.current.result.skipped_lines, 20000);
    followed.view.unmount();
    view.unmount();
  });
});

describe("useJob on a server with tokens", () => {
  let server;
  before(async () => {
    server = await Server.start({ tokens: true });
  });
  after(async () => {
    cleanup();
    await server.close();
  });

  test("a client with a token follows by id; a refused token is the hook's error", async () => {
    const admin = new Client({ baseUrl: server.base, token: server.tokens.admin });
    const job = await admin.createJob("demo", { steps: 3, step_ms: 20 });
    const reader = new Client({ baseUrl: server.base, token: server.tokens.read });
    const ok = follow(reader, job.id);
    await waitFor(() => assert.equal(ok.latest.current.status, "completed"), long);
    ok.view.unmount();

    const stranger = new Client({ baseUrl: server.base, token: "wrong" });
    const refused = follow(stranger, job.id);
    await waitFor(() => assert.equal(refused.latest.current.requestError?.status, 401), long);
    assert.equal(refused.latest.current.requestError.error, "unauthorized");
    assert.ok(refused.latest.current.error);
    assert.equal(refused.latest.current.connection, "closed");
    refused.view.unmount();
  });

  test("useJob(job) follows a job with only its signed stream_url (a page without a token)", async () => {
    const admin = new Client({ baseUrl: server.base, token: server.tokens.admin });
    const job = await admin.createJob("external");
    const page = new Client({ baseUrl: server.base });
    const { latest, view } = follow(page, job, { backlog: false });
    await waitFor(() => assert.equal(latest.current.connection, "live"), long);
    await admin.addLog(job.id, "info", "hello page");
    await admin.fail(job.id, "no luck", { why: "test" });
    await waitFor(() => assert.equal(latest.current.status, "failed"), long);
    assert.equal(latest.current.error, "no luck");
    assert.deepEqual(latest.current.details, { why: "test" });
    assert.deepEqual(latest.current.logs.map((l) => l.message), ["hello page"]);
    view.unmount();
  });
});
