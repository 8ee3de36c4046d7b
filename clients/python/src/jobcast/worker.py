"""An external worker: claims jobs over HTTP and runs your handler on each, under a lease."""
from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any, Callable, Optional, Sequence, TypeVar

from .client import MAX_BACKOFF, Client, JobcastError, LeaseLost
from .types import ClaimedJob, LogLevel

T = TypeVar("T")
log = logging.getLogger("jobcast.worker")


class _Interrupted(Exception):
    """Raised by the signal handler to leave a claim that is waiting."""


class JobContext:
    """The job a handler works on: its `payload`, and `progress` and `log` calls that carry
    the lease. When the lease is lost (409: cancelled, or its lease ran out), the next call
    raises `LeaseLost`, which ends the handler: nothing it does counts any more."""

    def __init__(self, worker: "Worker", claimed: ClaimedJob) -> None:
        self.worker = worker
        self.job = claimed
        self.id: str = claimed["id"]
        self.lease_id: str = claimed["lease_id"]
        self.payload: Any = claimed.get("payload")
        self.attempt: int = claimed.get("attempt", 1)
        self._percent: float = float(claimed.get("progress") or 0)
        self._lock = threading.Lock()  # one update at a time, in order
        self._done = threading.Event()
        self._lost: Optional[LeaseLost] = None

    @property
    def lost(self) -> bool:
        """Whether the lease was lost: stop working on the job."""
        return self._lost is not None

    def check(self) -> None:
        """Raises `LeaseLost` if the lease was lost (for handlers with long silent steps)."""
        if self._lost is not None:
            raise self._lost

    def _post(self, call: Callable[[], T]) -> T:
        self.check()
        with self._lock:
            try:
                return self.worker._persist(call)
            except LeaseLost as lost:
                self._lost = lost
                raise

    def progress(
        self,
        percent: float,
        message: Optional[str] = None,
        *,
        current: Optional[int] = None,
        total: Optional[int] = None,
        stage: Optional[str] = None,
    ) -> None:
        """Reports progress (0 to 100) and what the job is doing; renews the lease too."""
        self._percent = percent
        client = self.worker.client
        self._post(
            lambda: client.progress(
                self.id, percent, message, current=current, total=total, stage=stage, lease=self.lease_id
            )
        )

    def log(self, message: str, level: LogLevel = "info") -> None:
        """Adds a log line to the job."""
        client = self.worker.client
        self._post(lambda: client.log(self.id, message, level, lease=self.lease_id))

    def _renew(self, every: float) -> None:
        # A progress update with the last percent extends the lease by its length, so one
        # step of the handler may take longer than the lease.
        client = self.worker.client
        while not self._done.wait(every):
            try:
                with self._lock:
                    client.progress(self.id, self._percent, lease=self.lease_id)
            except LeaseLost as lost:
                self._lost = lost
                log.warning("job %s: lease lost (%s)", self.id, lost)
                return
            except JobcastError:
                pass  # away: the next renewal (or the handler's next call) tries again


Handler = Callable[[JobContext], Any]


class Worker:
    """Claims jobs of `types` and runs `handler(job)` on each: its return value completes
    the job, an exception fails it (retried while attempts remain).

    - a long poll (`wait` seconds) for the next job, under a lease of `lease` seconds,
      renewed every third of it by a timer while the handler runs;
    - a lost lease (409 on any call) stops that job's handler (its next `progress` or `log`
      raises `LeaseLost`) and the worker goes on to the next job;
    - while the server is away (refused, reset, timeouts, 429, 502, 503, 504) it asks again
      with exponential backoff capped at 30 s, honouring `Retry-After`;
    - a refused token (401, 403) ends `run` with that `JobcastError`;
    - SIGTERM or SIGINT (when `run` is called from the main thread) lets the current job
      finish, then `run` returns; a second signal stops at once.
    """

    def __init__(
        self,
        types: Sequence[str],
        handler: Handler,
        *,
        client: Optional[Client] = None,
        base_url: Optional[str] = None,
        token: Optional[str] = None,
        name: Optional[str] = None,
        lease: float = 30.0,
        wait: float = 20.0,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        self.client = client or Client(base_url, token)
        self.types = list(types)
        self.handler = handler
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.lease = max(1.0, lease)
        self.wait = min(60.0, max(0.0, wait))
        self.log = logger or log
        self._stop = threading.Event()
        self._busy = False
        self._signals = 0

    def stop(self) -> None:
        """Stops after the current job (a waiting claim is left at its end)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _persist(self, call: Callable[[], T]) -> T:
        """Runs one call, asking again while the server is away."""
        delay = 0.5
        while True:
            try:
                return call()
            except JobcastError as error:
                if not error.retryable:
                    raise
                wait = error.retry_after if error.retry_after is not None else delay * random.uniform(0.5, 1)
                why = error.message if error.status == 0 else f"{error.status} {error.message}"
            self.log.warning("server away (%s): asking again in %.1f s", why, wait)
            time.sleep(wait)
            delay = min(delay * 2, MAX_BACKOFF)

    def run_once(self) -> bool:
        """Claims one job (waiting up to `wait`) and runs it; whether there was one."""
        claimed = self._persist(
            lambda: self.client.claim(self.types, worker=self.name, lease=self.lease, wait=self.wait)
        )
        if claimed is None:
            return False
        self._busy = True
        try:
            self._run(claimed)
        finally:
            self._busy = False
        return True

    def _run(self, claimed: ClaimedJob) -> None:
        job = JobContext(self, claimed)
        threading.Thread(target=job._renew, args=(self.lease / 3,), daemon=True).start()
        client = self.client
        try:
            try:
                result = self.handler(job)
            except LeaseLost:
                raise
            except Exception as error:  # the work failed: jobcast retries it while attempts remain
                job.check()
                if isinstance(error, JobcastError) and error.status in (401, 403):
                    raise
                message = str(error) or repr(error)
                job._done.set()
                with job._lock:
                    self._persist(lambda: client.fail(job.id, message, lease=job.lease_id))
                self.log.info("job %s: failed: %s", job.id, message)
                return
            job.check()
            job._done.set()
            with job._lock:
                self._persist(lambda: client.complete(job.id, result, lease=job.lease_id))
            self.log.info("job %s: completed", job.id)
        except LeaseLost as lost:  # cancelled or expired (or a retried call had in fact arrived)
            self.log.warning("job %s: lease lost, moving on (%s)", job.id, lost)
        except JobcastError as error:
            if error.status in (401, 403):
                raise
            self.log.error("job %s: update refused, moving on (%s)", job.id, error)
        finally:
            job._done.set()

    def _on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        self._signals += 1
        self._stop.set()
        if not self._busy:
            raise _Interrupted()
        if self._signals > 1:
            raise SystemExit("worker: stopped mid-job; its lease runs out and it goes back to the queue")
        self.log.info("stopping after the current job (again to stop now)")

    def run(self) -> None:
        """Works jobs until `stop()` or a signal; raises `JobcastError` on a refused token (or
        a claim the server refuses)."""
        handlers = None
        if threading.current_thread() is threading.main_thread():
            handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        self.log.info("worker %s claiming %s from %s", self.name, ", ".join(self.types), self.client.base_url)
        try:
            while not self._stop.is_set():
                self.run_once()
        except _Interrupted:
            pass
        finally:
            if handlers:
                for sig, previous in handlers.items():
                    signal.signal(sig, previous)
        self.log.info("stopped")
