"""The HTTP client: jobs, uploads and event streams, with Python's standard library only."""
from __future__ import annotations

import http.client
import json
import os
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Union,
    cast,
)

from .types import Attempt, ClaimedJob, Job, JobPage, JobStatus, JobType, LogLevel, LogLine, Upload

JobRef = Union[str, Mapping[str, Any]]
"""A job's id, or the job itself (a dict as the API returns it)."""

TERMINAL = frozenset({"completed", "failed"})
FINISHED = frozenset({"completed", "failed", "cancelled"})
MAX_BACKOFF = 30.0


class JobcastError(Exception):
    """An answer that was not a success, or a server that could not be reached.

    `status` is the HTTP status (0 when no answer came), `error` the server's stable code
    (`not_found`, `conflict`, `invalid_field`, ...; `network` for no answer), `message` its
    text, `field` the field at fault for `invalid_field`, `retry_after` the seconds of
    `Retry-After`, and `path` the request's path.
    """

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        path: str = "",
        field: Optional[str] = None,
        retry_after: Optional[float] = None,
        body: Any = None,
    ) -> None:
        where = f" on {path}" if path else ""
        super().__init__(f"{status}{where}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.path = path
        self.field = field
        self.retry_after = retry_after
        self.body = body

    @property
    def retryable(self) -> bool:
        """Whether asking again later may help: the server (or a proxy before it) is away,
        busy or shutting down."""
        return self.status == 0 or self.status == 429 or self.status >= 500


class LeaseLost(JobcastError):
    """409 on a leased job's update: it is not this worker's any more (it was cancelled, or
    its lease ran out and it went back to the queue)."""


@dataclass(frozen=True)
class Event:
    """One event of a stream: its name, id (a job's version, or the global change sequence
    on `/api/events`) and parsed data."""

    event: str
    id: int
    data: Any


def _retry_after(headers: Any) -> Optional[float]:
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _error_from(error: urllib.error.HTTPError, path: str) -> JobcastError:
    text = ""
    try:
        text = error.read().decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException):
        pass
    body: Any = None
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    parsed = body if isinstance(body, dict) else {}
    kind = LeaseLost if error.code == 409 else JobcastError
    return kind(
        error.code,
        str(parsed.get("error") or "unexpected"),
        str(parsed.get("message") or text or error.reason),
        path=path,
        field=parsed.get("field"),
        retry_after=_retry_after(error.headers),
        body=body,
    )


def _network(error: BaseException, path: str) -> JobcastError:
    reason = getattr(error, "reason", None) or error
    return JobcastError(0, "network", f"the server could not be reached ({reason})", path=path)


def _job_id(job: JobRef) -> str:
    return job if isinstance(job, str) else str(job["id"])


def _job_id_of_url(url: str) -> Optional[str]:
    match = re.search(r"/api/jobs/([^/?#]+)/stream(?:[?#]|$)", url)
    return urllib.parse.unquote(match.group(1)) if match else None


