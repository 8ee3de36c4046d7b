#!/usr/bin/env python3
"""Writes a JSONL file of N trace spans (with some malformed lines) for the import example.

    python3 examples/gen_traces.py N OUT.jsonl [--seed S]

Also writes OUT.expected.json with the counts a correct importer must report:
{"traces", "spans", "error_spans", "skipped_lines"}. Standard library only.
"""
import argparse
import json
import random

parser = argparse.ArgumentParser()
parser.add_argument("n", type=int, help="valid spans to write")
parser.add_argument("out")
parser.add_argument("--seed", type=int, default=7)
parser.add_argument("--bad-every", type=int, default=40, help="one malformed line per this many")
args = parser.parse_args()
rng = random.Random(args.seed)


def hexid(digits):
    return "".join(rng.choice("0123456789abcdef") for _ in range(digits))


def malformed(i):
    kind = i % 5
    if kind == 0:
        return '{"trace_id": "oops", this is not json'
    if kind == 1:
        return json.dumps({"trace_id": "XYZ", "span_id": hexid(16), "name": "bad id",
                           "start_time_unix_nano": 1, "end_time_unix_nano": 2, "status": "ok"})
    if kind == 2:
        return json.dumps({"trace_id": hexid(32), "span_id": hexid(16), "name": "backwards",
                           "start_time_unix_nano": 10, "end_time_unix_nano": 5, "status": "ok"})
    if kind == 3:
        return json.dumps({"trace_id": hexid(32), "span_id": hexid(16), "name": "odd status",
                           "start_time_unix_nano": 1, "end_time_unix_nano": 2, "status": "maybe"})
    return json.dumps(["an", "array"])


traces, error_spans, skipped = set(), 0, 0
with open(args.out, "w") as out:
    written = 0
    trace_id, parent, left = None, None, 0
    while written < args.n:
        if left == 0:
            trace_id, parent, left = hexid(32), None, rng.randint(1, 8)
        start = 1_700_000_000_000_000_000 + written * 1_000_000
        status = rng.choice(["ok", "ok", "ok", "unset", "error"])
        span = {"trace_id": trace_id, "span_id": hexid(16), "name": rng.choice(
                    ["GET /traces", "db.query", "parse", "render", "cache.get"]),
                "start_time_unix_nano": start,
                "end_time_unix_nano": start + rng.randint(1_000, 5_000_000),
                "status": status,
                "attributes": {"service.name": rng.choice(["api", "worker", "web"]),
                               "http.status_code": rng.choice([200, 200, 404, 500])}}
        if parent:
            span["parent_span_id"] = parent
        parent = span["span_id"]
        out.write(json.dumps(span) + "\n")
        written += 1
        left -= 1
        traces.add(trace_id)
        error_spans += status == "error"
        if written % args.bad_every == 0:
            out.write(malformed(written // args.bad_every) + "\n")
            skipped += 1

expected = {"traces": len(traces), "spans": args.n, "error_spans": error_spans,
            "skipped_lines": skipped}
with open(args.out.rsplit(".", 1)[0] + ".expected.json", "w") as out:
    json.dump(expected, out)
    out.write("\n")
print(json.dumps(expected))
