"""The Worker against the real server, in a thread (and, for signals, a child process)."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

from conftest import HERE, until
from jobcast import Client, JobcastError, JobContext, LeaseLost, Worker


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def has(self, *parts: str) -> bool:
        return any(all(p in line for p in parts) for line in list(self.lines))


def start(server: Any, handler: Callable[[JobContext], Any], **options: Any) -> Tuple[Worker, Lines, threading.Thread]:
    lines = Lines()
    logger = logging.getLogger(f"test-worker-{id(lines)}")
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    options.setdefault("wait", 1)
    worker = Worker(["external"], handler, base_url=server.base, token=server.tokens.get("worker"), logger=logger, **options)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return worker, lines, thread


@pytest.fixture
def running() -> Iterator[List[Tuple[Worker, threading.Thread]]]:
    started: List[Tuple[Worker, threading.Thread]] = []
    yield started
    for worker, thread in started:
        worker.stop()
    for worker, thread in started:
        thread.join(10)


def finished(job: Any) -> bool:
    return job["status"] in ("completed", "failed", "cancelled")


def test_a_worker_completes_a_job_with_progress_and_log_lines(secured: Any, running: Any) -> None:
    admin = Client(secured.base, secured.tokens["admin"])

    def work(job: JobContext) -> Any:
        for step in range(3):
            job.progress(100 * step / 3, f"step {step + 1}/3", current=step + 1, total=3, stage="count")
        job.log("done", "success")
        return {"steps": 3, "payload": job.payload}

    worker, lines, thread = start(secured, work, name="py-1")
    running.append((worker, thread))
    job = admin.submit("external", {"x": 1})
    done = until("completed", lambda: admin.get(job), finished, 20)
    assert done["status"] == "completed", lines.lines
    assert done["result"] == {"steps": 3, "payload": {"x": 1}}
    assert (done["message"], done["current"], done["total"], done["stage"]) == ("step 3/3", 3, 3, "count")
    assert ("success", "done") in [(line["level"], line["message"]) for line in admin.logs(job)]
    until("logged", lambda: lines.has(job["id"], "completed"))


def test_a_failing_handler_fails_the_job_with_its_message(secured: Any, running: Any) -> None:
    admin = Client(secured.base, secured.tokens["admin"])

    def work(job: JobContext) -> Any:
        raise ValueError("bad input")

    worker, lines, thread = start(secured, work)
    running.append((worker, thread))
    job = admin.submit("external")
    done = until("failed", lambda: admin.get(job), finished, 20)
    assert (done["status"], done["error"]) == ("failed", "bad input")


def test_the_lease_is_renewed_on_a_timer_through_a_step_longer_than_the_lease(secured: Any, running: Any) -> None:
    admin = Client(secured.base, secured.tokens["admin"])

    def work(job: JobContext) -> Any:
        time.sleep(1.5)  # silent: only the timer's renewals keep the 1 s lease
        job.progress(50, "half")
        time.sleep(1.5)
        return "ok"

    worker, lines, thread = start(secured, work, lease=1)
    running.append((worker, thread))
    job = admin.submit("external")
    done = until("finished", lambda: admin.get(job), finished, 30)
    assert (done["status"], done["attempt"], done["result"]) == ("completed", 1, "ok"), lines.lines


def test_a_lost_lease_stops_that_jobs_handler_and_the_worker_goes_on(secured: Any, running: Any) -> None:
    admin = Client(secured.base, secured.tokens["admin"])
    outcomes: List[str] = []

    def work(job: JobContext) -> Any:
        if job.payload == "slow":
            try:
                for step in range(200):
                    job.progress(step / 2, f"step {step}")
                    time.sleep(0.05)
            except LeaseLost as lost:
                outcomes.append(f"lost {lost.status}")
                raise
            outcomes.append("ran to the end")
        return "quick"

    worker, lines, thread = start(secured, work)
    running.append((worker, thread))
    slow = admin.submit("external", "slow")
    until("running", lambda: admin.get(slow), lambda j: j.get("message", "").startswith("step"), 20)
    assert admin.cancel(slow)["status"] == "cancelled"
    until("handler stopped", lambda: outcomes, lambda o: o == ["lost 409"])
    until("logged", lambda: lines.has(slow["id"], "lease lost"))
    quick = admin.submit("external", "quick")
    done = until("next job", lambda: admin.get(quick), finished, 20)
    assert done["status"] == "completed"
    assert admin.get(slow)["status"] == "cancelled"


def test_the_worker_waits_out_a_server_that_is_away_then_works_again(fresh_secured: Any, running: Any) -> None:
    server = fresh_secured
    admin = Client(server.base, server.tokens["admin"])
    worker, lines, thread = start(server, lambda job: "ok", lease=2)
    running.append((worker, thread))
    until("claiming", lambda: lines.has("claiming external"))
    server.kill()
    until("away", lambda: lines.has("server away"), within=20)
    assert thread.is_alive()
    server.start()
    job = admin.submit("external")
    done = until("completed after the outage", lambda: admin.get(job), finished, 60)
    assert done["status"] == "completed", lines.lines


def test_a_refused_token_ends_run_with_the_error(secured: Any) -> None:
    for token, status in ((None, 401), ("wrong", 401), (secured.tokens["read"], 403)):
        worker = Worker(["external"], lambda job: None, base_url=secured.base, token=token, wait=1)
        with pytest.raises(JobcastError) as refused:
            worker.run()
        assert refused.value.status == status


SCRIPT = """
import logging, sys, time
sys.path.insert(0, sys.argv[3])
from jobcast import Worker
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
def work(job):
    for step in range(10):
        job.progress(step * 10, f"step {step}")
        time.sleep(0.2)
    return {"steps": 10}
Worker(["external"], work, base_url=sys.argv[1], token=sys.argv[2], wait=1).run()
"""


def test_sigterm_lets_the_current_job_finish_then_the_worker_exits(secured: Any) -> None:
    admin = Client(secured.base, secured.tokens["admin"])
    source = os.path.join(os.path.dirname(HERE), "src")
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, secured.base, secured.tokens["worker"], source],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        job = admin.submit("external")
        until("running", lambda: admin.get(job), lambda j: j["status"] == "running", 20)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        assert "stopping after the current job" in err and err.rstrip().endswith("stopped"), err
        done = admin.get(job)
        assert (done["status"], done["result"]) == ("completed", {"steps": 10})
    finally:
        child.kill()
        child.wait()

    # Idle, in a claim: it stops at once.
    idle = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, secured.base, secured.tokens["worker"], source],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert idle.stderr is not None
        for line in idle.stderr:  # its handlers are set before it says so
            if "claiming" in line:
                break
        idle.send_signal(signal.SIGTERM)
        _, err = idle.communicate(timeout=10)
        assert idle.returncode == 0, err
    finally:
        idle.kill()
        idle.wait()
