"""jobcast's Python client: submit, follow and manage jobs, upload files, and work external
jobs, over jobcast's HTTP API with the standard library only.

    from jobcast import Client, Worker
    client = Client("http://127.0.0.1:8080", token)
    job = client.submit("demo", {"steps": 5})
    for event in client.watch(job):
        print(event.event, event.data)

`jobcast.command` has the helpers for command jobs (programs that print JSON lines).
"""
from .client import Client, Event, JobcastError, LeaseLost, is_finished
from .types import (
    Attempt,
    AttemptOutcome,
    ClaimedJob,
    CompletedEvent,
    FailedEvent,
    Job,
    JobEvent,
    JobPage,
    JobStatus,
    JobType,
    LogLevel,
    LogLine,
    ProgressEvent,
    Upload,
)
from .worker import JobContext, Worker

__version__ = "0.1.0"
__all__ = [
    "Attempt",
    "AttemptOutcome",
    "ClaimedJob",
    "Client",
    "CompletedEvent",
    "Event",
    "FailedEvent",
    "Job",
    "JobContext",
    "JobEvent",
    "JobPage",
    "JobStatus",
    "JobType",
    "JobcastError",
    "LeaseLost",
    "LogLevel",
    "LogLine",
    "ProgressEvent",
    "Upload",
    "Worker",
    "is_finished",
]
