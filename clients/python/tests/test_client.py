"""The client against the real server: no mocks."""
from __future__ import annotations

import io
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any, Iterator, List

import pytest

from conftest import REPO, metric, until
from jobcast import Client, Event, JobcastError, LeaseLost, is_finished

SAMPLE = os.path.join(REPO, "examples", "data", "traces-1000.jsonl")
EXPECTED = json.load(open(os.path.join(REPO, "examples", "data", "traces-1000.expected.json")))


def take(events: Iterator[Event], within: float = 20.0) -> List[Event]:
    """Everything an iterator yields until it ends (bounded in time)."""
    seen: List[Event] = []
    deadline = time.monotonic() + within
    for event in events:
        seen.append(event)
        assert time.monotonic() < deadline, f"the stream went on past {within} s: {seen[-3:]}"
    return seen


def test_submit_get_cancel_retry_and_idempotency(server: Any) -> None:
    client = Client(server.base)
    job = client.submit("external", {"n": 1}, priority=5, idempotency_key="py-1")
    assert job["status"] == "queued" and job["priority"] == 5 and job["payload"] == {"n": 1}
    assert client.submit("external", {"n": 1}, idempotency_key="py-1")["id"] == job["id"]
    assert client.get(job["id"])["id"] == job["id"]
    assert client.cancel(job)["status"] == "cancelled"
    assert is_finished(client.get(job))
    again = client.retry(job["id"])
    assert (again["id"], again["status"]) == (job["id"], "queued")
    assert any(t["name"] == "import-traces" and t["file_input"] for t in client.types())


def test_list_walks_every_cursor_page(server: Any) -> None:
    client = Client(server.base)
    made = [client.submit("external", {"i": i})["id"] for i in range(7)]
    pages = list(client.pages(type="external", status="queued", limit=3))
    assert len(pages) >= 3
    assert all(len(p["jobs"]) == 3 and p["next_cursor"] for p in pages[:-1])
    assert pages[-1]["next_cursor"] is None
    ids = [j["id"] for j in client.list(type="external", status="queued", limit=2)]
    assert set(made) <= set(ids)
    assert len(ids) == len(set(ids))
    assert ids == [j["id"] for p in pages for j in p["jobs"]]


def test_search_and_attempts(server: Any) -> None:
    client = Client(server.base)
    key = f"py-search-{time.time_ns()}"
    job = client.submit("external", {}, idempotency_key=key)
    client.submit("external", {})
    assert [j["id"] for j in client.list(q=key.upper())] == [job["id"]]
    assert client.attempts(job) == []
    client.fail(job, "disk full", {"free": 0})
    attempts = client.attempts(job)
    assert [(a["attempt"], a["outcome"], a["error"]) for a in attempts] == [(1, "failed", "disk full")]
    assert attempts[0]["details"] == {"free": 0}
    assert attempts[0]["duration_ms"] is not None and attempts[0]["duration_ms"] >= 0
    with pytest.raises(JobcastError) as long:
        list(client.list(q="x" * 201))
    assert (long.value.status, long.value.field) == (422, "q")


def test_errors_carry_status_code_message_and_field(server: Any) -> None:
    client = Client(server.base)
    with pytest.raises(JobcastError) as missing:
        client.get("01900000-0000-7000-8000-000000000000")
    assert (missing.value.status, missing.value.error) == (404, "not_found")
    assert "404 on /api/jobs/01900000-0000-7000-8000-000000000000" in str(missing.value)
    with pytest.raises(JobcastError) as invalid:
        client.submit("demo", {"steps": 1}, priority=5000)
    assert (invalid.value.status, invalid.value.error, invalid.value.field) == (422, "invalid_field", "priority")
    done = client.submit("external")
    client.cancel(done)
    with pytest.raises(LeaseLost) as conflict:  # every 409 is a LeaseLost (a JobcastError)
        client.cancel(done)
    assert conflict.value.error == "conflict"
    with pytest.raises(JobcastError) as away:
        Client("http://127.0.0.1:1").get(done)
    assert (away.value.status, away.value.error, away.value.retryable) == (0, "network", True)


def test_upload_a_path_bytes_and_a_file_object_then_import_one(server: Any) -> None:
    client = Client(server.base)
    upload = client.upload(SAMPLE, content_type="application/x-ndjson")
    assert upload["size"] == os.path.getsize(SAMPLE)
    assert upload["content_type"] == "application/x-ndjson"
    assert client.upload(b"hello")["size"] == 5
    assert client.upload(io.BytesIO(b"abc"), content_type="text/plain")["size"] == 3
    with open(SAMPLE, "rb") as handle:
        assert client.upload(handle)["sha256"] == upload["sha256"]
    job = client.submit("import-traces", {"upload_id": upload["upload_id"]})
    events = take(client.watch(job))
    assert events[-1].event == "completed", events[-3:]
    assert events[-1].data["result"] == EXPECTED
    assert any(e.event == "progress" and 0 < e.data["progress"] < 100 for e in events)


def test_watch_follows_a_job_to_its_end_once_with_growing_ids(server: Any) -> None:
    client = Client(server.base)
    job = client.submit("demo", {"steps": 12, "step_ms": 30})
    events = take(client.watch(job))
    assert [e.event for e in events].count("completed") == 1 and events[-1].event == "completed"
    ids = [e.id for e in events]
    assert ids == sorted(set(ids)), ids
    stored = [line["seq"] for line in client.logs(job)]
    streamed = [e.data["seq"] for e in events if e.event == "log"]
    assert streamed and streamed == stored[len(stored) - len(streamed):]
    opened = metric(server, "jobcast_streams_opened_total")
    time.sleep(0.5)  # five of the harness's retry delays: a reconnect loop would show
    assert metric(server, "jobcast_streams_opened_total") == opened
    until("streams closed", lambda: metric(server, "jobcast_streams_open"), lambda n: n == 0)


