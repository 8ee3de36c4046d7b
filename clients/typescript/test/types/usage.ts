// Compiled (not run) by test/types.test.mjs: what a TypeScript user writes, against the
// package's declarations. A type error here fails the suite.
import { Client, JobcastError, isFinished } from "jobcast";
import type { ChangeEvent, Job, JobStreamEvent, LogLine } from "jobcast";
import { useJob, useUpload } from "jobcast/react";

export async function follow(client: Client, id: string): Promise<LogLine[]> {
  const job: Job = await client.getJob(id);
  const status: "queued" | "running" | "waiting" | "completed" | "failed" | "cancelled" = job.status;
  void status;
  const lines: LogLine[] = [];
  for await (const event of client.jobEvents(job)) {
    const e: JobStreamEvent = event;
    if (e.event === "log") lines.push(e.data);
    else if (e.event === "completed") console.log(e.data.result, e.data.progress satisfies 100);
    else if (e.event === "failed") console.log(e.data.error, e.data.status satisfies "failed" | "cancelled");
    else console.log(e.data.progress, e.data.message?.toUpperCase());
  }
  return lines;
}

export async function watch(client: Client): Promise<void> {
  for await (const change of client.watchEvents({ type: "import-traces" })) {
    const c: ChangeEvent = change;
    if (c.event === "ready") console.log(c.data.seq);
    else console.log(c.data.job_id, c.data.status, isFinished(c.data.status));
  }
}

export async function errors(client: Client): Promise<string> {
  try {
    await client.createJob("demo", { steps: 3 }, { priority: 1, timeout: "30s" });
    return "ok";
  } catch (error) {
    if (error instanceof JobcastError) return `${error.status} ${error.error} ${error.message} ${error.field ?? ""}`;
    throw error;
  }
}

export function Hooks(props: { id: string }): string {
  const { status, progress, logs, result, error, cancel, retry, stage } = useJob(props.id);
  const { upload, progress: sent } = useUpload();
  void cancel;
  void retry;
  void upload;
  return `${status} ${progress} ${logs.length} ${String(result)} ${error ?? ""} ${stage ?? ""} ${sent}`;
}

// @ts-expect-error: the payload type is checked as unknown, but the options are not
void new Client("http://localhost:8080").createJob("demo", {}, { priority: "high" });
