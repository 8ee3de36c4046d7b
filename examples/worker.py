#!/usr/bin/env python3
"""A jobcast external worker with only the standard library.

Claims jobs of the given types, reports progress and log lines under the job's lease, and
completes or fails it. Run: python3 examples/worker.py [BASE_URL] [TYPE ...]
"""
import json
import sys
import time
import urllib.error
import urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
TYPES = sys.argv[2:] or ["external"]


def call(path, body, lease=None):
    headers = {"Content-Type": "application/json"}
    if lease:
        headers["Jobcast-Lease"] = lease
    request = urllib.request.Request(BASE + path, json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read() or b"null")


def work(job, lease):
    steps = int((job.get("payload") or {}).get("steps", 5))
    for step in range(1, steps + 1):
        time.sleep(0.2)  # the real work goes here
        call(f"/api/jobs/{job['id']}/progress",
             {"progress": 100 * step / steps, "message": f"step {step}/{steps}"}, lease)
    call(f"/api/jobs/{job['id']}/logs", {"level": "success", "message": "done"}, lease)
    return {"steps": steps}


while True:
    status, job = call("/api/workers/claim",
                       {"types": TYPES, "worker": "python-example", "lease": "30s", "wait": "20s"})
    if status == 204:
        continue  # nothing queued within 20 s: ask again
    lease = job["lease_id"]
    try:
        result = work(job, lease)
        call(f"/api/jobs/{job['id']}/complete", {"result": result}, lease)
        print("completed", job["id"], flush=True)
    except urllib.error.HTTPError as error:
        # 409: the lease was lost (it expired, or the job was cancelled); drop the job.
        print("gave up", job["id"], error.code, error.read().decode(), flush=True)
    except Exception as error:  # the work itself failed: report it, jobcast retries
        call(f"/api/jobs/{job['id']}/fail", {"error": str(error)}, lease)
