// jobcast/react: React hooks over the jobcast client.
//
//   <JobcastProvider client={new Client({ baseUrl, token })}> ... </JobcastProvider>
//   const { status, progress, message, logs, result, error, cancel, retry } = useJob(jobOrId);
//   const { upload, progress, result } = useUpload();
//
// Each hook stops what it started when the component unmounts (or its job changes), and
// behaves under StrictMode's mount, unmount, mount: the first mount's requests and stream are
// aborted and nothing they would have set is kept.

import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState } from "react";
import type { ReactNode } from "react";
import { applyEvent, Client, isFinished, JobcastError } from "./index.js";
import type { ChildEventData, FamilyCounts, Job, JobState, JobStatus, LogLine, Upload, UploadBody, UploadOptions, UploadProgress } from "./index.js";

const ClientContext = createContext<Client | null>(null);

/** Gives the hooks below it a client (they also take one in their options). */
export function JobcastProvider(props: { client: Client; children?: ReactNode }) {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

/** The client from the options, else from the nearest `JobcastProvider`. */
export function useJobcastClient(client?: Client): Client {
  const fromContext = useContext(ClientContext);
  const found = client ?? fromContext;
  if (!found) throw new Error("jobcast/react: pass { client } or wrap the tree in <JobcastProvider client={...}>");
  return found;
}

export interface UseJobOptions {
  client?: Client;
  /** Load the job's earlier log lines too (default true); else only lines from now on. */
  backlog?: boolean;
  /** Called once when the job completes, fails or is cancelled while followed. */
  onFinished?(state: JobState): void;
}

export type Connection = "idle" | "connecting" | "live" | "reconnecting" | "closed";

export interface UseJobResult {
  /** The job as last read from the API (null until read). */
  job: Job | null;
  status: JobStatus | null;
  progress: number;
  message: string | null;
  current: number | null;
  total: number | null;
  stage: string | null;
  logs: LogLine[];
  /** For a parent: its children by status, and each child's latest change, by id (the
   * parent's stream carries the family: `child` events, and the children's log lines). */
  family: FamilyCounts | null;
  children: Record<string, ChildEventData>;
  result: unknown;
  /** Why the job failed (or `cancelled`), else why following it failed (a refused token, an
   * unknown job), else null. */
  error: string | null;
  details: unknown;
  /** The request error behind `error`, when it was one (status, error code, message). */
  requestError: JobcastError | null;
  connection: Connection;
  /** Cancels the job; resolves with it. */
  cancel(): Promise<Job>;
  /** Queues a failed or cancelled job again and follows it anew. */
  retry(): Promise<Job>;
}

interface HookState extends JobState {
  job: Job | null;
  requestError: JobcastError | null;
  connection: Connection;
}

type Action =
  | { type: "reset" }
  | { type: "job"; job: Job }
  | { type: "backlog"; logs: LogLine[] }
  | { type: "event"; apply: (state: JobState) => void }
  | { type: "connection"; connection: Connection }
  | { type: "failure"; error: JobcastError };

function empty(): HookState {
  return {
    job: null,
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
    family: null,
    children: {},
    version: null,
    requestError: null,
    connection: "idle",
  };
}

function reduce(state: HookState, action: Action): HookState {
  switch (action.type) {
    case "reset":
      return empty();
    case "job": {
      const job = action.job;
      return {
        ...state,
        job,
        status: job.status,
        progress: job.progress,
        message: job.message ?? null,
        current: job.current ?? null,
        total: job.total ?? null,
        stage: job.stage ?? null,
        result: job.result ?? null,
        error: job.error ?? null,
        details: job.details ?? null,
        version: job.version,
        requestError: null,
      };
    }
    case "backlog":
      return { ...state, logs: action.logs };
    case "event": {
      const next: HookState = { ...state, logs: state.logs.slice(), children: { ...state.children } };
      action.apply(next);
      return next;
    }
    case "connection":
      return state.connection === action.connection ? state : { ...state, connection: action.connection };
    case "failure":
      return { ...state, requestError: action.error, error: action.error.message, connection: "closed" };
  }
}

/**
 * Follows one job: its id (read with the client) or the job itself (from `createJob`).
 * Reads the job and its earlier log lines, then its event stream from the version read, so
 * nothing in between is missed, until the terminal event; `retry()` follows it again.
 */
export function useJob(jobOrId: string | Job | null | undefined, options: UseJobOptions = {}): UseJobResult {
  const client = useJobcastClient(options.client);
  const [state, dispatch] = useReducer(reduce, undefined, empty);
  // Bumped by retry(): follow the same job again.
  const [round, setRound] = useState(0);
  const id = jobOrId == null ? null : typeof jobOrId === "string" ? jobOrId : jobOrId.id;
  const given = typeof jobOrId === "object" && jobOrId !== null ? jobOrId : null;
  const givenRef = useRef(given);
  givenRef.current = given;
  const onFinished = useRef(options.onFinished);
  onFinished.current = options.onFinished;
  const backlog = options.backlog ?? true;

  useEffect(() => {
    dispatch({ type: "reset" });
    if (id === null) return;
    const controller = new AbortController();
    const { signal } = controller;
    const send = (action: Action) => {
      if (!signal.aborted) dispatch(action);
    };
    (async () => {
      send({ type: "connection", connection: "connecting" });
      // The job given is used as it is for the first round; a retry reads it again.
      const job = round === 0 && givenRef.current?.id === id ? givenRef.current : await client.getJob(id, { signal });
      send({ type: "job", job });
      // Lines read here may also come on the stream (the stream starts at the version read
      // above, the lines were read after it): the stream's are kept from the next seq on.
      let lastSeq = 0;
      if (backlog) {
        const logs = await client.getLogs(id, { signal });
        lastSeq = logs.length > 0 ? logs[logs.length - 1]!.seq : 0;
        send({ type: "backlog", logs });
      }
      if (isFinished(job.status)) {
        send({ type: "connection", connection: "closed" });
        return;
      }
      const events = client.jobEvents(job, {
        signal,
        lastEventId: job.version,
        onOpen: () => send({ type: "connection", connection: "live" }),
        onRetry: () => send({ type: "connection", connection: "reconnecting" }),
      });
      for await (const event of events) {
        if (event.event === "log" && event.data.seq <= lastSeq) continue;
        send({ type: "event", apply: (s) => void applyEvent(s, event) });
        if (event.event === "completed" || event.event === "failed") {
          const final: JobState = applyEvent({ ...stateOf(job), logs: [] }, event);
          if (!signal.aborted) onFinished.current?.(final);
        }
      }
      send({ type: "connection", connection: "closed" });
    })().catch((error: unknown) => {
      if (signal.aborted) return;
      send({
        type: "failure",
        error: error instanceof JobcastError ? error : new JobcastError(0, "unexpected", String(error)),
      });
    });
    return () => controller.abort();
  }, [client, id, round, backlog]);

  const cancel = useCallback(async () => {
    if (id === null) throw new Error("jobcast/react: no job to cancel");
    return client.cancel(id);
  }, [client, id]);
  const retry = useCallback(async () => {
    if (id === null) throw new Error("jobcast/react: no job to retry");
    const job = await client.retry(id);
    setRound((n) => n + 1);
    return job;
  }, [client, id]);

  return useMemo(
    () => ({
      job: state.job,
      status: state.status,
      progress: state.progress,
      message: state.message,
      current: state.current,
      total: state.total,
      stage: state.stage,
      logs: state.logs,
      family: state.family,
      children: state.children,
      result: state.result,
      error: state.error,
      details: state.details,
      requestError: state.requestError,
      connection: state.connection,
      cancel,
      retry,
    }),
    [state, cancel, retry],
  );
}

function stateOf(job: Job): JobState {
  return {
    status: job.status,
    progress: job.progress,
    message: job.message ?? null,
    current: job.current ?? null,
    total: job.total ?? null,
    stage: job.stage ?? null,
    result: job.result ?? null,
    error: job.error ?? null,
    details: job.details ?? null,
    logs: [],
    family: job.family ?? null,
    children: {},
    version: job.version,
  };
}

export interface UseUploadOptions {
  client?: Client;
  contentType?: string;
}

export interface UseUploadResult {
  /** Sends the file; resolves with the upload (its `upload_id` goes in a job's payload). */
  upload(file: UploadBody, options?: Pick<UploadOptions, "contentType">): Promise<Upload>;
  status: "idle" | "uploading" | "done" | "error";
  /** 0 to 100. */
  progress: number;
  loaded: number;
  total: number;
  result: Upload | null;
  error: JobcastError | null;
  /** Stops the upload under way. */
  abort(): void;
  reset(): void;
}

/** Uploads one file at a time with its progress; an upload under way stops on unmount. */
export function useUpload(options: UseUploadOptions = {}): UseUploadResult {
  const client = useJobcastClient(options.client);
  const [state, setState] = useState<{
    status: UseUploadResult["status"];
    progress: UploadProgress;
    result: Upload | null;
    error: JobcastError | null;
  }>({ status: "idle", progress: { loaded: 0, total: 0, percent: 0 }, result: null, error: null });
  const current = useRef<AbortController | null>(null);
  const contentType = options.contentType;

  useEffect(() => () => current.current?.abort(), []);

  const upload = useCallback(
    async (file: UploadBody, uploadOptions: Pick<UploadOptions, "contentType"> = {}) => {
      current.current?.abort();
      const controller = new AbortController();
      current.current = controller;
      const mine = () => current.current === controller && !controller.signal.aborted;
      setState({ status: "uploading", progress: { loaded: 0, total: 0, percent: 0 }, result: null, error: null });
      try {
        const result = await client.uploadFile(file, {
          signal: controller.signal,
          contentType: uploadOptions.contentType ?? contentType,
          onProgress: (progress) => {
            if (mine()) setState((s) => ({ ...s, progress }));
          },
        });
        if (mine()) setState((s) => ({ ...s, status: "done", result, progress: { ...s.progress, percent: 100 } }));
        return result;
      } catch (error) {
        const failure = error instanceof JobcastError ? error : new JobcastError(0, "unexpected", String(error));
        if (current.current === controller) setState((s) => ({ ...s, status: "error", error: failure }));
        throw failure;
      }
    },
    [client, contentType],
  );
  const abort = useCallback(() => current.current?.abort(), []);
  const reset = useCallback(() => {
    current.current?.abort();
    current.current = null;
    setState({ status: "idle", progress: { loaded: 0, total: 0, percent: 0 }, result: null, error: null });
  }, []);

  return {
    upload,
    status: state.status,
    progress: state.progress.percent,
    loaded: state.progress.loaded,
    total: state.progress.total,
    result: state.result,
    error: state.error,
    abort,
    reset,
  };
}
