"""jobcast.command, the helpers for command jobs: the lines it prints are the ones jobcast
reads, and the import example (which uses it) imports an upload through the real server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from conftest import HERE
from jobcast import Client

PROGRAM = """
import sys
sys.path.insert(0, sys.argv[1])
from jobcast import command
p = command.payload()
command.progress(45.5, "parsing", current=450, total=1000, stage="parse")
command.log("careful", "warning")
command.result({"echo": p, "input": command.input_file(), "job": command.job_id(), "attempt": command.attempt()})
"""


def test_the_helpers_print_the_json_lines_jobcast_reads() -> None:
    env = dict(os.environ, JOBCAST_INPUT_FILE="/tmp/in.jsonl", JOBCAST_JOB_ID="j-1", JOBCAST_ATTEMPT="2")
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, os.path.join(os.path.dirname(HERE), "src")],
        input='{"rows": 3}\n',
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert [json.loads(line) for line in out.splitlines()] == [
        {"progress": 45.5, "message": "parsing", "current": 450, "total": 1000, "stage": "parse"},
        {"log": "careful", "level": "warning"},
        {"result": {"echo": {"rows": 3}, "input": "/tmp/in.jsonl", "job": "j-1", "attempt": 2}},
    ]


def test_a_command_job_built_on_the_helpers_runs_on_the_server(server: Any) -> None:
    client = Client(server.base)
    upload = client.upload(b'{"trace_id": "x"}\n' * 3, content_type="application/x-ndjson")
    job = client.submit("import-traces", {"upload_id": upload["upload_id"]})
    events = list(client.watch(job))
    assert events[-1].event == "completed"
    assert events[-1].data["result"] == {"traces": 0, "spans": 0, "error_spans": 0, "skipped_lines": 3}
    lines = [(line["level"], line["message"]) for line in client.logs(job)]
    assert ("warning", "line 1 skipped: trace_id must be 32 lowercase hex digits") in lines, lines
