// Types for jobcast.js (served at /jobcast.d.ts).

export type JobStatus = "queued" | "running" | "completed" | "failed" | "cancelled";

export interface LogLine {
  seq: number;
  ts: string;
  level: "info" | "warning" | "error" | "success";
  message: string;
}

export interface JobState {
  status: JobStatus | null;
  progress: number;
  message: string | null;
  current: number | null;
  total: number | null;
  stage: string | null;
  result: unknown;
  error: string | null;
  details: unknown;
  logs: LogLine[];
}

export interface Job {
  id: string;
  type: string;
  status: JobStatus;
  progress: number;
  stream_url: string;
  [field: string]: unknown;
}

export interface ClientOptions {
  /** Server base URL; defaults to the origin jobcast.js was loaded from. */
  base?: string;
  token?: string;
}

export interface CreateOptions extends ClientOptions {
  priority?: number;
  max_attempts?: number;
  timeout?: string;
  run_at?: string;
  idempotency_key?: string;
}

export interface StreamHandlers {
  onOpen?(): void;
  onProgress?(state: JobState): void;
  onLog?(line: LogLine): void;
  onCompleted?(result: unknown, state: JobState): void;
  onFailed?(error: string, details: unknown, state: JobState): void;
  onError?(event: Event): void;
}

export interface JobStream {
  close(): void;
  readonly state: JobState;
  readonly closed: boolean;
}

export function createJob(type: string, payload?: unknown, options?: CreateOptions): Promise<Job>;
/** `jobOrUrl`: a job from the API, its `stream_url`, or (without tokens only) its id. */
export function streamJob(
  jobOrUrl: Pick<Job, "stream_url"> | string,
  handlers?: StreamHandlers,
  options?: ClientOptions,
): JobStream;
