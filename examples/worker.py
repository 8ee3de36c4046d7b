#!/usr/bin/env python3
"""A jobcast external worker, on the `jobcast` Python package (standard library only).

Claims jobs of the given types, reports progress and log lines under the job's lease (renewed
every third of the lease while the work runs), and completes or fails each job. A lost lease
(409: the job was cancelled, or its lease ran out and it went back to the queue) drops that
job and the worker goes on; a server that is away is asked again with capped exponential
backoff; a refused token (401, 403) stops the worker. SIGTERM or Ctrl-C finishes the current
job first.

    JOBCAST_TOKEN=SECRET python3 examples/worker.py http://127.0.0.1:8080 external

From a checkout it runs as it is (it finds the package in clients/python/src); elsewhere,
`pip install jobcast` (or clients/python).
"""
import argparse
import logging
import os
import socket
import sys
import time

try:
    import jobcast
except ImportError:  # a checkout: the package beside the examples
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python", "src"))
    import jobcast


def work(job):
    """The real work goes here. This one takes payload["steps"] steps of payload["step_ms"]
    each, and fails with payload["fail"] if there is one."""
    payload = job.payload or {}
    steps = int(payload.get("steps", 5))
    for step in range(steps):
        job.progress(100 * step / steps, f"step {step + 1}/{steps}")
        time.sleep(payload.get("step_ms", 200) / 1000)
    if "fail" in payload:
        raise RuntimeError(payload["fail"])
    job.log("done", "success")
    return {"steps": steps}


def main():
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

    worker = jobcast.Worker(args.types, work, base_url=args.url, token=args.token,
                            name=args.worker, lease=args.lease, wait=args.wait,
                            logger=logging.getLogger("worker"))
    try:
        worker.run()
    except jobcast.JobcastError as error:
        if error.status in (401, 403):
            hint = "set JOBCAST_TOKEN or --token" if not args.token else "check the token and its role"
            sys.exit(f"worker: the server refused the token ({error}); {hint}")
        sys.exit(f"worker: the claim was refused ({error})")


if __name__ == "__main__":
    main()