def test_watch_resumes_after_last_event_id_and_ends_on_204(server: Any) -> None:
    client = Client(server.base)
    job = client.submit("external")
    client.progress(job, 10, "one")
    middle = client.get(job)
    client.log(job, "after the middle")
    client.complete(job, {"ok": True})
    events = take(client.watch(job["id"], last_event_id=middle["version"]))
    assert [e.event for e in events] == ["log", "completed"]
    assert events[0].data["message"] == "after the middle"
    assert take(client.watch(job, last_event_id=client.get(job)["version"])) == []


def test_breaking_out_of_watch_closes_the_stream(server: Any) -> None:
    client = Client(server.base)
    job = client.submit("external")
    events = client.watch(job)
    assert next(events).event == "progress"
    until("one stream", lambda: metric(server, "jobcast_streams_open"), lambda n: n == 1)
    events.close()  # what leaving a for loop early does
    until("stream closed", lambda: metric(server, "jobcast_streams_open"), lambda n: n == 0)
    client.cancel(job)


def test_watch_events_carries_every_jobs_changes(server: Any) -> None:
    client = Client(server.base)
    events = client.watch_events(type="external")
    assert next(events).event == "ready"
    job = client.submit("external")
    client.progress(job, 50)
    client.complete(job, {"done": 1})
    seen = []
    for event in events:
        if event.data.get("job_id") == job["id"]:
            seen.append(event)
            if event.event == "completed":
                break
    events.close()
    assert seen[-1].data["result"] == {"done": 1}
    assert [e.id for e in seen] == sorted(e.id for e in seen)


def test_tokens_401_without_403_for_the_wrong_role_and_the_right_one_works(secured: Any) -> None:
    with pytest.raises(JobcastError) as none:
        Client(secured.base).submit("external")
    assert (none.value.status, none.value.error) == (401, "unauthorized")
    with pytest.raises(JobcastError) as reader:
        Client(secured.base, secured.tokens["read"]).submit("external")
    assert (reader.value.status, reader.value.error) == (403, "forbidden")
    job = Client(secured.base, secured.tokens["submit"]).submit("external")
    assert "token=" in job["stream_url"]
    assert Client(secured.base, secured.tokens["read"]).get(job)["id"] == job["id"]


def test_a_job_followed_through_a_server_restart_mid_stream(fresh_secured: Any) -> None:
    server = fresh_secured
    admin = Client(server.base, server.tokens["admin"])
    job = admin.submit("external")
    retries: List[str] = []
    # The signed stream_url only: no token on this side.
    events = Client(server.base).watch(job, on_retry=lambda error, delay: retries.append(error.error))
    seen = [next(events)]
    assert seen[0].event == "progress"
    admin.progress(job, 25, "before")
    admin.log(job, "line 1")
    while seen[-1].event != "log":
        seen.append(next(events))

    server.kill()
    server.start()  # the same port and database
    admin.log(job, "line 2")
    admin.progress(job, 75, "after")
    while not (seen[-1].event == "progress" and seen[-1].data.get("message") == "after"):
        seen.append(next(events))
    admin.complete(job, {"rows": 2})
    seen.extend(take(events, 30))
    assert retries, "it noticed the restart and reconnected"
    assert seen[-1].event == "completed" and seen[-1].data["result"] == {"rows": 2}
    assert [e.data["message"] for e in seen if e.event == "log"] == ["line 1", "line 2"]
    ids = [e.id for e in seen]
    assert ids == sorted(set(ids)), f"ids grow, none repeated: {ids}"


def test_a_refused_stream_url_is_replaced_by_a_fresh_one(fresh_secured: Any) -> None:
    server = fresh_secured
    admin = Client(server.base, server.tokens["admin"])
    job = admin.submit("external")
    events = Client(server.base, server.tokens["read"]).watch(job)
    assert next(events).event == "progress"
    admin.log(job, "before rotation")
    event = next(events)
    while event.event != "log":
        event = next(events)
    assert event.data["message"] == "before rotation"
    server.restart(JOBCAST_AUTH_SECRET="a-new-secret-0123456789abcdef")
    with pytest.raises(urllib.error.HTTPError) as old:
        urllib.request.urlopen(server.base + job["stream_url"])
    assert old.value.code == 401
    admin.log(job, "after rotation")
    admin.complete(job)
    rest = take(events, 30)
    assert [e.event for e in rest] == ["log", "completed"]
    assert rest[0].data["message"] == "after rotation"


def test_watch_events_from_a_signed_url_gets_a_fresh_one_when_it_expires() -> None:
    from jobcast_server import JobcastServer

    with JobcastServer(tokens=True, token_ttl="1s", env={"JOBCAST_STREAM_MAX_DURATION": "700ms"}) as server:
        backend = Client(server.base, server.tokens["admin"])
        refreshed = []

        def fresh() -> str:
            refreshed.append(1)
            return backend.events_url(type="external")

        events = Client(server.base).watch_events(url=backend.events_url(type="external"), refresh_url=fresh)
        assert next(events).event == "ready"
        made = []
        start = time.monotonic()
        while time.monotonic() - start < 3.5:
            job = backend.submit("external")
            made.append(job["id"])
            backend.complete(job, {"n": len(made)})
            time.sleep(0.3)
        seen = {}
        for event in events:
            if event.event == "completed":
                seen[event.data["job_id"]] = event.data["result"]["n"]
            if all(i in seen for i in made):
                break
        events.close()
        assert refreshed, "the expired URL was replaced"
        assert [seen[i] for i in made] == list(range(1, len(made) + 1))
