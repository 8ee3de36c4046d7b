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
"""
import json
import os
import re
import sys

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


def main():
    payload = command.payload()
    path = resolve_input(payload)
    size = os.path.getsize(path) or 1
    traces, spans, error_spans, skipped, warned = set(), 0, 0, 0, 0
    read, next_report = 0, 0.0
    command.progress(0, f"reading {os.path.basename(path)}", stage="import")
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
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
    command.result({"traces": len(traces), "spans": spans, "error_spans": error_spans,
                    "skipped_lines": skipped})


main()
