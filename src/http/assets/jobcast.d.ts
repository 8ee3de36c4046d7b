// jobcast.d.ts: the types of the jobcast client, served by jobcast itself at /jobcast.js (and its types at
// /jobcast.d.ts). Built from clients/typescript (the npm package `jobcast`) by
// `npm run build:assets`: do not edit here.

// ---- The API's types, generated from its OpenAPI document ----

export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Liveness check
         * @description 200 whenever the process answers; it does not touch the database, so a database hiccup never gets a live process restarted. Use `/readyz` to decide whether to send traffic.
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["health"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Readiness check
         * @description 200 when the database has every migration of this build and its write lock can be taken, and the runner has started; 503 with the reason otherwise, and from the moment shutdown begins (so a load balancer stops sending traffic while streams drain).
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["ready"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Prometheus metrics
         * @description Metrics in the OpenMetrics text format (which Prometheus scrapes): jobs by type and status, jobs finished by type and outcome, run and queue-wait time histograms, attempts and retries, streams open/opened/closed, SSE events sent by name, poller tick duration and rows, HTTP requests by route template and status, store errors. All names start with `jobcast_`.
         *
         *     Role: `read`, `submit` or `admin` when tokens are on, unless `auth.public_metrics` is set.
         */
        get: operations["metrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * This document
         * @description The OpenAPI 3.2 description of this API.
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["openapi"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/types": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The job types: settings, paused or not, jobs by status, waiting and throughput
         * @description Every declared job type: its kind and settings, whether it is paused, its jobs by status, how long the job that has waited longest has been due, and how many of its jobs finished in the last minute and hour. Cheap enough to poll every few seconds with a million jobs stored: queued and running jobs are counted from their indexes, finished ones from counters the database keeps as jobs finish (see docs/benchmarks.md).
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["listJobTypes"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/types/{type}/pause": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Pause a job type
         * @description Pauses the type: from the answer on, no queued job of it is claimed by anyone (the runners of every node, `POST /api/workers/claim`), until it is resumed. Jobs already running go on; new jobs of the type are accepted and wait. The pause is kept in the database: it holds for every node and across restarts. A queued job's stream and JSON say `paused`. Pausing a paused type changes nothing (its `paused_at` stays).
         *
         *     Role: `admin`.
         */
        post: operations["pauseType"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/types/{type}/resume": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Resume a paused job type
         * @description Ends the type's pause: its queued jobs are claimed at once, by this node's runner and waiting workers and (with PostgreSQL) every other node's. Resuming a type that is not paused changes nothing.
         *
         *     Role: `admin`.
         */
        post: operations["resumeType"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/schedules": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List the schedules
         * @description Every schedule declared under `[[schedules]]` in the config, in its order, with its state: paused, its next tick, its last run and that run's job, and how many runs it has made. Each tick makes exactly one job, however many nodes run: its `idempotency_key` is `schedule:NAME:TICK` (the tick in RFC 3339), and it is listed by `GET /api/jobs?schedule=NAME`.
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["listSchedules"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/schedules/{name}/pause": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Pause a schedule
         * @description Its ticks make no job until it is resumed (on every node; kept in the database). Ticks that pass while paused are not made up.
         *
         *     Role: `admin`.
         */
        post: operations["pauseSchedule"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/schedules/{name}/resume": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Resume a schedule
         * @description Its next tick makes a job again.
         *
         *     Role: `admin`.
         */
        post: operations["resumeSchedule"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/schedules/{name}/trigger": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Run a schedule now
         * @description Makes the schedule's job now, paused or not, and counts it as a run (its `idempotency_key` is `schedule:NAME:manual:UUID`). 201 with the schedule and the job, and the job's `Location`.
         *
         *     Role: `admin`.
         */
        post: operations["triggerSchedule"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List jobs
         * @description Jobs newest first, one page at a time. Pass `next_cursor` as `cursor` for the next page; pages stay stable while jobs are added.
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["listJobs"];
        put?: never;
        /**
         * Create a job
         * @description Queues a job of a declared type. A repeated `idempotency_key` for the same type returns the existing job with 200 instead of creating another. A job's payload may name an upload (`payload.upload_id`, from `POST /api/uploads`); an unknown one is 422.
         *
         *     Limits: the body is at most `http.max_body_bytes` (1 MiB by default, else 413), its JSON nests at most `limits.max_json_depth` deep (32, else 400 `json_too_deep`), the payload is at most `limits.max_payload_bytes` as JSON (256 KiB, else 422); each token (or client address) creates at most `limits.create_rate` jobs per second after a burst of `limits.create_burst` (else 429 `too_many_requests`), and a type holds at most `limits.max_queued_per_type` queued jobs (else 503 `queue_full`); both answers carry `Retry-After`. To create many jobs in one request, see `POST /api/jobs/bulk`.
         *
         *     Role: `submit` or `admin`.
         */
        post: operations["createJob"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/bulk": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Create many jobs at once
         * @description Queues many jobs in one request, each exactly the body `POST /api/jobs` takes. All of them are checked before any is stored: the first job that is wrong makes the whole request 422 `invalid_field`, with `field` named from the top (`jobs[3].type`) and `index` its place in `jobs`, and nothing is stored. Then they are stored together, in one transaction, or not at all. Idempotency keys work per job as in `POST /api/jobs`: a job whose `idempotency_key` already names a job of its type answers that job with `created: false`, and a key used twice in one request makes one job. The answer lists every job in the order sent: 201 when at least one was created, 200 when every one already existed.
         *
         *     Limits: `jobs` holds at most `http.max_bulk_jobs` jobs (1000 by default), and never more than `limits.create_burst` (500 by default), since each job takes a creation from the rate limiter's bucket; the served document gives this server's number as `maxItems` (more is 422). The body is at most `http.max_bulk_body_bytes` (16 MiB by default, else 413); each job may nest as deep as in `POST /api/jobs` (the body at most `limits.max_json_depth` + 2 deep, else 400 `json_too_deep`), and each payload is at most `limits.max_payload_bytes` as JSON (422). The jobs take their creations from the token's (or client address's) bucket all at once or not at all: 429 `too_many_requests` when fewer are left. Each type's queue must have room for all of the request's jobs of that type: 503 `queue_full` when it has not (422 when they are more than `limits.max_queued_per_type`, which waiting would not change). An upload a payload names must exist (422).
         *
         *     Role: `submit` or `admin`.
         */
        post: operations["createJobs"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Cancel every job matching a filter
         * @description Cancels, as `POST /api/jobs/{id}/cancel` does each one, every unfinished job that matches: queued jobs, and running jobs of `external` types, are `cancelled` at once; running in-process jobs are asked to stop (`stopping`) and their runners stop them. Finished jobs are left alone. Applied in steps of at most 500 jobs, each one short transaction, so other writes (creates, claims, progress) wait for one step at most; each changed job gets a version and a change number of its own, so its stream and `GET /api/events` see the change. A filter that matches nothing is 200 with `affected: 0`. The whole action runs to its end even if the client goes away.
         *
         *     Role: `admin`.
         */
        post: operations["cancelJobs"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/retry": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Retry every failed or cancelled job matching a filter
         * @description Queues again, as `POST /api/jobs/{id}/retry` does each one, every `failed` or `cancelled` job that matches: same id, a fresh attempt budget, a line in its log. Other jobs are left alone. Applied in steps of at most 500 jobs, each one short transaction, so other writes (creates, claims, progress) wait for one step at most; each changed job gets a version and a change number of its own, so its stream and `GET /api/events` see the change. A filter that matches nothing is 200 with `affected: 0`. The whole action runs to its end even if the client goes away.
         *
         *     Role: `admin`.
         */
        post: operations["retryJobs"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a job
         * @description The job, or 404.
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["getJob"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Follow a job as Server-Sent Events
         * @description The job's event stream. A new connection starts at the job's current state: one `progress` event, or for a finished job its terminal event (earlier log lines are at `GET /api/jobs/{id}/logs`). Event ids are the job's `version`: a client that reconnects with `Last-Event-ID` (or `?last_event_id=`) gets only what is newer, and 204 when it has already seen the terminal event, which tells `EventSource` to stop. The body ends 100 ms (`stream.close_delay`) after the terminal event.
         *
         *     Browsers, whose `EventSource` cannot send a header, use the job's `stream_url`, which carries a signed `token` when tokens are on.
         *
         *     Limits: open streams in total (`limits.max_streams`), per client address (`limits.max_streams_per_client`) and per job (`limits.max_streams_per_job`); past one, 429 `too_many_requests` with `Retry-After`.
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["streamJob"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}/logs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Read a job's log lines
         * @description Log lines after sequence number `after`, oldest first, at most `limit` of them. A job keeps its newest `limits.max_log_lines_per_job` lines (100 000 by default); older ones are dropped.
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["listJobLogs"];
        put?: never;
        /**
         * Add a log line to an external job
         * @description For jobs of an `external` type only. A claimed job's updates carry the worker's `Jobcast-Lease`.
         *
         *     Role: `worker` or `admin`.
         */
        post: operations["addJobLog"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}/attempts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Read a job's attempt history
         * @description Every ended attempt of the job, oldest first: one for each time it left `running` (its handler or worker ended it, its lease expired, it was cancelled, or its runner put it back at shutdown), and one when outside code ended a queued job at once. A job that never ended an attempt has none. Attempts go when their job is deleted (retention).
         *
         *     `attempt` is the job's attempt counter during the attempt: a manual retry starts it again from 1, and an attempt that is not counted (`requeued`, `waiting`) shares its number with the next one, so numbers may repeat; the order of the list is the order the attempts ended.
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["listJobAttempts"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}/children": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List a job's children
         * @description The jobs this job made (see "Parent and child jobs" in the README), oldest first, a page at a time: pass `next_cursor` as `cursor` for the next page; paging never skips or repeats a child. Each child is an ordinary job with its own stream; after the parent has waited for them, their `result` and `error` are what its next run reads.
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["listJobChildren"];
        put?: never;
        /**
         * Make child jobs of a job
         * @description Makes child jobs of the job, all or none, in one transaction with the check that the caller may report on it: the worker holding its lease (`Jobcast-Lease`), or outside code for an unclaimed `external` job. Each child is what `POST /api/jobs` takes (checked the same way; the first wrong one makes the request 422 with `field` named from the top, `children[3].type`, and nothing is made), an ordinary queued job of its type naming this job as `parent_id`. When the job is then completed it becomes `waiting` (no worker, no lease) until every child has ended, then `queued` again for a run that reads their outcomes (`GET /api/jobs/{id}/children`). A child whose `idempotency_key` already names a child of this job answers that child with `created: false`. Family limits: `runner.max_child_depth` and `runner.max_children` (409 `conflict` naming the limit, nothing made). 201 when at least one child was made, 200 when all existed.
         *
         *     Role: `worker` or `admin`.
         */
        post: operations["spawnJobChildren"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Cancel a job
         * @description A queued job is `cancelled` at once (200). A running one is stopped: the answer waits up to 1 s for it and says `cancelled` (200), or 202 while it is still stopping. An `external` job is cancelled at once and its later updates get 409. A finished job: 409.
         *
         *     Role: `submit` or `admin`.
         */
        post: operations["cancelJob"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}/retry": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Retry a failed or cancelled job
         * @description A `failed` or `cancelled` job goes back to `queued`: same id, a fresh attempt budget, its log lines so far kept. Any other status: 409.
         *
         *     Role: `submit` or `admin`.
         */
        post: operations["retryJob"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}/progress": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Report an external job's progress
         * @description Fields left out keep their value. A queued job becomes `running` on its first update. Answers 409 on a finished job, on jobs of in-process types (such as `demo`), and on a claimed job without its `Jobcast-Lease` or with a lease that was lost.
         *
         *     Role: `worker` or `admin`.
         */
        post: operations["reportProgress"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}/complete": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Complete an external job
         * @description The job ends `completed` with `result` (null when left out). An empty body counts as `{}`.
         *
         *     Role: `worker` or `admin`.
         */
        post: operations["completeJob"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/jobs/{id}/fail": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Fail an external job
         * @description Without a lease the job ends `failed`. A worker's failed attempt (one under a `Jobcast-Lease`) is retried with backoff while attempts remain: the job goes back to `queued`.
         *
         *     Role: `worker` or `admin`.
         */
        post: operations["failJob"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Follow every job's changes as Server-Sent Events
         * @description One stream for a page that lists jobs. Each event carries one job that changed, in its current state; its name follows the job stream's (`progress`, `completed`, `failed`). Event ids are the global change sequence: a reconnect with `Last-Event-ID` gets every job that changed since. `type` and `status` filter on the job's state after the change.
         *
         *     With tokens on, a browser uses the URL from `GET /api/events/token`, signed for exactly its filter.
         *
         *     Limits: as the job stream (in total and per client address), 429 `too_many_requests` with `Retry-After`.
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["streamEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/events/token": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a signed /api/events URL for a browser
         * @description The `/api/events` URL for the filter, with a signed `token` when tokens are on (valid for `auth.stream_token_ttl`, 1 h by default), for an `EventSource`.
         *
         *     Role: `read`, `submit` or `admin`.
         */
        get: operations["eventsUrl"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/workers/claim": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Claim a queued external job
         * @description Hands one queued job of the named `external` types to the worker under a lease: the job plus `lease_id` and `lease_expires_at`. The worker's progress, logs, complete and fail calls carry `Jobcast-Lease: <lease_id>`; each accepted one extends the lease by its length. A lease that runs out puts the job back in the queue (or fails it when its attempts are used up). `wait` makes the call a long poll, answered as soon as a job is queued; 204 when none came in time. With `max`, up to that many jobs are claimed at once and answered as `{"jobs": [...]}` (`ClaimedJobs`), all under one `lease_id`; 204 the same when none came.
         *
         *     Role: `worker` or `admin`.
         */
        post: operations["claimJob"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/uploads": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Upload a file for a job
         * @description The raw body (its `Content-Type` kept; no body is an empty file), or the first file of a `multipart/form-data` form (a part with a filename, or named `file`). Streamed to disk, never held in memory, up to `uploads.max_bytes` (256 MiB by default; 413 past it, and nothing is left behind). A job's payload names the upload as `upload_id`; uploads no job refers to are removed after `uploads.keep_unused` (1 h).
         *
         *     Role: `submit` or `admin`.
         */
        post: operations["uploadFile"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The dashboard
         * @description The dashboard page: counts by status, the job types and schedules, the jobs with live progress, server-side filters and search, bulk actions, a job view, a "new job" form. Compiled into the binary; served with `Cache-Control: no-cache`.
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["dashboardPage"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard.js": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The dashboard's script
         * @description The dashboard's ES module. Compiled into the binary; served with `Cache-Control: no-cache`.
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["dashboardScript"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard-lib.js": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The dashboard's shared helpers
         * @description The dashboard's module of shared helpers (API calls, roles, formatting), imported by the others. Compiled into the binary; served with `Cache-Control: no-cache`.
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["dashboardLibrary"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard-job.js": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The dashboard's job view
         * @description The dashboard's job view module. Compiled into the binary; served with `Cache-Control: no-cache`.
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["dashboardJobView"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard.css": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The dashboard's styles
         * @description The dashboard's stylesheet. Compiled into the binary; served with `Cache-Control: no-cache`.
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["dashboardStyles"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/jobcast.js": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The browser client
         * @description A dependency-free ES module: `createJob`, `streamJob` and friends. Compiled into the binary; served with `Cache-Control: no-cache`.
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["clientModule"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/jobcast.d.ts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The browser client's TypeScript types
         * @description TypeScript declarations for `/jobcast.js`. Compiled into the binary; served with `Cache-Control: no-cache`.
         *
         *     Public: no token needed, also when tokens are on.
         */
        get: operations["clientTypes"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description Every error answer. `error` is a stable code; `message` is for people. */
        Error: {
            /** @enum {string} */
            error: "bad_request" | "malformed_json" | "json_too_deep" | "unauthorized" | "forbidden" | "not_found" | "method_not_allowed" | "conflict" | "payload_too_large" | "invalid_field" | "too_many_requests" | "headers_too_large" | "internal" | "unavailable" | "queue_full";
            message: string;
            /** @description For `invalid_field`: the field at fault, e.g. `priority`, `payload.steps`, `limit`. */
            field?: string;
            /** @description For `invalid_field` about one job of `POST /api/jobs/bulk`: the job's place in `jobs` (0 first); `field` then starts `jobs[index]`. */
            index?: number;
        };
        /**
         * @description `queued` → `running` → `completed`, `failed` or `cancelled` (finished; never change again). A failed attempt with attempts left, an expired lease or a retry queues the job again. `waiting`: a parent whose run ended while children it made were unfinished; it holds no worker and is queued again when its last child ends (or fails when a child fails and its policy is `fail_fast`).
         * @enum {string}
         */
        JobStatus: "queued" | "running" | "waiting" | "completed" | "failed" | "cancelled";
        /** @enum {string} */
        LogLevel: "info" | "warning" | "error" | "success";
        /**
         * Format: date-time
         * @description RFC 3339, UTC, millisecond precision.
         */
        Timestamp: string;
        /** @description A job. Fields that are null are left out. */
        Job: {
            /**
             * Format: uuid
             * @description UUID v7: sorts by creation time.
             */
            id: string;
            /** @description A job type declared in config. */
            type: string;
            status: components["schemas"]["JobStatus"];
            progress: number;
            /** @description What the job last said about its progress. */
            message?: string;
            current?: number;
            total?: number;
            stage?: string;
            /** @description The job's input, as given (null when none was). */
            payload: unknown;
            /** @description What a completed job produced. */
            result?: unknown;
            /** @description Why the last attempt failed. */
            error?: string;
            /** @description Anything structured about the failure. */
            details?: unknown;
            priority: number;
            /** @description Attempts started so far. */
            attempt: number;
            max_attempts: number;
            /** @description The job's own per-attempt limit, like `30s` or `1h 30m`. */
            timeout?: string;
            idempotency_key?: string;
            run_at: components["schemas"]["Timestamp"];
            created_at: components["schemas"]["Timestamp"];
            started_at?: components["schemas"]["Timestamp"];
            finished_at?: components["schemas"]["Timestamp"];
            updated_at: components["schemas"]["Timestamp"];
            /** @description Grows on every change to the job, its log lines included; the job stream's event id. */
            version: number;
            /**
             * @description Present while a running job is being stopped.
             * @constant
             */
            cancel_requested?: true;
            /** @description The external worker holding the job, while one does. */
            worker?: string;
            /** @description Where its event stream is; with tokens on, it carries a signed `token`. */
            stream_url: string;
            /** @description The schedule that made the job (its `idempotency_key` is `schedule:NAME:...`). */
            schedule?: string;
            /**
             * @description Present (true) while the job is queued and its type is paused: nobody claims it until the type is resumed.
             * @constant
             */
            paused?: true;
            /**
             * Format: uuid
             * @description The job that made this one, for a child job (see `GET /api/jobs/{id}/children`).
             */
            parent_id?: string;
            /** @description How many children this job has made, for a parent; absent for a job that made none. */
            children?: number;
            /** @description For a parent: its children by status. */
            family?: components["schemas"]["FamilyCounts"];
        };
        JobPage: {
            jobs: components["schemas"]["Job"][];
            /**
             * Format: uuid
             * @description Pass as `cursor` for the next page; null on the last page.
             */
            next_cursor: string | null;
        };
        /** @description The answer to a bulk create: one entry per job sent, in the order sent. */
        BulkCreated: {
            jobs: components["schemas"]["BulkCreatedJob"][];
        };
        BulkCreatedJob: {
            /** @description False when the job's `idempotency_key` already named a job of its type (made earlier, or by an earlier job of this request): `job` is that job. */
            created: boolean;
            job: components["schemas"]["Job"];
        };
        /** @description A claimed job: the job and its lease. */
        ClaimedJob: components["schemas"]["Job"] & {
            /** @description Send it as `Jobcast-Lease` with the job's updates. */
            lease_id: string;
            lease_expires_at: components["schemas"]["Timestamp"] | null;
        };
        /** @description The answer to a claim with `max`: the jobs claimed, highest priority first, then oldest. They share one `lease_id`; each job's lease runs out, or is extended by that job's updates, on its own. */
        ClaimedJobs: {
            jobs: components["schemas"]["ClaimedJob"][];
        };
        LogLine: {
            /** @description 1, 2, 3... per job. */
            seq: number;
            ts: components["schemas"]["Timestamp"];
            level: components["schemas"]["LogLevel"];
            message: string;
            /**
             * Format: uuid
             * @description On a parent's log and stream: the child (or grandchild, further down the family) that wrote this line (children's lines are copied onto their parent's, so one stream follows the whole family).
             */
            child_id?: string;
        };
        LogPage: {
            logs: components["schemas"]["LogLine"][];
        };
        /** @description A declared job type: its settings, whether it is paused, its jobs by status, how long its longest-waiting due job has waited, and how many of its jobs finished lately. */
        JobType: {
            name: string;
            /** @enum {string} */
            kind: "demo" | "external" | "command" | "rust";
            /** @description Jobs of this type work on an uploaded file. */
            file_input: boolean;
            max_attempts: number;
            /** @description At most this many of its jobs run at once in one process; null for no limit. */
            concurrency: number | null;
            /** @description Paused: its queued jobs are claimed by nobody (neither a runner nor a worker, on any node) until it is resumed; running jobs go on and new jobs are accepted and wait. */
            paused: boolean;
            /** @description Since when it is paused; null when it is not. */
            paused_at: components["schemas"]["Timestamp"] | null;
            /** @description Its jobs by status, now. */
            counts: {
                queued: number;
                running: number;
                waiting: number;
                completed: number;
                failed: number;
                cancelled: number;
            };
            /** @description How long, in milliseconds, its queued job that has waited longest has been due (jobs whose `run_at` is still to come are not waiting); null when none is due. */
            oldest_queued_age_ms: number | null;
            /** @description Its jobs that finished (completed, failed or cancelled) in the last 60 seconds, to the second; a job retried and finished again counts each time. */
            finished_last_minute: number;
            /** @description The same over the last hour. */
            finished_last_hour: number;
            /** @description Its jobs finished in each of the last 60 minutes, oldest first; the last is `finished_last_minute`, and they add up to `finished_last_hour` (for a sparkline). */
            finished_per_minute: number[];
            /** @description Its jobs that failed for good in the last hour (a failed attempt that was retried is not one). */
            failed_last_hour: number;
        };
        EventsUrl: {
            /** @description `/api/events` with the filter, and `token` when tokens are on. */
            url: string;
        };
        Health: {
            /** @constant */
            status: "ok";
        };
        Upload: {
            /** @description Name it in a job's payload as `upload_id`. */
            upload_id: string;
            /** @description Bytes. */
            size: number;
            sha256: string;
            /** @description As sent (the part's for a form) */
            content_type: string | null;
            /** @description The form's file name, for a multipart upload. */
            filename?: string;
            created_at: components["schemas"]["Timestamp"];
        };
        UploadForm: {
            /** @description The file, any bytes: the first part with a filename, or the part named `file`. Other parts are ignored. (A part whose schema has no `type` is `application/octet-stream`.) */
            file: unknown;
        };
        /** @description An empty body counts as `{}` (and then `type` is missing: 422). */
        CreateJob: {
            /**
             * @description A declared job type (`GET /api/types`); an undeclared one is 422. The served document lists this server's declared types.
             * @enum {string}
             */
            type: "demo" | "external";
            /** @description The job's input, any JSON, checked by the type's handler: see `DemoPayload` for the `demo` kind; other kinds take any JSON (a `command` type hands it to its program). `upload_id` names an upload from `POST /api/uploads` (an unknown one is 422). At most `limits.max_payload_bytes` as JSON (256 KiB by default). */
            payload?: unknown;
            /**
             * @description Higher runs first.
             * @default 0
             */
            priority?: number | null;
            /** @description Default: the type's `max_attempts`. */
            max_attempts?: number | null;
            /**
             * @description Per-attempt limit, above zero and at most 7 days. Default: the type's. The pattern is the documented form, a whole number and a unit (`s`, `m`, `h` or `d`); the server reads any humantime duration, such as the `1h 30m` a job's `timeout` shows.
             * @example 30s
             * @example 5m
             */
            timeout?: string | null;
            /**
             * Format: date-time
             * @description Not run before this RFC 3339 time.
             */
            run_at?: string | null;
            /** @description 1 to 1024 bytes, not starting with `schedule:` (the schedules' own keys). A repeat for the same type returns the existing job (200). Lengths here are in UTF-8 bytes, which JSON Schema cannot count: `maxLength` is that many characters, and text outside ASCII reaches the byte limit sooner. */
            idempotency_key?: string | null;
        } | {
            /** @enum {unknown} */
            type?: "demo";
            payload?: components["schemas"]["DemoPayload"];
        } | {
            /** @enum {unknown} */
            type?: "external";
        };
        /** @description Jobs to create together, all or none. */
        BulkCreate: {
            /** @description Each what `POST /api/jobs` takes. At most `http.max_bulk_jobs` and at most `limits.create_burst` (so 500 with the default settings); the served document gives this server's number. */
            jobs: components["schemas"]["CreateJob"][];
        };
        ProgressBody: {
            progress: number;
            /** @description At most `limits.max_log_line_bytes` bytes (16 KiB by default). Lengths here are in UTF-8 bytes, which JSON Schema cannot count: `maxLength` is that many characters, and text outside ASCII reaches the byte limit sooner. */
            message?: string | null;
            current?: number | null;
            total?: number | null;
            /** @description At most 1024 bytes. Lengths here are in UTF-8 bytes, which JSON Schema cannot count: `maxLength` is that many characters, and text outside ASCII reaches the byte limit sooner. */
            stage?: string | null;
        };
        LogBody: {
            /** @default info */
            level?: components["schemas"]["LogLevel"];
            /** @description At most `limits.max_log_line_bytes` bytes (16 KiB by default). Lengths here are in UTF-8 bytes, which JSON Schema cannot count: `maxLength` is that many characters, and text outside ASCII reaches the byte limit sooner. */
            message: string;
        };
        CompleteBody: {
            /** @description What the job produced, any JSON; at most `limits.max_payload_bytes` as JSON. */
            result?: unknown;
        };
        FailBody: {
            /** @description Why, in a line: not blank (some character other than white space), at most `limits.max_log_line_bytes` bytes (16 KiB by default). Lengths here are in UTF-8 bytes, which JSON Schema cannot count: `maxLength` is that many characters, and text outside ASCII reaches the byte limit sooner. */
            error: string;
            /** @description Anything structured, any JSON; at most `limits.max_payload_bytes` as JSON. */
            details?: unknown;
        };
        ClaimBody: {
            /** @description Declared `external` types to take a job of; the served document lists this server's. */
            types: "external"[];
            /**
             * @description The worker's name, 1 to 200 bytes and not blank; shown as the job's `worker`. Lengths here are in UTF-8 bytes, which JSON Schema cannot count: `maxLength` is that many characters, and text outside ASCII reaches the byte limit sooner.
             * @default worker
             */
            worker?: string | null;
            /**
             * @description A duration from 1s to 1h: a whole number and a unit (`s`, `m` or `h`). The server reads any humantime duration in that range.
             * @default 30s
             */
            lease?: string | null;
            /**
             * @description Long poll: a duration up to 60s, a whole number and a unit (`ms`, `s` or `m`). The server reads any humantime duration in that range.
             * @default 0s
             */
            wait?: string | null;
            /** @description Claim up to this many jobs at once (1 to 100), in one step: the answer is then `{"jobs": [...]}` with 1 to `max` jobs under one `lease_id`. Without it (or null), one job, answered as the job itself. */
            max?: number | null;
        };
        /**
         * @example {
         *       "status": "running",
         *       "progress": 40,
         *       "message": "step 4/10",
         *       "current": 4,
         *       "total": 10,
         *       "stage": "counting"
         *     }
         * @example {
         *       "status": "queued",
         *       "progress": 0,
         *       "paused": true
         *     }
         */
        ProgressEvent: {
            /**
             * @description The job is unfinished.
             * @enum {string}
             */
            status: "queued" | "running" | "waiting";
            progress: number;
            message?: string;
            current?: number;
            total?: number;
            stage?: string;
            /**
             * @description Present (true) while the job is queued and its type is paused.
             * @constant
             */
            paused?: true;
            /** @description For a parent: its children by status. A parent's `progress` is its family's, rolled up from its children's (each weighted by its `total` when every one reports one, equally otherwise; a finished child counts as 100) and never going back. */
            family?: components["schemas"]["FamilyCounts"];
        };
        CompletedEvent: {
            /** @constant */
            status: "completed";
            /** @constant */
            progress: 100;
            /** @description The job's result (null when it gave none). */
            result: unknown;
        };
        FailedEvent: {
            /** @enum {string} */
            status: "failed" | "cancelled";
            error: string;
            details?: unknown;
        };
        /** @description One job's state after a change, on `/api/events`. */
        JobEvent: {
            /** Format: uuid */
            job_id: string;
            type: string;
            status: components["schemas"]["JobStatus"];
            progress: number;
            message?: string;
            current?: number;
            total?: number;
            stage?: string;
            /** @description Only when `completed`. */
            result?: unknown;
            /** @description Only when finished. */
            error?: string;
            /** @description Only when finished. */
            details?: unknown;
            attempt: number;
            version: number;
            updated_at: components["schemas"]["Timestamp"];
        };
        ReadyEvent: {
            seq: number;
        };
        Readiness: {
            /** @enum {string} */
            status: "ready" | "not_ready";
            /** @description Why the server is not ready: shutting down, the runner not started yet, or the database not migrated, not writable or not answering in time. */
            reason?: string;
        };
        /** @description One event of `GET /api/jobs/{id}/stream`, as parsed: its name (`event`), `id` and `data`. An `EventSource` (or any client following the HTML standard's event-stream rules) reads the body as events; this is one of them. The body starts with a `retry:` field (the reconnect delay, `stream.retry`) in a block of its own, then the events, each with `event:` (its name), `id:` and one `data:` line of JSON; a `: heartbeat` comment comes every 30 s (`stream.heartbeat`). The body ends by itself after `stream.max_duration` (5 minutes by default; reconnect to go on) and at shutdown. */
        JobStreamEvent: {
            /** @constant */
            event: "progress";
            /** @description The job's `version` at that event: send it back as `Last-Event-ID` to resume after it. */
            id: string;
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        } | {
            /** @constant */
            event: "progress";
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        } | {
            /** @constant */
            event: "log";
            /** @description The job's `version` at that event: send it back as `Last-Event-ID` to resume after it. */
            id: string;
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        } | {
            /** @constant */
            event: "child";
            /** @description The parent's `version` at which the child last changed: the stream's ids stay one number for the whole family. */
            id: string;
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        } | {
            /** @constant */
            event: "completed";
            /** @description The job's `version` at that event: send it back as `Last-Event-ID` to resume after it. */
            id: string;
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        } | {
            /** @constant */
            event: "failed";
            /** @description The job's `version` at that event: send it back as `Last-Event-ID` to resume after it. */
            id: string;
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        };
        /** @description One event of `GET /api/events`, as parsed: its name (`event`), `id` and `data`. An `EventSource` (or any client following the HTML standard's event-stream rules) reads the body as events; this is one of them. The body starts with a `retry:` field (the reconnect delay, `stream.retry`) in a block of its own, then the events, each with `event:` (its name), `id:` and one `data:` line of JSON; a `: heartbeat` comment comes every 30 s (`stream.heartbeat`). The body ends by itself after `stream.max_duration` (5 minutes by default; reconnect to go on) and at shutdown. */
        ChangeEvent: {
            /** @constant */
            event: "ready";
            /** @description The global change sequence number: send it back as `Last-Event-ID` to resume after it. */
            id: string;
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        } | {
            /** @constant */
            event: "progress";
            /** @description The global change sequence number: send it back as `Last-Event-ID` to resume after it. */
            id: string;
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        } | {
            /** @constant */
            event: "completed";
            /** @description The global change sequence number: send it back as `Last-Event-ID` to resume after it. */
            id: string;
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        } | {
            /** @constant */
            event: "failed";
            /** @description The global change sequence number: send it back as `Last-Event-ID` to resume after it. */
            id: string;
            /** @description JSON, on one line. */
            data: string;
            /** @description The reconnect delay in milliseconds; jobcast sends it before the first event, in a block without data, so a parser that keeps it per event sees it there at most. */
            retry?: number;
        };
        /** @description The payload of a `demo` type: it counts `steps` steps of `step_ms` each. Null or `{}` takes the defaults. */
        DemoPayload: {
            /** @default 10 */
            steps?: number;
            /** @default 200 */
            step_ms?: number;
            /** @description Fail the attempt at this step, which is at most `steps` (a rule across two fields, which JSON Schema cannot state). */
            fail_at_step?: number | null;
        } | null;
        /**
         * @description A periodic job declared under `[[schedules]]` in the config, and its state, which every node shares.
         * @example {
         *       "name": "nightly-import",
         *       "type": "import-traces",
         *       "cron": "0 2 * * *",
         *       "timezone": "Europe/Berlin",
         *       "missed": "skip",
         *       "payload": {
         *         "path": "traces-1000.jsonl"
         *       },
         *       "paused": false,
         *       "next_run_at": "2026-11-22T01:00:00.000Z",
         *       "last_run_at": "2026-11-21T01:00:00.000Z",
         *       "last_job_id": "0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f",
         *       "run_count": 12
         *     }
         */
        Schedule: {
            name: string;
            /** @description The job type of the jobs it makes. */
            type: string;
            /** @description Five fields (minute hour day-of-month month day-of-week), or six with seconds first. */
            cron: string;
            /** @description The IANA time zone the expression is read in. */
            timezone: string;
            /**
             * @description Ticks missed while no node ran: skipped, or the latest of them run once at start.
             * @enum {string}
             */
            missed: "skip" | "run-once";
            /** @description The payload of every job it makes. */
            payload: unknown;
            /** @description Paused: its ticks make no job (a trigger still does). */
            paused: boolean;
            /** @description Its next tick; null while paused. */
            next_run_at: components["schemas"]["Timestamp"] | null;
            /** @description The tick of its last run (a trigger's time for a trigger); null before the first. */
            last_run_at: components["schemas"]["Timestamp"] | null;
            /**
             * Format: uuid
             * @description The job its last run made.
             */
            last_job_id: string | null;
            /** @description Runs made, triggers included. */
            run_count: number;
        };
        ScheduleList: {
            schedules: components["schemas"]["Schedule"][];
        };
        Triggered: {
            schedule: components["schemas"]["Schedule"];
            job: components["schemas"]["Job"];
        };
        /** @description Which jobs: every condition given must hold, and at least one of `type`, `status`, `ids` and `created_before` must be given (an empty filter is 400, so nobody acts on every job by accident). */
        BulkCancel: {
            /**
             * @description Only jobs of this declared type; the served document lists this server's.
             * @enum {string}
             */
            type?: "demo" | "external";
            /**
             * @description Only jobs in this status; without it, every status a cancel applies to (queued, running, and waiting: a parent waiting for its children, cancelled with them).
             * @enum {string}
             */
            status?: "queued" | "running" | "waiting";
            /** @description Only these jobs (1 to 10000 ids); ids of no job match nothing. */
            ids?: string[];
            /** @description Only jobs created before this time. */
            created_before?: components["schemas"]["Timestamp"];
            /**
             * @description Only count the jobs it would change; change nothing.
             * @default false
             */
            dry_run?: boolean;
        } | unknown | unknown | unknown | unknown;
        /** @description Which jobs: every condition given must hold, and at least one of `type`, `status`, `ids` and `created_before` must be given (an empty filter is 400, so nobody acts on every job by accident). */
        BulkRetry: {
            /**
             * @description Only jobs of this declared type; the served document lists this server's.
             * @enum {string}
             */
            type?: "demo" | "external";
            /**
             * @description Only jobs in this status; without it, every status a retry applies to (failed, cancelled).
             * @enum {string}
             */
            status?: "failed" | "cancelled";
            /** @description Only these jobs (1 to 10000 ids); ids of no job match nothing. */
            ids?: string[];
            /** @description Only jobs created before this time. */
            created_before?: components["schemas"]["Timestamp"];
            /**
             * @description Only count the jobs it would change; change nothing.
             * @default false
             */
            dry_run?: boolean;
        } | unknown | unknown | unknown | unknown;
        BulkResult: {
            /** @description Jobs changed (or, with `dry_run`, that would be): cancelled or asked to stop, or queued again. */
            affected: number;
            /** @description A cancel only: of `affected`, running jobs whose runners were asked to stop them (within one runner poll interval; their streams then end with `cancelled`). */
            stopping?: number;
            dry_run: boolean;
        };
        ChildPage: {
            children: components["schemas"]["Job"][];
            /**
             * Format: uuid
             * @description Pass as `cursor` for the next page; null on the last page.
             */
            next_cursor: string | null;
        };
        /** @description Children to make for the job, all or none. */
        SpawnChildren: {
            /** @description Each what `POST /api/jobs` takes. At most as many as `POST /api/jobs/bulk` takes; the served document gives this server's number. */
            children: components["schemas"]["CreateJob"][];
            /**
             * @description What a child that fails for good does to the job from now on: `fail_fast` fails it and cancels its unfinished children; `wait_for_all` lets it run again once every child has ended, to decide. Null or absent: `fail_fast`.
             * @default fail_fast
             */
            policy?: ("fail_fast" | "wait_for_all") | null;
        };
        SpawnedChildren: {
            /** @description Every child sent, in the order sent; `created: false` for one whose `idempotency_key` already named a child of this job. */
            children: components["schemas"]["BulkCreatedJob"][];
        };
        /**
         * @description A parent's children counted by status, as they last changed (a child that is itself waiting for children counts as running).
         * @example {
         *       "queued": 3,
         *       "running": 4,
         *       "completed": 40,
         *       "failed": 0,
         *       "cancelled": 0
         *     }
         */
        FamilyCounts: {
            /** @description Children queued. */
            queued: number;
            /** @description Children running or waiting for their own children. */
            running: number;
            /** @description Children completed. */
            completed: number;
            /** @description Children failed. */
            failed: number;
            /** @description Children cancelled. */
            cancelled: number;
        };
        /**
         * @description One child's status and progress as they last changed, on its parent's stream.
         * @example {
         *       "child_id": "01a25167-d41b-7158-b43f-9ae7cf6e17ef",
         *       "type": "import-traces-part",
         *       "status": "running",
         *       "progress": 50
         *     }
         */
        ChildEvent: {
            /** Format: uuid */
            child_id: string;
            type: string;
            status: components["schemas"]["JobStatus"];
            progress: number;
            message?: string;
            current?: number;
            total?: number;
            stage?: string;
            /** @description Why a failed or cancelled child ended. */
            error?: string;
        };
        /** @description One ended attempt of a job. */
        Attempt: {
            /** @description The job's attempt counter during this attempt. */
            attempt: number;
            /** @description When it started; null only if the job never recorded a start. */
            started_at: components["schemas"]["Timestamp"] | null;
            finished_at: components["schemas"]["Timestamp"];
            /** @description `finished_at - started_at` in milliseconds; null without a start. */
            duration_ms: number | null;
            /**
             * @description `completed`, `failed`, `cancelled`: how the job ended with it. `retried`: it failed, or its lease expired, with attempts left, and the job was queued again. `requeued`: its runner could not finish it (a shutdown); not counted. `waiting`: a parent's handler returned while its children run; the parent runs again once they have ended.
             * @enum {string}
             */
            outcome: "completed" | "failed" | "retried" | "cancelled" | "requeued" | "waiting";
            /** @description The error it ended with (null for `completed` and `waiting`). */
            error: string | null;
            /** @description The failure's structured details, as the worker or handler sent them; null when none. */
            details: unknown;
            /** @description The external worker that ran it (`worker` of its claim); null for in-process runs and outside code. */
            worker: string | null;
            /** @description The in-process runner instance that held its lease; null for external workers and outside code. */
            runner: string | null;
        };
        AttemptList: {
            attempts: components["schemas"]["Attempt"][];
        };
    };
    responses: {
        /** @description The query string could not be read, e.g. a parameter given twice. (`error`: `bad_request`) */
        BadQuery: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The body is not JSON, or nests deeper than `limits.max_json_depth` (32 by default). (`error`: `malformed_json`, `json_too_deep`, `bad_request`) */
        BadJson: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The body is not JSON or nests too deep, or `Jobcast-Lease` is not a lease id. (`error`: `malformed_json`, `json_too_deep`, `bad_request`) */
        BadJsonOrLease: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description A broken multipart body, or the body could not be read. (`error`: `bad_request`) */
        BadUpload: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Tokens are on and the request has no known token (or an altered or expired stream token). (`error`: `unauthorized`) */
        Unauthorized: {
            headers: {
                "WWW-Authenticate": components["headers"]["WWW-Authenticate"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The token's role does not allow this. (`error`: `forbidden`) */
        Forbidden: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description No such job; an id that is not a UUID is not found either. (`error`: `not_found`) */
        NotFound: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Sent for any method this path does not answer; `Allow` lists those it does. (`OPTIONS` answers every path: 204 with `Allow`, the CORS preflight.) (`error`: `method_not_allowed`) */
        MethodNotAllowed: {
            headers: {
                Allow: components["headers"]["Allow"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The job's status does not allow this. (`error`: `conflict`) */
        Conflict: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The job is finished, is of an in-process type, or is claimed and the update lacks its lease or carries a lost one. (`error`: `conflict`) */
        UpdateConflict: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The body is over the limit. (`error`: `payload_too_large`) */
        PayloadTooLarge: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description A field is missing, unknown, of the wrong type or out of range; `field` names it. (`error`: `invalid_field`) */
        InvalidField: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description A job of `jobs` is wrong as `POST /api/jobs` would find it: a field missing, unknown, of the wrong type or out of range, or an upload that does not exist; `field` names it from the top (`jobs[3].priority`, or `jobs[3]` for a job that is not an object) and `index` is the job's place in `jobs`. Or the request itself is: a body that is not an object or has a field besides `jobs`, `jobs` missing, not a list, empty or longer than `maxItems`, or more jobs of one type than its queue may ever hold; then `field` names that (`body`, `jobs`, the unknown field) and there is no `index`. (`error`: `invalid_field`) */
        InvalidJobs: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Jobs were created faster than `limits.create_rate` allows for this token (or client address); try again after `Retry-After`. (`error`: `too_many_requests`) */
        TooManyCreates: {
            headers: {
                "Retry-After": components["headers"]["Retry-After"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Too many open streams (in total, from this client address, or on this job); try again after `Retry-After`. (`error`: `too_many_requests`) */
        TooManyStreams: {
            headers: {
                "Retry-After": components["headers"]["Retry-After"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The request line and headers are over `limits.max_header_bytes` (32 KiB by default). (`error`: `headers_too_large`) */
        HeadersTooLarge: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The type already has `limits.max_queued_per_type` queued jobs (`error`: `queue_full`, with `Retry-After`), or the database is not available (`unavailable`). */
        QueueFull: {
            headers: {
                /** @description With `queue_full`: whole seconds to wait before trying again. */
                "Retry-After"?: number;
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The database is not available. (`error`: `unavailable`) */
        Unavailable: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Something broke inside; the cause is logged, never sent. (`error`: `internal`) */
        Internal: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description No such job type is declared. (`error`: `not_found`) */
        NoSuchType: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description No such schedule is declared. (`error`: `not_found`) */
        NoSuchSchedule: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The body is not JSON, nests deeper than `limits.max_json_depth`, or names no jobs (an empty filter). (`error`: `malformed_json`, `json_too_deep`, `bad_request`) */
        BadFilter: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
    };
    parameters: {
        /** @description The job's id. Anything that is not a UUID is 404. */
        id: string;
        /** @description Only jobs in this status (on `/api/events`: after the change). Empty means any; anything else is 422. */
        status: "queued" | "running" | "waiting" | "completed" | "failed" | "cancelled" | "";
        /** @description Only jobs of this type. Empty means any. */
        type: string;
        /** @description Page size, 1 to 500; empty means the default; anything else is 422. */
        listLimit: number | "";
        /** @description `next_cursor` of the previous page; empty means the first page; anything else is 422. */
        cursor: string | "";
        /** @description Only lines after this sequence number; empty means 0; anything else is 422. */
        after: number | "";
        /** @description At most this many lines, 1 to 10000; empty means the default; anything else is 422. */
        logLimit: number | "";
        /** @description The id of the last event seen (`EventSource` sends it when it reconnects): only newer events follow. A value that is not a whole number (0 or more) is ignored, as if none were sent. */
        lastEventIdHeader: string;
        /** @description Stands in for the `Last-Event-ID` header where a client cannot set it (a new `EventSource` resuming from a version read elsewhere); the header wins. A value that is not a whole number (0 or more) is ignored. */
        lastEventIdQuery: string;
        /** @description A signed stream token, `EXPIRY.HMAC` (HMAC-SHA256 over the job id or the events filter and the expiry), as in a job's `stream_url` or the URL from `GET /api/events/token`. It stands in for the `Authorization` header, opens only the stream it was made for, and expires after `auth.stream_token_ttl` (1 h by default); an altered or expired one is 401. Ignored when tokens are off. */
        streamToken: string;
        /** @description The `lease_id` from `POST /api/workers/claim`; required on the updates of a claimed job. Each accepted update extends the lease. A value that cannot be a lease id (empty, over 64 bytes, or not printable ASCII) is 400. */
        lease: string;
        /** @description A declared job type. Any other is 404. */
        typeName: string;
        /** @description A declared schedule's name. Any other is 404. */
        scheduleName: string;
        /** @description Only jobs the schedule of this name made; a name no schedule has matches no job. Empty means any. */
        schedule: string;
        /** @description Text search: jobs whose id starts with it (a whole id finds its job), or whose `idempotency_key` or `error` contains it, ignoring case (ASCII letters on SQLite, every letter on PostgreSQL). `%` and `_` are plain characters. Combines with the other filters and the cursor. Blank means no search; over 200 characters, or with control characters, is 422. */
        q: string;
    };
    requestBodies: never;
    headers: {
        /** @description The new job's URL, `/api/jobs/{id}`. */
        Location: string;
        /** @description The methods this path answers, e.g. `GET, POST, OPTIONS`. */
        Allow: string;
        /** @description Whole seconds to wait before trying again. */
        "Retry-After": number;
        /** @description `Bearer realm="jobcast"`. */
        "WWW-Authenticate": string;
    };
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    health: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The process is alive. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "status": "ok"
                     *     }
                     */
                    "application/json": components["schemas"]["Health"];
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
    ready: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Ready to serve. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "status": "ready"
                     *     }
                     */
                    "application/json": components["schemas"]["Readiness"];
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            /** @description Not ready: shutting down, starting, or the database is not usable. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "status": "not_ready",
                     *       "reason": "shutting down"
                     *     }
                     */
                    "application/json": components["schemas"]["Readiness"];
                };
            };
        };
    };
    metrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The metrics. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example # HELP jobcast_jobs Jobs in the store by type and status.
                     *     # TYPE jobcast_jobs gauge
                     *     jobcast_jobs{type="demo",status="completed"} 3
                     *     # EOF
                     */
                    "application/openmetrics-text": string;
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            503: components["responses"]["Unavailable"];
        };
    };
    openapi: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The document. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": Record<string, never>;
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
    listJobTypes: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The declared types, by name. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example [
                     *       {
                     *         "name": "demo",
                     *         "kind": "demo",
                     *         "file_input": false,
                     *         "max_attempts": 1,
                     *         "concurrency": null,
                     *         "paused": false,
                     *         "paused_at": null,
                     *         "counts": {
                     *           "queued": 2,
                     *           "running": 1,
                     *           "waiting": 0,
                     *           "completed": 120,
                     *           "failed": 0,
                     *           "cancelled": 0
                     *         },
                     *         "oldest_queued_age_ms": 1350,
                     *         "finished_last_minute": 4,
                     *         "finished_last_hour": 120,
                     *         "finished_per_minute": [
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           2,
                     *           1,
                     *           1,
                     *           4
                     *         ],
                     *         "failed_last_hour": 0
                     *       },
                     *       {
                     *         "name": "external",
                     *         "kind": "external",
                     *         "file_input": false,
                     *         "max_attempts": 1,
                     *         "concurrency": null,
                     *         "paused": true,
                     *         "paused_at": "2026-11-21T09:58:00.000Z",
                     *         "counts": {
                     *           "queued": 35,
                     *           "running": 0,
                     *           "waiting": 0,
                     *           "completed": 0,
                     *           "failed": 0,
                     *           "cancelled": 0
                     *         },
                     *         "oldest_queued_age_ms": 121500,
                     *         "finished_last_minute": 0,
                     *         "finished_last_hour": 0,
                     *         "finished_per_minute": [
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0,
                     *           0
                     *         ],
                     *         "failed_last_hour": 0
                     *       }
                     *     ]
                     */
                    "application/json": components["schemas"]["JobType"][];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    pauseType: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A declared job type. Any other is 404. */
                type: components["parameters"]["typeName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The type, as `GET /api/types` shows it. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobType"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NoSuchType"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    resumeType: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A declared job type. Any other is 404. */
                type: components["parameters"]["typeName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The type, as `GET /api/types` shows it. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobType"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NoSuchType"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listSchedules: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The schedules. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ScheduleList"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    pauseSchedule: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A declared schedule's name. Any other is 404. */
                name: components["parameters"]["scheduleName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The schedule, with its state. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Schedule"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NoSuchSchedule"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    resumeSchedule: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A declared schedule's name. Any other is 404. */
                name: components["parameters"]["scheduleName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The schedule, with its state. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Schedule"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NoSuchSchedule"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    triggerSchedule: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A declared schedule's name. Any other is 404. */
                name: components["parameters"]["scheduleName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job was made. */
            201: {
                headers: {
                    Location: components["headers"]["Location"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Triggered"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NoSuchSchedule"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listJobs: {
        parameters: {
            query?: {
                /** @description Only jobs in this status (on `/api/events`: after the change). Empty means any; anything else is 422. */
                status?: components["parameters"]["status"];
                /** @description Only jobs of this type. Empty means any. */
                type?: components["parameters"]["type"];
                /** @description Only jobs the schedule of this name made; a name no schedule has matches no job. Empty means any. */
                schedule?: components["parameters"]["schedule"];
                /** @description Text search: jobs whose id starts with it (a whole id finds its job), or whose `idempotency_key` or `error` contains it, ignoring case (ASCII letters on SQLite, every letter on PostgreSQL). `%` and `_` are plain characters. Combines with the other filters and the cursor. Blank means no search; over 200 characters, or with control characters, is 422. */
                q?: components["parameters"]["q"];
                /** @description Page size, 1 to 500; empty means the default; anything else is 422. */
                limit?: components["parameters"]["listLimit"];
                /** @description `next_cursor` of the previous page; empty means the first page; anything else is 422. */
                cursor?: components["parameters"]["cursor"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One page of jobs. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobPage"];
                };
            };
            400: components["responses"]["BadQuery"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    createJob: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateJob"];
            };
        };
        responses: {
            /** @description A job with this `idempotency_key` and type already exists: that job. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            /** @description Created. */
            201: {
                headers: {
                    Location: components["headers"]["Location"];
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f",
                     *       "type": "demo",
                     *       "status": "queued",
                     *       "progress": 0,
                     *       "payload": {
                     *         "steps": 10,
                     *         "step_ms": 500
                     *       },
                     *       "priority": 0,
                     *       "attempt": 0,
                     *       "max_attempts": 1,
                     *       "run_at": "2026-11-21T10:00:00.123Z",
                     *       "created_at": "2026-11-21T10:00:00.123Z",
                     *       "updated_at": "2026-11-21T10:00:00.123Z",
                     *       "version": 1,
                     *       "stream_url": "/api/jobs/0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f/stream"
                     *     }
                     */
                    "application/json": components["schemas"]["Job"];
                };
            };
            400: components["responses"]["BadJson"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            429: components["responses"]["TooManyCreates"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["QueueFull"];
        };
    };
    createJobs: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BulkCreate"];
            };
        };
        responses: {
            /** @description Every job already existed by its `idempotency_key`: those jobs, each with `created: false`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BulkCreated"];
                };
            };
            /** @description At least one job was created. Every job sent, in the order sent. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "jobs": [
                     *         {
                     *           "created": true,
                     *           "job": {
                     *             "id": "0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f",
                     *             "type": "demo",
                     *             "status": "queued",
                     *             "progress": 0,
                     *             "payload": {
                     *               "steps": 3,
                     *               "step_ms": 100
                     *             },
                     *             "priority": 0,
                     *             "attempt": 0,
                     *             "max_attempts": 1,
                     *             "run_at": "2026-11-21T10:00:00.123Z",
                     *             "created_at": "2026-11-21T10:00:00.123Z",
                     *             "updated_at": "2026-11-21T10:00:00.123Z",
                     *             "version": 1,
                     *             "stream_url": "/api/jobs/0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f/stream"
                     *           }
                     *         },
                     *         {
                     *           "created": true,
                     *           "job": {
                     *             "id": "0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e30",
                     *             "type": "demo",
                     *             "status": "queued",
                     *             "progress": 0,
                     *             "payload": {
                     *               "steps": 5,
                     *               "step_ms": 100
                     *             },
                     *             "priority": 5,
                     *             "attempt": 0,
                     *             "max_attempts": 1,
                     *             "run_at": "2026-11-21T10:00:00.123Z",
                     *             "created_at": "2026-11-21T10:00:00.123Z",
                     *             "updated_at": "2026-11-21T10:00:00.123Z",
                     *             "version": 1,
                     *             "stream_url": "/api/jobs/0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e30/stream"
                     *           }
                     *         }
                     *       ]
                     *     }
                     */
                    "application/json": components["schemas"]["BulkCreated"];
                };
            };
            400: components["responses"]["BadJson"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidJobs"];
            429: components["responses"]["TooManyCreates"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["QueueFull"];
        };
    };
    cancelJobs: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BulkCancel"];
            };
        };
        responses: {
            /** @description What was done, or would be. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BulkResult"];
                };
            };
            400: components["responses"]["BadFilter"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    retryJobs: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BulkRetry"];
            };
        };
        responses: {
            /** @description What was done, or would be. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BulkResult"];
                };
            };
            400: components["responses"]["BadFilter"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    getJob: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "id": "0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f",
                     *       "type": "demo",
                     *       "status": "queued",
                     *       "progress": 0,
                     *       "payload": {
                     *         "steps": 10,
                     *         "step_ms": 500
                     *       },
                     *       "priority": 0,
                     *       "attempt": 0,
                     *       "max_attempts": 1,
                     *       "run_at": "2026-11-21T10:00:00.123Z",
                     *       "created_at": "2026-11-21T10:00:00.123Z",
                     *       "updated_at": "2026-11-21T10:00:00.123Z",
                     *       "version": 1,
                     *       "stream_url": "/api/jobs/0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f/stream"
                     *     }
                     */
                    "application/json": components["schemas"]["Job"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    streamJob: {
        parameters: {
            query?: {
                /** @description Stands in for the `Last-Event-ID` header where a client cannot set it (a new `EventSource` resuming from a version read elsewhere); the header wins. A value that is not a whole number (0 or more) is ignored. */
                last_event_id?: components["parameters"]["lastEventIdQuery"];
                /** @description A signed stream token, `EXPIRY.HMAC` (HMAC-SHA256 over the job id or the events filter and the expiry), as in a job's `stream_url` or the URL from `GET /api/events/token`. It stands in for the `Authorization` header, opens only the stream it was made for, and expires after `auth.stream_token_ttl` (1 h by default); an altered or expired one is 401. Ignored when tokens are off. */
                token?: components["parameters"]["streamToken"];
            };
            header?: {
                /** @description The id of the last event seen (`EventSource` sends it when it reconnects): only newer events follow. A value that is not a whole number (0 or more) is ignored, as if none were sent. */
                "Last-Event-ID"?: components["parameters"]["lastEventIdHeader"];
            };
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job's events (see `JobStreamEvent`). */
            200: {
                headers: {
                    /** @description `no-cache` */
                    "Cache-Control": "no-cache";
                    /** @description `no`: proxies pass the events on at once. */
                    "X-Accel-Buffering": "no";
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": unknown;
                };
            };
            /** @description `Last-Event-ID` is at or past the terminal event: nothing more will come. */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            429: components["responses"]["TooManyStreams"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listJobLogs: {
        parameters: {
            query?: {
                /** @description Only lines after this sequence number; empty means 0; anything else is 422. */
                after?: components["parameters"]["after"];
                /** @description At most this many lines, 1 to 10000; empty means the default; anything else is 422. */
                limit?: components["parameters"]["logLimit"];
            };
            header?: never;
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The log lines. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["LogPage"];
                };
            };
            400: components["responses"]["BadQuery"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    addJobLog: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `lease_id` from `POST /api/workers/claim`; required on the updates of a claimed job. Each accepted update extends the lease. A value that cannot be a lease id (empty, over 64 bytes, or not printable ASCII) is 400. */
                "Jobcast-Lease"?: components["parameters"]["lease"];
            };
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["LogBody"];
            };
        };
        responses: {
            /** @description The line, as stored. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["LogLine"];
                };
            };
            400: components["responses"]["BadJsonOrLease"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            409: components["responses"]["UpdateConflict"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listJobAttempts: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job's ended attempts. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AttemptList"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listJobChildren: {
        parameters: {
            query?: {
                /** @description `next_cursor` of the previous page; empty means the first page; anything else is 422. */
                cursor?: components["parameters"]["cursor"];
                /** @description Page size, 1 to 500; empty means the default; anything else is 422. */
                limit?: components["parameters"]["listLimit"];
            };
            header?: never;
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of children. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ChildPage"];
                };
            };
            400: components["responses"]["BadQuery"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    spawnJobChildren: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `lease_id` from `POST /api/workers/claim`; required on the updates of a claimed job. Each accepted update extends the lease. A value that cannot be a lease id (empty, over 64 bytes, or not printable ASCII) is 400. */
                "Jobcast-Lease"?: components["parameters"]["lease"];
            };
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SpawnChildren"];
            };
        };
        responses: {
            /** @description Every child already existed by its `idempotency_key`: those children, each with `created: false`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SpawnedChildren"];
                };
            };
            /** @description At least one child was made. Every child sent, in the order sent. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SpawnedChildren"];
                };
            };
            400: components["responses"]["BadJsonOrLease"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            /** @description The job is finished, is not the caller's to report on (in-process, or claimed and the lease is missing or lost), or a family limit refused the children; nothing was made. (`error`: `conflict`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    cancelJob: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job, cancelled. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            /** @description The job is still stopping (`cancel_requested` is true). */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            409: components["responses"]["Conflict"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    retryJob: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job, queued again. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            409: components["responses"]["Conflict"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    reportProgress: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `lease_id` from `POST /api/workers/claim`; required on the updates of a claimed job. Each accepted update extends the lease. A value that cannot be a lease id (empty, over 64 bytes, or not printable ASCII) is 400. */
                "Jobcast-Lease"?: components["parameters"]["lease"];
            };
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ProgressBody"];
            };
        };
        responses: {
            /** @description The job, updated. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            400: components["responses"]["BadJsonOrLease"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            409: components["responses"]["UpdateConflict"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    completeJob: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `lease_id` from `POST /api/workers/claim`; required on the updates of a claimed job. Each accepted update extends the lease. A value that cannot be a lease id (empty, over 64 bytes, or not printable ASCII) is 400. */
                "Jobcast-Lease"?: components["parameters"]["lease"];
            };
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["CompleteBody"];
            };
        };
        responses: {
            /** @description The job, completed. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            400: components["responses"]["BadJsonOrLease"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            409: components["responses"]["UpdateConflict"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    failJob: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `lease_id` from `POST /api/workers/claim`; required on the updates of a claimed job. Each accepted update extends the lease. A value that cannot be a lease id (empty, over 64 bytes, or not printable ASCII) is 400. */
                "Jobcast-Lease"?: components["parameters"]["lease"];
            };
            path: {
                /** @description The job's id. Anything that is not a UUID is 404. */
                id: components["parameters"]["id"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["FailBody"];
            };
        };
        responses: {
            /** @description The job, failed (or queued again for another attempt). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            400: components["responses"]["BadJsonOrLease"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            405: components["responses"]["MethodNotAllowed"];
            409: components["responses"]["UpdateConflict"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    streamEvents: {
        parameters: {
            query?: {
                /** @description Only jobs of this type. Empty means any. */
                type?: components["parameters"]["type"];
                /** @description Only jobs in this status (on `/api/events`: after the change). Empty means any; anything else is 422. */
                status?: components["parameters"]["status"];
                /** @description A signed stream token, `EXPIRY.HMAC` (HMAC-SHA256 over the job id or the events filter and the expiry), as in a job's `stream_url` or the URL from `GET /api/events/token`. It stands in for the `Authorization` header, opens only the stream it was made for, and expires after `auth.stream_token_ttl` (1 h by default); an altered or expired one is 401. Ignored when tokens are off. */
                token?: components["parameters"]["streamToken"];
            };
            header?: {
                /** @description The id of the last event seen (`EventSource` sends it when it reconnects): only newer events follow. A value that is not a whole number (0 or more) is ignored, as if none were sent. */
                "Last-Event-ID"?: components["parameters"]["lastEventIdHeader"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every matching job's changes (see `ChangeEvent`). */
            200: {
                headers: {
                    /** @description `no-cache` */
                    "Cache-Control": "no-cache";
                    /** @description `no`: proxies pass the events on at once. */
                    "X-Accel-Buffering": "no";
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": unknown;
                };
            };
            400: components["responses"]["BadQuery"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            422: components["responses"]["InvalidField"];
            429: components["responses"]["TooManyStreams"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    eventsUrl: {
        parameters: {
            query?: {
                /** @description Only jobs of this type. Empty means any. */
                type?: components["parameters"]["type"];
                /** @description Only jobs in this status (on `/api/events`: after the change). Empty means any; anything else is 422. */
                status?: components["parameters"]["status"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The URL. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example {
                     *       "url": "/api/events?type=demo&token=1795000000.9f2c4e"
                     *     }
                     */
                    "application/json": components["schemas"]["EventsUrl"];
                };
            };
            400: components["responses"]["BadQuery"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
    claimJob: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ClaimBody"];
            };
        };
        responses: {
            /** @description Without `max`: a job, now `running` under the lease. With `max`: `{"jobs": [...]}`, the 1 to `max` jobs claimed. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ClaimedJob"] | components["schemas"]["ClaimedJobs"];
                };
            };
            /** @description No job came within `wait`. */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadJson"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    uploadFile: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "multipart/form-data": components["schemas"]["UploadForm"];
                "*/*": unknown;
            };
        };
        responses: {
            /** @description Stored. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Upload"];
                };
            };
            400: components["responses"]["BadUpload"];
            401: components["responses"]["Unauthorized"];
            403: components["responses"]["Forbidden"];
            405: components["responses"]["MethodNotAllowed"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["InvalidField"];
            431: components["responses"]["HeadersTooLarge"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    dashboardPage: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/html": string;
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
    dashboardScript: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/javascript": string;
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
    dashboardLibrary: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/javascript": string;
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
    dashboardJobView: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/javascript": string;
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
    dashboardStyles: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/css": string;
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
    clientModule: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/javascript": string;
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
    clientTypes: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/typescript": string;
                };
            };
            405: components["responses"]["MethodNotAllowed"];
            431: components["responses"]["HeadersTooLarge"];
        };
    };
}

// ---- The client ----

type Schemas = components["schemas"];
/** A job, as the API returns it (fields that are null are left out). */
export type Job = Schemas["Job"];
export type JobStatus = Schemas["JobStatus"];
export type LogLevel = Schemas["LogLevel"];
export type LogLine = Schemas["LogLine"];
/** One ended attempt of a job (`GET /api/jobs/{id}/attempts`). */
export type Attempt = Schemas["Attempt"];
export type JobPage = Schemas["JobPage"];
export type LogPage = Schemas["LogPage"];
export type JobType = Schemas["JobType"];
export type Upload = Schemas["Upload"];
export type ClaimedJob = Schemas["ClaimedJob"];
/** The body of every error answer. */
export type ErrorBody = Schemas["Error"];
/** The stable error codes (`error` of an error answer). */
export type ErrorCode = ErrorBody["error"];
export type ProgressEventData = Schemas["ProgressEvent"];
export type CompletedEventData = Schemas["CompletedEvent"];
export type FailedEventData = Schemas["FailedEvent"];
/** A child's change, on its parent's stream. */
export type ChildEventData = Schemas["ChildEvent"];
/** A parent's children by status. */
export type FamilyCounts = Schemas["FamilyCounts"];
/** A job's state after a change, as `/api/events` carries it. */
export type JobEventData = Schemas["JobEvent"];
export type ReadyEventData = Schemas["ReadyEvent"];
/** The fields of `POST /api/jobs` besides `type` and `payload`. */
type CreateJobBody = Extract<Schemas["CreateJob"], {
    type: string;
}>;
export type CreateJobOptions = Partial<Pick<CreateJobBody, "priority" | "max_attempts" | "timeout" | "run_at" | "idempotency_key">>;
export type ProgressUpdate = Schemas["ProgressBody"];
/** The body of `POST /api/jobs/{id}/children`. */
export type SpawnChildrenBody = Schemas["SpawnChildren"];
/**
 * The data of each event of a job's stream, by event name. The OpenAPI document describes
 * each event's `data` as a string of JSON with a `contentSchema`, which the type generator
 * does not read: this map pairs them by hand, and the compiler checks its names against the
 * generated `JobStreamEvent` (a test checks the schemas against the document).
 */
export interface JobStreamEventData {
    progress: ProgressEventData;
    log: LogLine;
    child: ChildEventData;
    completed: CompletedEventData;
    failed: FailedEventData;
}
/** The data of each event of `/api/events`, by event name (checked the same way). */
export interface ChangeEventData {
    ready: ReadyEventData;
    progress: JobEventData & {
        status: "queued" | "running" | "waiting";
    };
    completed: JobEventData & {
        status: "completed";
    };
    failed: JobEventData & {
        status: "failed" | "cancelled";
    };
}
/** One event of a job's stream: its name, id (the job's version) and parsed data. */
export type JobStreamEvent = {
    [K in keyof JobStreamEventData]: {
        event: K;
        id: number;
        data: JobStreamEventData[K];
    };
}[keyof JobStreamEventData];
/** One event of `/api/events`: its name, id (the global change sequence) and parsed data. */
export type ChangeEvent = {
    [K in keyof ChangeEventData]: {
        event: K;
        id: number;
        data: ChangeEventData[K];
    };
}[keyof ChangeEventData];
/** What a job stream knows about its job: the latest state, and the log lines it saw. */
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
    /** For a parent: its children by status, and each child's latest change seen, by id. */
    family: FamilyCounts | null;
    children: Record<string, ChildEventData>;
    /** The id of the last event seen (the job's version then). */
    version: number | null;
}
/** Whether a job with this status can still change (only a retry brings it back). */
export declare function isFinished(status: JobStatus | null | undefined): boolean;
/**
 * An answer that was not a success, or a server that could not be reached. `status` is the
 * HTTP status (0 when no answer came), `error` the server's stable code (`not_found`,
 * `conflict`, ...; `network` or `aborted` for no answer) and `message` its text.
 */
export declare class JobcastError extends Error {
    readonly name = "JobcastError";
    readonly status: number;
    readonly error: ErrorCode | "network" | "aborted" | "unexpected";
    /** For `invalid_field`: the field at fault. */
    readonly field: string | undefined;
    /** Seconds, from `Retry-After`, when the server sent one. */
    readonly retryAfter: number | undefined;
    /** The answer's body as parsed (the `ErrorBody`), when there was one. */
    readonly body: unknown;
    constructor(status: number, error: JobcastError["error"], message: string, extra?: {
        field?: string;
        retryAfter?: number;
        body?: unknown;
        cause?: unknown;
    });
    /** Whether asking again later may help (the server was away, busy or shutting down). */
    get retryable(): boolean;
}
export interface ClientOptions {
    /**
     * The server, e.g. `http://localhost:8080`. Default: the origin this module was loaded from
     * (so `/jobcast.js` talks to its own server); `""` means relative URLs (same origin).
     */
    baseUrl?: string;
    /** An API token, sent as `Authorization: Bearer TOKEN` (tokens are roles: see the README). */
    token?: string;
    /** A `fetch` to use instead of the global one. */
    fetch?: typeof globalThis.fetch;
}
export interface RequestOptions {
    signal?: AbortSignal;
}
export interface ListJobsFilter extends RequestOptions {
    status?: JobStatus;
    type?: string;
    /** Jobs per page, 1 to 500 (default 50). */
    limit?: number;
    /** Start from this page (a `next_cursor`). */
    cursor?: string;
    /** Search: an id by prefix, the idempotency key or the error by part, ignoring case (at most 200 characters). */
    q?: string;
}
export interface UploadProgress {
    loaded: number;
    total: number;
    /** 0 to 100. */
    percent: number;
}
export interface UploadOptions extends RequestOptions {
    onProgress?(progress: UploadProgress): void;
    /** Default: the Blob's own type, else `application/octet-stream`. */
    contentType?: string;
}
export type UploadBody = Blob | ArrayBuffer | ArrayBufferView | string;
export interface StreamOptions extends RequestOptions {
    /** Resume after this event id (a job's `version`): only newer events come. */
    lastEventId?: number | string;
    /**
     * Asked for a fresh stream URL when the server refuses the one in hand (401/403: a signed
     * URL that expired or whose secret was rotated). Default: read the job again (or, for
     * `/api/events`, ask for a new signed URL) with this client's token.
     */
    refreshUrl?(): Promise<string>;
    /** Called when a connection opens (the first, and each reconnect). */
    onOpen?(): void;
    /** Called when the connection drops or the server is away, before trying again. */
    onRetry?(error: JobcastError, delayMs: number): void;
    /** A connection that brings no byte for this long is dropped and opened again (90 s). */
    idleTimeoutMs?: number;
}
export interface StreamHandlers {
    onOpen?(): void;
    onEvent?(event: JobStreamEvent, state: JobState): void;
    onProgress?(state: JobState): void;
    /** A line of the job's log; on a parent's stream, also its children's (with `child_id`). */
    onLog?(line: LogLine, state: JobState): void;
    /** On a parent's stream: one of its children changed status or progress. */
    onChild?(child: ChildEventData, state: JobState): void;
    onCompleted?(result: unknown, state: JobState): void;
    onFailed?(error: string, details: unknown, state: JobState): void;
    /**
     * A connection dropped or a request failed. `retrying` says whether the stream goes on by
     * itself (it does while the server is away); when false the stream has ended.
     */
    onError?(error: JobcastError, retrying: boolean): void;
}
/** A followed job: `close()` stops following; `done` settles when the stream ends. */
export interface JobStream {
    close(): void;
    readonly state: JobState;
    readonly closed: boolean;
    /** Resolves with the final state (terminal event, `close()`, or abort); rejects on a
     * refusal that trying again cannot fix (404, a token refused for good). */
    readonly done: Promise<JobState>;
}
export interface EventsFilter extends StreamOptions {
    type?: string;
    status?: JobStatus;
    /**
     * A signed `/api/events` URL to start from (from `GET /api/events/token`, for instance
     * handed to a page by its backend). Default: the plain URL for the filter, which this
     * client's token (or an open server) opens.
     */
    url?: string;
}
type Json<Op extends keyof operations, Code extends number> = operations[Op]["responses"] extends {
    [C in Code]: {
        content: {
            "application/json": infer T;
        };
    };
} ? T : never;
/**
 * jobcast's HTTP API. Every method rejects with a `JobcastError` when the server refuses
 * (with its `status`, `error` code and `message`) or cannot be reached (`status` 0).
 */
export declare class Client {
    readonly baseUrl: string;
    readonly token: string | undefined;
    private readonly fetchImpl;
    constructor(options?: ClientOptions | string);
    /** An absolute URL for a path of the API (or the URL itself, when it is absolute). */
    url(pathOrUrl: string): string;
    private headers;
    /** A route of the API with its `{id}` filled in; the compiler checks it is in the document. */
    private route;
    private call;
    /** `POST /api/jobs`: a new job (or, for a repeated `idempotency_key`, the existing one). */
    createJob(type: string, payload?: unknown, options?: CreateJobOptions & RequestOptions): Promise<Job>;
    /** `GET /api/jobs/{id}`. */
    getJob(id: string, options?: RequestOptions): Promise<Job>;
    /** `GET /api/jobs`, one page at a time: follows `next_cursor` until the last page. */
    listJobPages(filter?: ListJobsFilter): AsyncGenerator<JobPage, void, undefined>;
    /** Every job matching the filter, newest first, fetched a page at a time as you iterate. */
    listJobs(filter?: ListJobsFilter): AsyncGenerator<Job, void, undefined>;
    /** `GET /api/jobs/{id}/children`: a parent's children, oldest first, fetched a page at a time
     * as you iterate. */
    listChildren(id: string, options?: RequestOptions & {
        limit?: number;
    }): AsyncGenerator<Job, void, undefined>;
    /** `POST /api/jobs/{id}/children`: children of a running external job (or of one your
     * `lease` holds), made at once; each comes back with `created` (false: made before under
     * its idempotency key). */
    spawnChildren(id: string, children: SpawnChildrenBody["children"], options?: RequestOptions & {
        lease?: string;
        policy?: SpawnChildrenBody["policy"];
    }): Promise<Json<"spawnJobChildren", 201>>;
    /** `GET /api/jobs/{id}/logs`: log lines after `after` (a `seq`), oldest first. */
    getLogs(id: string, options?: RequestOptions & {
        after?: number;
        limit?: number;
    }): Promise<LogLine[]>;
    /** `GET /api/jobs/{id}/attempts`: the job's ended attempts, oldest first. */
    getAttempts(id: string, options?: RequestOptions): Promise<Attempt[]>;
    /** `POST /api/jobs/{id}/cancel`: the job, `cancelled` (or still stopping: `cancel_requested`). */
    cancel(job: string | Pick<Job, "id">, options?: RequestOptions): Promise<Job>;
    /** `POST /api/jobs/{id}/retry`: a failed or cancelled job, queued again (same id). */
    retry(job: string | Pick<Job, "id">, options?: RequestOptions): Promise<Job>;
    /** `GET /api/types`: the server's declared job types. */
    types(options?: RequestOptions): Promise<JobType[]>;
    /** `GET /api/events/token`: the `/api/events` URL for a filter (signed with tokens on). */
    eventsUrl(filter?: {
        type?: string;
        status?: JobStatus;
    }, options?: RequestOptions): Promise<string>;
    /** For `external` jobs (your backend's work): `POST /api/jobs/{id}/progress`. */
    reportProgress(id: string, update: ProgressUpdate, options?: RequestOptions & {
        lease?: string;
    }): Promise<Job>;
    /** For `external` jobs: `POST /api/jobs/{id}/logs`. */
    addLog(id: string, level: LogLevel, message: string, options?: RequestOptions & {
        lease?: string;
    }): Promise<LogLine>;
    /** For `external` jobs: `POST /api/jobs/{id}/complete`. */
    complete(id: string, result?: unknown, options?: RequestOptions & {
        lease?: string;
    }): Promise<Job>;
    /** For `external` jobs: `POST /api/jobs/{id}/fail`. */
    fail(id: string, error: string, details?: unknown, options?: RequestOptions & {
        lease?: string;
    }): Promise<Job>;
    /**
     * `POST /api/uploads`: sends a file (a `File`/`Blob`, bytes or text) as the raw body and
     * resolves to the upload, whose `upload_id` a job's payload names. `onProgress` reports the
     * bytes sent (in browsers through XMLHttpRequest, which reports upload progress; elsewhere
     * as the body is read).
     */
    uploadFile(file: UploadBody, options?: UploadOptions): Promise<Upload>;
    private uploadWithXhr;
    /**
     * Follows one event stream to its end: reconnects with `Last-Event-ID` when the body ends
     * (the server's cap, a restart) or the connection drops, with capped exponential backoff
     * while the server is away, asks for a fresh URL once when the server refuses the one in
     * hand, and stops at a terminal event, a 204, an abort, or a refusal it cannot fix.
     */
    private follow;
    private streamPlan;
    /**
     * A job's events as an async iterator, from its current state to its terminal event (then
     * it ends: no reconnect loop). `jobOrUrl`: the job (from `createJob`, `getJob`...), its
     * `stream_url` (signed when tokens are on), or its id (with this client's token, or on an
     * open server). Breaking out of the loop, or aborting `signal`, closes the connection.
     */
    jobEvents(jobOrUrl: string | Pick<Job, "stream_url"> | Pick<Job, "id" | "stream_url">, options?: StreamOptions): AsyncGenerator<JobStreamEvent, void, undefined>;
    /**
     * Follows a job with callbacks (see `StreamHandlers`); returns a handle to stop it. The
     * latest state is in `stream.state`; `stream.done` settles when the stream ends.
     */
    streamJob(jobOrUrl: string | Pick<Job, "stream_url"> | Pick<Job, "id" | "stream_url">, handlers?: StreamHandlers, options?: StreamOptions): JobStream;
    /**
     * `GET /api/events`: every matching job's changes on one stream, as an async iterator that
     * never ends by itself (it reconnects after each cap and asks for a fresh signed URL when
     * the old one expired). Stop it with `signal` or by breaking out of the loop.
     */
    watchEvents(filter?: EventsFilter): AsyncGenerator<ChangeEvent, void, undefined>;
}
/** Folds one event into a job state (what `streamJob` and the React hook keep). */
export declare function applyEvent(state: JobState, event: JobStreamEvent): JobState;
/** `{ base, token }`: the server (default: where this module came from) and a token. */
export interface LegacyOptions {
    base?: string;
    token?: string;
}
/** Creates a job; rejects with a `JobcastError` (`status`, `error`, `message`, `body`). */
export declare function createJob(type: string, payload?: unknown, options?: LegacyOptions & CreateJobOptions): Promise<Job>;
/**
 * Follows a job: `jobOrUrl` is the job, its `stream_url`, or (without tokens, or with
 * `token`) its id. Closes itself after the terminal event; `close()` stops it sooner.
 */
export declare function streamJob(jobOrUrl: string | Pick<Job, "stream_url">, handlers?: StreamHandlers, options?: LegacyOptions & StreamOptions): JobStream;
export {};
