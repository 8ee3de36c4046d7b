"""For command jobs: a program jobcast runs per attempt, which gets the payload on stdin and
reports by printing JSON lines on stdout (see the README's "Command job types").

    from jobcast import command
    payload = command.payload()            # the job's payload (one JSON line on stdin)
    path = command.input_file()            # the uploaded file, when the job names one
    command.progress(45.5, "parsing", current=450, total=1000, stage="parse")
    command.log("skipped line 7", "warning")
    command.result({"rows": 1000})          # then exit 0: the job completes with it

A job can split its work into child jobs (see the README's "Parent and child jobs"):

    if command.children() is None:          # the first run: make the parts
        command.child("import-traces-part", {"chunk": 0})
    else:                                   # the run after every part has ended
        command.result(merge(command.children()))
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional, TextIO

from .types import LogLevel

_UNREAD = object()
_payload: Any = _UNREAD
_children: Any = _UNREAD


def emit(message: Any, out: Optional[TextIO] = None) -> None:
    """Prints one message line (a JSON object) and flushes it, so jobcast sees it at once."""
    stream = out or sys.stdout
    stream.write(json.dumps(message, separators=(", ", ": ")) + "\n")
    stream.flush()


def payload() -> Any:
    """The job's payload: the first line of stdin as JSON (read once; None when empty)."""
    global _payload
    if _payload is _UNREAD:
        line = sys.stdin.readline()
        _payload = json.loads(line) if line.strip() else None
    return _payload


def children() -> Optional[list[dict[str, Any]]]:
    """The outcomes of the children this job made (`id`, `type`, `status`, `result`, `error`),
    oldest first: stdin's second line, which jobcast writes for a job that has made children
    (on its run after they all ended). None for a job that has made none."""
    global _children
    payload()
    if _children is _UNREAD:
        line = sys.stdin.readline()
        _children = json.loads(line)["children"] if line.strip() else None
    return _children  # type: ignore[no-any-return]


def child(job_type: str, payload: Any, key: Optional[str] = None) -> None:
    """Makes a child job of `job_type` (a declared type) with `payload`. When this program
    exits 0, the job waits for its children and then runs again (see `children`)."""
    line: dict[str, Any] = {"type": job_type, "payload": payload}
    if key is not None:
        line["key"] = key
    emit({"child": line})


def child_policy(policy: str) -> None:
    """`fail_fast` (the default: a failed child fails this job) or `wait_for_all`."""
    emit({"child_policy": policy})


def input_file() -> Optional[str]:
    """The path of the upload the payload names (`upload_id`), if any."""
    return os.environ.get("JOBCAST_INPUT_FILE") or None


def job_id() -> Optional[str]:
    return os.environ.get("JOBCAST_JOB_ID") or None


def attempt() -> int:
    return int(os.environ.get("JOBCAST_ATTEMPT") or 1)


def progress(
    percent: float,
    message: Optional[str] = None,
    *,
    current: Optional[int] = None,
    total: Optional[int] = None,
    stage: Optional[str] = None,
) -> None:
    """Reports progress (0 to 100); fields left out keep their value."""
    line: dict[str, Any] = {"progress": percent}
    for key, value in (("message", message), ("current", current), ("total", total), ("stage", stage)):
        if value is not None:
            line[key] = value
    emit(line)


def log(message: str, level: LogLevel = "info") -> None:
    """Adds a log line (`info`, `warning`, `error` or `success`)."""
    emit({"log": message, "level": level})


def result(value: Any) -> None:
    """The job's result (the last one printed counts when the program exits 0)."""
    emit({"result": value})
