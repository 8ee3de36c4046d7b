#!/usr/bin/env python3
"""A jobcast external worker with only Python's standard library.

Claims jobs of the given types, reports progress and log lines under the job's lease (renewed
every third of the lease while the work runs), and completes or fails each job. A lost lease
(409: the job was cancelled, or its lease ran out and it went back to the queue) drops that
job and the worker goes on; a server that is away is asked again with capped exponential
backoff; a refused token (401, 403) stops the worker. SIGTERM or Ctrl-C finishes the current
job first.

    JOBCAST_TOKEN=SECRET python3 examples/worker.py http://127.0.0.1:8080 external
"""
import argparse
import http.client
import json
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

log = logging.getLogger("worker")

RETRY_STATUSES = {429, 502, 503, 504}  # the server (or the proxy before it) is away or busy
MAX_BACKOFF = 30.0


class ApiError(Exception):
    """An answer that asking again will not change."""

    def __init__(self, status, path, message):
        super().__init__(f"{status} on {path}: {message}")
        self.status = status


class LeaseLost(ApiError):
    """409: the job is not ours any more (cancelled, finished, or its lease ran out)."""


class BadToken(Exception):
    """401 or 403: the token is wrong or may not work jobs; it will not fix itself."""


class Client:
    def __init__(self, base, token):
        self.base = base.rstrip("/")
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def post(self, path, body, lease=None, timeout=30):
        """POSTs JSON and returns (status, JSON body or None), asking again while the server
        is away."""
        headers = dict(self.headers, **({"Jobcast-Lease": lease} if lease else {}))
        delay = 0.5
        while True:
            request = urllib.request.Request(self.base + path, json.dumps(body).encode(), headers)
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                message = error_message(error)
                if error.code in (401, 403):
                    raise BadToken(f"{error.code} {message}") from None
                if error.code == 409:
                    raise LeaseLost(error.code, path, message) from None
                if error.code not in RETRY_STATUSES:
                    raise ApiError(error.code, path, message) from None
                wait = retry_after(error) or delay * random.uniform(0.5, 1)
                why = f"{error.code} {message}"
            except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out
                wait, why = delay * random.uniform(0.5, 1), getattr(error, "reason", error)
            log.warning("server away (%s): asking again in %.1f s", why, wait)
            time.sleep(wait)
            delay = min(delay * 2, MAX_BACKOFF)


def error_message(error):
    text = ""
    try:
        text = error.read().decode(errors="replace")
        return json.loads(text)["message"]
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
        return text or error.reason


def retry_after(error):
    try:
        return float(error.headers.get("Retry-After", ""))
    except ValueError:
        return None


class Job:
    """A claimed job: its updates carry the lease, and a thread renews the lease (with a
    progress update, which extends it) so that one step may take longer than the lease."""

    def __init__(self, client, claimed, lease_seconds):
        self.client, self.id, self.lease = client, claimed["id"], claimed["lease_id"]
        self.payload = claimed.get("payload") or {}
        self.percent = claimed.get("progress") or 0
        self.lock = threading.Lock()  # one update at a time, in order
        self.done = threading.Event()
        threading.Thread(target=self.renew, args=(lease_seconds / 3,), daemon=True).start()

    def post(self, action, body):
        with self.lock:
            return self.client.post(f"/api/jobs/{self.id}/{action}", body, self.lease)[1]

    def progress(self, percent, message):
        self.percent = percent
        self.post("progress", {"progress": percent, "message": message})

    def log(self, level, message):
        self.post("logs", {"level": level, "message": message})

    def renew(self, every):
        while not self.done.wait(every):
            try:
                self.post("progress", {"progress": self.percent})
            except (ApiError, BadToken):
                return  # the work's next update gets the same answer and acts on it

    def finish(self, action, body):
        self.done.set()
        self.post(action, body)


def work(job):
    """The real work goes here. This one takes payload["steps"] steps of payload["step_ms"]
    each, and fails with payload["fail"] if there is one."""
    steps = int(job.payload.get("steps", 5))
    for step in range(steps):
        job.progress(100 * step / steps, f"step {step + 1}/{steps}")
        time.sleep(job.payload.get("step_ms", 200) / 1000)
    if "fail" in job.payload:
        raise RuntimeError(job.payload["fail"])
    job.log("success", "done")
    return {"steps": steps}


def run(job):
    try:
        try:
            action, body = "complete", {"result": work(job)}
        except (ApiError, BadToken):
            raise
        except Exception as error:  # the work failed: jobcast retries it while attempts remain
            action, body = "fail", {"error": str(error) or repr(error)}
        job.finish(action, body)
        outcome = "completed" if action == "complete" else f"failed: {body['error']}"
        log.info("job %s: %s", job.id, outcome)
    except LeaseLost as lost:  # cancelled or expired (or a retried call had in fact arrived)
        log.warning("job %s: lease lost, moving on (%s)", job.id, lost)
    except ApiError as error:
        log.error("job %s: update refused, moving on (%s)", job.id, error)
    finally:
        job.done.set()


busy = stopping = False


def on_signal(signum, frame):
    global stopping
    if not busy:
        sys.exit(0)
    if stopping:
        sys.exit("worker: stopped mid-job; its lease runs out and it goes back to the queue")
    stopping = True
    log.info("stopping after the current job (again to stop now)")


def main():
    global busy
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?",
                        default=os.environ.get("JOBCAST_URL", "http://127.0.0.1:8080"),
                        help="the server (default: $JOBCAST_URL, else http://127.0.0.1:8080)")
    parser.add_argument("types", nargs="*", default=["external"], help="job types to claim")
    parser.add_argument("--token", default=os.environ.get("JOBCAST_TOKEN"),
                        help="API token of the worker role (default: $JOBCAST_TOKEN)")
    parser.add_argument("--worker", default=f"{socket.gethostname()}-{os.getpid()}",
                        help="this worker's name in the job")
    parser.add_argument("--lease", type=int, default=30, help="lease in seconds (at least 1)")
    parser.add_argument("--wait", type=int, default=20, help="long poll in seconds (at most 60)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    client = Client(args.url, args.token)
    claim = {"types": args.types, "worker": args.worker,
             "lease": f"{args.lease}s", "wait": f"{args.wait}s"}
    log.info("worker %s claiming %s from %s", args.worker, ", ".join(args.types), args.url)
    try:
        while not stopping:
            status, claimed = client.post("/api/workers/claim", claim, timeout=args.wait + 30)
            if status == 200:
                busy = True
                run(Job(client, claimed, args.lease))
                busy = False
        log.info("stopped")
    except BadToken as error:
        hint = "set JOBCAST_TOKEN or --token" if not args.token else "check the token and its role"
        sys.exit(f"worker: the server refused the token ({error}); {hint}")
    except ApiError as error:
        sys.exit(f"worker: the claim was refused ({error})")


if __name__ == "__main__":
    main()
