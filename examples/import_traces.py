#!/usr/bin/env python3
"""jobcast command job: import a JSONL file of trace spans, with live progress.

Payload (stdin, JSON): {"path": "traces-1000.jsonl"}, a file inside the import folder
($IMPORT_DIR, default examples/data), or no path when jobcast hands over an upload in
$JOBCAST_INPUT_FILE. Each line is one span with OpenTelemetry's field names: trace_id (32 hex),
span_id (16 hex), parent_span_id (16 hex, optional), name, start_time_unix_nano,
end_time_unix_nano, status ("ok" | "error" | "unset"), attributes (object, optional).
Prints progress by bytes read about every 1 %, a warning per malformed line (capped), and the
result {"traces", "spans", "error_spans", "skipped_lines"}. Standard library only: its lines
to jobcast go through `jobcast.command` (clients/python), found beside the examples in a checkout.

A file larger than $IMPORT_SPLIT_ABOVE bytes (default 8 MiB; 0 never splits) is split into
chunks of $IMPORT_CHUNK_LINES lines (default 20000), imported in parallel as child jobs of type
$IMPORT_PART_TYPE (default import-traces-part, this same program) whose payload names the
chunk's bytes. Each part writes its trace ids to a work file under $IMPORT_WORK_DIR (default
the system's temporary folder); when every part has ended, the parent runs again and merges
their counts and trace ids, so the result equals a single-job import's.
"""
import json
import os
import re
import shutil
import sys
import tempfile

try:
    from jobcast import command
except ImportError:  # a checkout: the package beside the examples
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python", "src"))
    from jobcast import command

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
STATUSES = {"ok", "error", "unset"}
MAX_WARNINGS = 20


def fail(text):
    print(text, file=sys.stderr, flush=True)
    sys.exit(2)


def resolve_input(payload):
    upload = command.input_file()
    if upload:
        return upload
    path = payload.get("path") if isinstance(payload, dict) else None
    if not isinstance(path, str) or not path:
        fail("payload needs a \"path\" inside the import folder (or an upload)")
    folder = os.path.realpath(os.environ.get("IMPORT_DIR", "examples/data"))
    target = os.path.realpath(os.path.join(folder, path))
    # realpath resolves "..", and symlinks, so anything that escapes the folder shows here.
    if os.path.commonpath([folder, target]) != folder:
        fail(f"refused: {path!r} is outside the import folder")
    if not os.path.isfile(target):
        fail(f"no such file in the import folder: {path!r}")
    return target