class Client:
    """jobcast's HTTP API.

    `base_url` is the server (default `$JOBCAST_URL`, else `http://127.0.0.1:8080`); `token`
    an API token, sent as `Authorization: Bearer TOKEN`. Every call raises `JobcastError` when
    the server refuses (`LeaseLost` for a 409) or cannot be reached.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = (base_url or os.environ.get("JOBCAST_URL") or "http://127.0.0.1:8080").rstrip("/")
        self.token = token or None
        self.timeout = timeout

    # -- plumbing -----------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """An absolute URL for a path of the API (or the URL itself, when absolute)."""
        if re.match(r"^https?://", path_or_url, re.IGNORECASE):
            return path_or_url
        return self.base_url + path_or_url

    def _headers(self, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Optional[Mapping[str, Any]] = None,
        lease: Optional[str] = None,
        timeout: Optional[float] = None,
        raw: Union[bytes, IO[bytes], None] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> "tuple[int, Any]":
        """One call: (status, parsed JSON body or None)."""
        params = {k: v for k, v in (query or {}).items() if v is not None and v != ""}
        target = self.url(path) + (f"?{urllib.parse.urlencode(params)}" if params else "")
        extra = dict(headers or {})
        if lease:
            extra["Jobcast-Lease"] = lease
        data: Union[bytes, IO[bytes], None] = raw
        if body is not None:
            data = json.dumps(body).encode()
            extra["Content-Type"] = "application/json"
        elif method == "POST" and data is None:
            data = b""
        request = urllib.request.Request(target, data=data, headers=self._headers(extra), method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            raise _error_from(error, path) from None
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out
            raise _network(error, path) from None

    # -- jobs -----------------------------------------------------------------------------------

    def submit(
        self,
        type: str,
        payload: Any = None,
        *,
        priority: Optional[int] = None,
        max_attempts: Optional[int] = None,
        timeout: Optional[str] = None,
        run_at: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Job:
        """`POST /api/jobs`: a new job (for a repeated `idempotency_key`, the existing one)."""
        body: Dict[str, Any] = {"type": type}
        if payload is not None:
            body["payload"] = payload
        for key, value in (
            ("priority", priority),
            ("max_attempts", max_attempts),
            ("timeout", timeout),
            ("run_at", run_at),
            ("idempotency_key", idempotency_key),
        ):
            if value is not None:
                body[key] = value
        return cast(Job, self.request("POST", "/api/jobs", body)[1])

    def get(self, job: JobRef) -> Job:
        """`GET /api/jobs/{id}`."""
        return cast(Job, self.request("GET", f"/api/jobs/{_job_id(job)}")[1])

    def pages(
        self,
        *,
        status: Optional[JobStatus] = None,
        type: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        q: Optional[str] = None,
    ) -> Iterator[JobPage]:
        """`GET /api/jobs` a page at a time, following `next_cursor` to the last page. `q`
        searches: an id by prefix, the idempotency key and the error by part, ignoring case."""
        while True:
            query = {"status": status, "type": type, "limit": limit, "cursor": cursor, "q": q}
            page = cast(JobPage, self.request("GET", "/api/jobs", query=query)[1])
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def list(
        self,
        *,
        status: Optional[JobStatus] = None,
        type: Optional[str] = None,
        limit: Optional[int] = None,
        q: Optional[str] = None,
    ) -> Iterator[Job]:
        """Every matching job, newest first, fetched a page (`limit` jobs) at a time."""
        for page in self.pages(status=status, type=type, limit=limit, q=q):
            yield from page["jobs"]

    def logs(self, job: JobRef, *, after: Optional[int] = None, limit: Optional[int] = None) -> List[LogLine]:
        """`GET /api/jobs/{id}/logs`: log lines after `after` (a `seq`), oldest first."""
        answer = self.request("GET", f"/api/jobs/{_job_id(job)}/logs", query={"after": after, "limit": limit})[1]
        return cast(List[LogLine], answer["logs"])

    def attempts(self, job: JobRef) -> List[Attempt]:
        """`GET /api/jobs/{id}/attempts`: the job's ended attempts, oldest first."""
        answer = self.request("GET", f"/api/jobs/{_job_id(job)}/attempts")[1]
        return cast(List[Attempt], answer["attempts"])

    def cancel(self, job: JobRef) -> Job:
        """`POST /api/jobs/{id}/cancel`: the job, `cancelled` (or still stopping)."""
        return cast(Job, self.request("POST", f"/api/jobs/{_job_id(job)}/cancel")[1])

    def retry(self, job: JobRef) -> Job:
        """`POST /api/jobs/{id}/retry`: a failed or cancelled job, queued again."""
        return cast(Job, self.request("POST", f"/api/jobs/{_job_id(job)}/retry")[1])

    def types(self) -> List[JobType]:
        """`GET /api/types`: the server's job types."""
        return cast(List[JobType], self.request("GET", "/api/types")[1])

    def events_url(self, *, type: Optional[str] = None, status: Optional[JobStatus] = None) -> str:
        """`GET /api/events/token`: the `/api/events` URL for a filter (signed with tokens on)."""
        return str(self.request("GET", "/api/events/token", query={"type": type, "status": status})[1]["url"])

    def upload(
        self,
        file: Union[str, "os.PathLike[str]", bytes, IO[bytes]],
        *,
        content_type: Optional[str] = None,
    ) -> Upload:
        """`POST /api/uploads`: a file (a path, bytes, or a binary file object), streamed from
        disk as the raw body. The upload's `upload_id` goes in a job's payload."""
        headers = {"Content-Type": content_type or "application/octet-stream"}
        if isinstance(file, (bytes, bytearray)):
            return cast(Upload, self.request("POST", "/api/uploads", raw=bytes(file), headers=headers)[1])
        if isinstance(file, (str, os.PathLike)):
            with open(file, "rb") as handle:
                headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
                return cast(Upload, self.request("POST", "/api/uploads", raw=handle, headers=headers, timeout=None)[1])
        try:
            headers["Content-Length"] = str(os.fstat(file.fileno()).st_size - file.tell())
        except (AttributeError, OSError, ValueError):
            return cast(Upload, self.request("POST", "/api/uploads", raw=file.read(), headers=headers)[1])
        return cast(Upload, self.request("POST", "/api/uploads", raw=file, headers=headers)[1])

    # -- external jobs (the worker's calls) -----------------------------------------------------

    def claim(
        self,
        types: Sequence[str],
        *,
        worker: Optional[str] = None,
        lease: float = 30.0,
        wait: float = 20.0,
    ) -> Optional[ClaimedJob]:
        """`POST /api/workers/claim`: a queued job of these types under a lease, or None when
        none came within `wait` seconds (a long poll, at most 60)."""
        body: Dict[str, Any] = {"types": list(types), "lease": f"{max(1, round(lease))}s", "wait": f"{round(wait)}s"}
        if worker:
            body["worker"] = worker
        status, job = self.request("POST", "/api/workers/claim", body, timeout=wait + self.timeout)
        return cast(ClaimedJob, job) if status == 200 else None

    def progress(
        self,
        job: JobRef,
        progress: float,
        message: Optional[str] = None,
        *,
        current: Optional[int] = None,
        total: Optional[int] = None,
        stage: Optional[str] = None,
        lease: Optional[str] = None,
    ) -> Job:
        """`POST /api/jobs/{id}/progress` (fields left out keep their value)."""
        body: Dict[str, Any] = {"progress": progress}
        for key, value in (("message", message), ("current", current), ("total", total), ("stage", stage)):
            if value is not None:
                body[key] = value
        return cast(Job, self.request("POST", f"/api/jobs/{_job_id(job)}/progress", body, lease=lease)[1])

    def log(self, job: JobRef, message: str, level: LogLevel = "info", *, lease: Optional[str] = None) -> LogLine:
        """`POST /api/jobs/{id}/logs`."""
        body = {"level": level, "message": message}
        return cast(LogLine, self.request("POST", f"/api/jobs/{_job_id(job)}/logs", body, lease=lease)[1])

    def complete(self, job: JobRef, result: Any = None, *, lease: Optional[str] = None) -> Job:
        """`POST /api/jobs/{id}/complete`."""
        return cast(Job, self.request("POST", f"/api/jobs/{_job_id(job)}/complete", {"result": result}, lease=lease)[1])

    def fail(self, job: JobRef, error: str, details: Any = None, *, lease: Optional[str] = None) -> Job:
        """`POST /api/jobs/{id}/fail`."""
        body: Dict[str, Any] = {"error": error}
        if details is not None:
            body["details"] = details
        return cast(Job, self.request("POST", f"/api/jobs/{_job_id(job)}/fail", body, lease=lease)[1])

    # -- streams ----------------------------------------------------------------------------------

    def watch(
        self,
        job: JobRef,
        *,
        last_event_id: Optional[int] = None,
        refresh_url: Optional[Callable[[], str]] = None,
        on_retry: Optional[Callable[[JobcastError, float], None]] = None,
        idle_timeout: float = 90.0,
    ) -> Iterator[Event]:
        """A job's events (`progress`, `log`, `completed`, `failed`) from its current state to
        its terminal event, then the iterator ends. `job` is the job (its `stream_url`, signed
        when tokens are on, is used), a stream URL, or an id (with this client's token).

        The stream resumes with `Last-Event-ID` when the body ends (the server's cap, a
        restart) or the connection drops, so nothing is missed and nothing repeated; it backs
        off while the server is away; when the server refuses the URL in hand (401/403), it
        asks once for a fresh one (`refresh_url`, else the job read again with this client).
        """
        if isinstance(job, str):
            if job.startswith("/") or re.match(r"^https?://", job, re.IGNORECASE):
                url, job_id = job, _job_id_of_url(job)
            else:
                url, job_id = f"/api/jobs/{job}/stream", job
        else:
            url, job_id = str(job["stream_url"]), str(job["id"]) if "id" in job else _job_id_of_url(str(job["stream_url"]))
        refresh = refresh_url
        if refresh is None and job_id is not None:
            found = job_id

            def refresh() -> str:
                return str(self.get(found)["stream_url"])

        return self._follow(url, refresh, last_event_id, on_retry, idle_timeout, TERMINAL)

    def watch_events(
        self,
        *,
        type: Optional[str] = None,
        status: Optional[JobStatus] = None,
        url: Optional[str] = None,
        last_event_id: Optional[int] = None,
        refresh_url: Optional[Callable[[], str]] = None,
        on_retry: Optional[Callable[[JobcastError, float], None]] = None,
        idle_timeout: float = 90.0,
    ) -> Iterator[Event]:
        """`GET /api/events`: every matching job's changes (`ready`, then `progress`,
        `completed`, `failed` with the job's state), reconnecting for as long as you iterate.
        `url` starts from a signed URL (from `events_url`); an expired one is replaced."""
        query = urllib.parse.urlencode({k: v for k, v in (("type", type), ("status", status)) if v})
        start = url or "/api/events" + (f"?{query}" if query else "")
        refresh = refresh_url or (lambda: self.events_url(type=type, status=status))
        return self._follow(start, refresh, last_event_id, on_retry, idle_timeout, frozenset())

    def _follow(
        self,
        url: str,
        refresh: Optional[Callable[[], str]],
        last_event_id: Optional[int],
        on_retry: Optional[Callable[[JobcastError, float], None]],
        idle_timeout: float,
        terminal: "frozenset[str]",
    ) -> Iterator[Event]:
        last_id = "" if last_event_id is None else str(last_event_id)
        retry_ms = 2000
        failures = 0
        refreshed = False
        while True:
            headers = self._headers({"Accept": "text/event-stream"})
            if last_id:
                headers["Last-Event-ID"] = last_id
            request = urllib.request.Request(self.url(url), headers=headers)
            problem: JobcastError
            wait: Optional[float] = None
            try:
                response = urllib.request.urlopen(request, timeout=idle_timeout)
            except urllib.error.HTTPError as error:
                failure = _error_from(error, url)
                if failure.status in (401, 403) and refresh is not None and not refreshed:
                    refreshed = True
                    url = refresh()
                    continue
                if not failure.retryable:
                    raise failure from None
                problem, wait = failure, failure.retry_after
            except (OSError, http.client.HTTPException) as error:
                problem = _network(error, url)
            else:
                with response:
                    if response.status == 204:
                        return  # it already saw the terminal event
                    refreshed = False
                    failures = 0
                    try:
                        for name, event_id, data, retry in _parse(response):
                            if retry is not None:
                                retry_ms = retry
                            last_id = event_id
                            if not name:
                                continue
                            yield Event(name, int(event_id or 0), json.loads(data))
                            if name in terminal:
                                return
                        problem = JobcastError(0, "network", "the stream ended; reconnecting", path=url)
                        wait = retry_ms / 1000
                    except (OSError, http.client.HTTPException, ValueError) as error:
                        problem = _network(error, url)
            delay = wait if wait is not None else min(MAX_BACKOFF, max(retry_ms / 1000, 0.5) * 2**failures) * random.uniform(0.5, 1)
            if wait is None:
                failures += 1
            if on_retry is not None:
                on_retry(problem, delay)
            time.sleep(delay)


def _parse(response: Any) -> Iterator["tuple[str, str, str, Optional[int]]"]:
    """The HTML standard's event-stream rules, over a response read line by line: yields
    (event name, last event id, data, retry) per dispatched event (a `retry:` alone comes
    with an empty name)."""
    name, data, retry = "", [], None  # type: str, List[str], Optional[int]
    event_id = ""
    first = True
    while True:
        raw = response.readline()
        if not raw:
            return
        line = raw.decode("utf-8", errors="replace")
        if first:
            line = line.lstrip("\ufeff")
            first = False
        line = line.rstrip("\r\n")
        if line == "":
            if data:
                yield name or "message", event_id, "\n".join(data), retry
                retry = None
            elif retry is not None:
                yield "", event_id, "", retry
                retry = None
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id" and "\0" not in value:
            event_id = value
        elif field == "retry" and value.isdigit():
            retry = int(value)


def is_finished(job: Mapping[str, Any]) -> bool:
    """Whether a job (or an event's data) can no longer change (only a retry brings it back)."""
    return job.get("status") in FINISHED
