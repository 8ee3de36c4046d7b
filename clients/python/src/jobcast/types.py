"""The API's JSON shapes as TypedDicts, after the OpenAPI document's schemas
(src/http/openapi.json; tests/test_types.py fails when they drift apart)."""
from __future__ import annotations

from typing import Any, List, Literal, Optional, TypedDict

JobStatus = Literal["queued", "running", "waiting", "completed", "failed", "cancelled"]
LogLevel = Literal["info", "warning", "error", "success"]


class _JobRequired(TypedDict):
    id: str
    type: str
    status: JobStatus
    progress: float
    payload: Any
    priority: int
    attempt: int
    max_attempts: int
    run_at: str
    created_at: str
    updated_at: str
    version: int
    stream_url: str


class FamilyCounts(TypedDict):
    """A parent's children by status."""

    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int


class Job(_JobRequired, total=False):
    """A job (fields that are null are left out)."""

    message: str
    current: int
    total: int
    stage: str
    result: Any
    error: str
    details: Any
    timeout: str
    idempotency_key: str
    started_at: str
    finished_at: str
    cancel_requested: bool
    worker: str
    schedule: str
    paused: bool
    parent_id: str
    children: int
    family: FamilyCounts


class ClaimedJob(Job):
    """A claimed job: the job and its lease."""

    lease_id: str
    lease_expires_at: Optional[str]


class _LogLineRequired(TypedDict):
    seq: int
    ts: str
    level: LogLevel
    message: str


class LogLine(_LogLineRequired, total=False):
    """A log line; on a parent's log and stream, a child's names it."""

    child_id: str


AttemptOutcome = Literal["completed", "failed", "retried", "cancelled", "requeued", "waiting"]


class Attempt(TypedDict):
    """One ended attempt of a job (`GET /api/jobs/{id}/attempts`); times are RFC 3339."""

    attempt: int
    started_at: Optional[str]
    finished_at: str
    duration_ms: Optional[int]
    outcome: AttemptOutcome
    error: Optional[str]
    details: Any
    worker: Optional[str]
    runner: Optional[str]


class JobPage(TypedDict):
    jobs: List[Job]
    next_cursor: Optional[str]


class _UploadRequired(TypedDict):
    upload_id: str
    size: int
    sha256: str
    content_type: Optional[str]
    created_at: str


class Upload(_UploadRequired, total=False):
    filename: str


class JobCounts(TypedDict):
    """A job type's jobs by status."""

    queued: int
    running: int
    waiting: int
    completed: int
    failed: int
    cancelled: int


class JobType(TypedDict):
    """A declared job type as `GET /api/types` shows it: settings, paused or not, jobs by status,
    how long its longest-waiting due job has waited, and its throughput."""

    name: str
    kind: Literal["demo", "external", "command", "rust"]
    file_input: bool
    max_attempts: int
    concurrency: Optional[int]
    paused: bool
    paused_at: Optional[str]
    counts: JobCounts
    oldest_queued_age_ms: Optional[int]
    finished_last_minute: int
    finished_last_hour: int
    finished_per_minute: List[int]
    failed_last_hour: int


class _ProgressEventRequired(TypedDict):
    status: Literal["queued", "running", "waiting"]
    progress: float


class ProgressEvent(_ProgressEventRequired, total=False):
    """The data of a job stream's `progress` event."""

    message: str
    current: int
    total: int
    stage: str
    paused: bool
    family: FamilyCounts


class _ChildEventRequired(TypedDict):
    child_id: str
    type: str
    status: JobStatus
    progress: float


class ChildEvent(_ChildEventRequired, total=False):
    """The data of a parent's stream's `child` event: a child's status and progress."""

    message: str
    current: int
    total: int
    stage: str
    error: str


class CompletedEvent(TypedDict):
    """The data of a job stream's `completed` event."""

    status: Literal["completed"]
    progress: float
    result: Any


class _FailedEventRequired(TypedDict):
    status: Literal["failed", "cancelled"]
    error: str


class FailedEvent(_FailedEventRequired, total=False):
    """The data of a job stream's `failed` event (failed or cancelled)."""

    details: Any


class _JobEventRequired(TypedDict):
    job_id: str
    type: str
    status: JobStatus
    progress: float
    attempt: int
    version: int
    updated_at: str


class JobEvent(_JobEventRequired, total=False):
    """The data of an `/api/events` change: the job's state after it."""

    message: str
    current: int
    total: int
    stage: str
    result: Any
    error: str
    details: Any