def nanos(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def check(span):
    """Why the span is malformed, or None."""
    if not isinstance(span, dict):
        return "not a JSON object"
    if not isinstance(span.get("trace_id"), str) or not HEX32.match(span["trace_id"]):
        return "trace_id must be 32 lowercase hex digits"
    if not isinstance(span.get("span_id"), str) or not HEX16.match(span["span_id"]):
        return "span_id must be 16 lowercase hex digits"
    parent = span.get("parent_span_id")
    if parent is not None and (not isinstance(parent, str) or not HEX16.match(parent)):
        return "parent_span_id must be 16 lowercase hex digits"
    if not isinstance(span.get("name"), str) or not span["name"]:
        return "name must be a non-empty string"
    start, end = nanos(span.get("start_time_unix_nano")), nanos(span.get("end_time_unix_nano"))
    if start is None or end is None:
        return "start_time_unix_nano and end_time_unix_nano must be whole numbers"
    if end < start:
        return "end_time_unix_nano is before start_time_unix_nano"
    if span.get("status") not in STATUSES:
        return "status must be ok, error or unset"
    if "attributes" in span and not isinstance(span["attributes"], dict):
        return "attributes must be an object"
    return None


def work_root():
    return os.path.realpath(os.environ.get("IMPORT_WORK_DIR") or tempfile.gettempdir())


def work_dir(parent_id):
    return os.path.join(work_root(), f"jobcast-import-{parent_id}")


def in_work_root(path):
    """`path`, refused unless it lies inside the work folder (payloads come from clients too)."""
    real = os.path.realpath(path)
    if os.path.commonpath([work_root(), real]) != work_root() or real == work_root():
        fail(f"refused: {path!r} is outside the work folder")
    return real


def chunks(path, lines_per_chunk):
    """(first line number, start byte, end byte) of each chunk of `lines_per_chunk` lines."""
    start, first, count, offset = 0, 1, 0, 0
    with open(path, "rb") as lines:
        for raw in lines:
            offset += len(raw)
            count += 1
            if count == lines_per_chunk:
                yield first, start, offset
                first, start, count = first + count, offset, 0
    if count:
        yield first, start, offset


def split(payload, path, size):
    """Makes one child per chunk; this run ends, and the job waits for them."""
    lines_per_chunk = int(os.environ.get("IMPORT_CHUNK_LINES") or 20000)
    part_type = os.environ.get("IMPORT_PART_TYPE") or "import-traces-part"
    work = work_dir(command.job_id() or "local")
    os.makedirs(work, exist_ok=True)
    made = 0
    command.progress(0, f"splitting {os.path.basename(path)}", stage="split")
    for index, (first, start, end) in enumerate(chunks(path, lines_per_chunk)):
        part = dict(payload) if isinstance(payload, dict) else {}
        part["chunk"] = {"index": index, "first_line": first, "start": start, "end": end,
                         "work": work}
        command.child(part_type, part)
        made += 1
    command.log(f"split {size} bytes into {made} parts of {lines_per_chunk} lines", "info")


def merge(children):
    """The parts' counts added up, their trace ids counted once."""
    failed = [c for c in children if c["status"] != "completed"]
    if failed:
        fail(f"{len(failed)} of {len(children)} parts did not complete: {failed[0].get('error')}")
    traces, totals = set(), {"spans": 0, "error_spans": 0, "skipped_lines": 0}
    work = None
    for child in children:
        part = child["result"]
        for key in totals:
            totals[key] += part[key]
        ids_file = in_work_root(part["trace_ids"])
        work = os.path.dirname(ids_file)
        with open(ids_file) as ids:
            traces.update(line.strip() for line in ids if line.strip())
    if work:
        shutil.rmtree(work, ignore_errors=True)
    command.log(f"imported {totals['spans']} spans in {len(traces)} traces from "
                f"{len(children)} parts", "success")
    command.result({"traces": len(traces), **totals})


def main():
    payload = command.payload()
    path = resolve_input(payload)
    children = command.children()
    if children is not None:
        return merge(children)
    chunk = payload.get("chunk") if isinstance(payload, dict) else None
    size = os.path.getsize(path) or 1
    split_above = int(os.environ.get("IMPORT_SPLIT_ABOVE") or 8 * 1024 * 1024)
    if chunk is None and 0 < split_above < size:
        return split(payload, path, size)
    first_line, start, end = 1, 0, size
    if chunk is not None:
        first_line, start, end = chunk["first_line"], chunk["start"], chunk["end"]
        size = max(end - start, 1)
    traces, spans, error_spans, skipped, warned = set(), 0, 0, 0, 0
    read, next_report = 0, 0.0
    command.progress(0, f"reading {os.path.basename(path)}", stage="import")
    with open(path, "rb") as lines:
        lines.seek(start)
        for number, raw in enumerate(lines, start=first_line):
            if start + read >= end:
                break
            read += len(raw)
            text = raw.decode("utf-8", errors="replace").strip()
            if text:
                try:
                    span = json.loads(text)
                    problem = check(span)
                except json.JSONDecodeError:
                    problem = "not valid JSON"
                if problem:
                    skipped += 1
                    if warned < MAX_WARNINGS:
                        warned += 1
                        command.log(f"line {number} skipped: {problem}", "warning")
                else:
                    spans += 1
                    traces.add(span["trace_id"])
                    if span["status"] == "error":
                        error_spans += 1
            percent = 100.0 * read / size
            if percent >= next_report:
                command.progress(round(percent, 1), f"{spans} spans read", current=read, total=size)
                next_report = percent + 1.0
    if skipped > warned:
        command.log(f"{skipped - warned} more malformed lines skipped", "warning")
    command.log(f"imported {spans} spans in {len(traces)} traces", "success")
    counts = {"spans": spans, "error_spans": error_spans, "skipped_lines": skipped}
    if chunk is not None:
        # A part: its trace ids go to a work file, for the parent to count each trace once.
        ids = os.path.join(in_work_root(chunk["work"]), f"{int(chunk['index'])}.ids")
        with open(ids, "w") as out:
            out.write("\n".join(sorted(traces)))
        command.result({"trace_ids": ids, **counts})
    else:
        command.result({"traces": len(traces), **counts})


main()
