#!/usr/bin/env python3
"""Writes the committed seed corpus of both targets (run from anywhere; rewrites in place).

http_request input: [method][route][id] PATH \\n ID-LINE \\n QUERY \\n HEADER \\n ... \\n \\n
BODY, or 0xF0 then a raw request. Method and id indices: METHODS and ID_CHOICES in
fuzz_targets/http_request.rs. The route byte is 0x80 ("the template is PATH") so the seeds do
not depend on the order of the router's table.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

M = dict(GET=0, POST=1, OPTIONS=2, HEAD=3, PUT=4, DELETE=5, PATCH=6, TRACE=7, CONNECT=8, FOO=9)
ID = dict(fresh_external=0, fresh_demo=1, shared_external=2, shared_demo=3, unknown=4, line=5)
JSON = ["Content-Type: application/json"]


def s(method, path, id_choice="unknown", id_line=b"", query=b"", headers=(), body=b""):
    """A structured input whose route byte (0x80) says "the template is PATH-LINE"."""
    def b(x):
        return x.encode() if isinstance(x, str) else x
    out = bytes([M[method], 0x80, ID[id_choice]])
    out += b(path) + b"\n" + b(id_line) + b"\n" + b(query) + b"\n"
    for h in headers:
        out += b(h) + b"\n"
    return out + b"\n" + b(body)


def raw(text):
    return b"\xf0" + (text.encode() if isinstance(text, str) else text)


def chunked(body):
    return "%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


HTTP = {
    "health": s("GET", "/healthz"),
    "types": s("GET", "/api/types"),
    "create_demo": s("POST", "/api/jobs", headers=JSON,
                     body='{"type":"demo","payload":{"steps":2,"step_ms":10}}'),
    "create_demo_fail": s("POST", "/api/jobs", headers=JSON,
                          body='{"type":"demo","payload":{"steps":2,"step_ms":0,"fail_at_step":2}}'),
    "create_external_full": s("POST", "/api/jobs", headers=JSON, body=(
        '{"type":"external","payload":{"a":[1,2.5,{"b":null}],"upload_id":null},"priority":-5,'
        '"max_attempts":3,"timeout":"30s","run_at":"2026-01-02T03:04:05Z","idempotency_key":"k1"}')),
    "create_unknown_type": s("POST", "/api/jobs", headers=JSON, body='{"type":"nope"}'),
    "create_bad_json": s("POST", "/api/jobs", headers=JSON, body='{"type":'),
    "create_upload_ref": s("POST", "/api/jobs", headers=JSON,
                           body='{"type":"external","payload":{"upload_id":"u_0123"}}'),
    "list": s("GET", "/api/jobs", query="status=queued&type=demo&limit=10&cursor="),
    "list_cursor": s("GET", "/api/jobs", query="limit=2&cursor=0190a6f2-7c3b-7d2e-9f00-000000000000"),
    "get_fresh": s("GET", "/api/jobs/{id}", "fresh_external"),
    "get_line": s("GET", "/api/jobs/{id}", "line", id_line="not-a-uuid"),
    "stream_shared_demo": s("GET", "/api/jobs/{id}/stream", "shared_demo", query="last_event_id=2",
                            headers=["Last-Event-ID: 3", "Accept: text/event-stream"]),
    "stream_fresh_demo": s("GET", "/api/jobs/{id}/stream", "fresh_demo"),
    "logs_get": s("GET", "/api/jobs/{id}/logs", "fresh_demo", query="after=0&limit=5"),
    "logs_post": s("POST", "/api/jobs/{id}/logs", "fresh_external", headers=JSON,
                   body='{"level":"warning","message":"hello\\nworld"}'),
    "cancel_demo": s("POST", "/api/jobs/{id}/cancel", "fresh_demo"),
    "cancel_external": s("POST", "/api/jobs/{id}/cancel", "fresh_external"),
    "retry_shared_demo": s("POST", "/api/jobs/{id}/retry", "shared_demo"),
    "progress": s("POST", "/api/jobs/{id}/progress", "fresh_external", headers=JSON, body=(
        '{"progress":42.5,"message":"m","current":1,"total":2,"stage":"s"}')),
    "progress_lease": s("POST", "/api/jobs/{id}/progress", "fresh_external",
                        headers=JSON + ["Jobcast-Lease: 0190a6f2-7c3b-7d2e-9f00-000000000001"],
                        body='{"progress":100}'),
    "complete": s("POST", "/api/jobs/{id}/complete", "fresh_external", headers=JSON, body='{"result":{"ok":true}}'),
    "fail": s("POST", "/api/jobs/{id}/fail", "fresh_external", headers=JSON, body='{"error":"boom","details":{"x":1}}'),
    "claim": s("POST", "/api/workers/claim", headers=JSON,
               body='{"types":["external"],"worker":"w1","lease":"5s","wait":"0s"}'),
    "upload_raw": s("POST", "/api/uploads", headers=["Content-Type: text/plain"], body="hello"),
    "upload_multipart": s("POST", "/api/uploads",
                          headers=["Content-Type: multipart/form-data; boundary=X"],
                          body=('--X\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
                                'Content-Type: text/plain\r\n\r\nhello\r\n--X--\r\n')),
    "preflight": s("OPTIONS", "/api/jobs", headers=[
        "Origin: http://localhost:3000", "Access-Control-Request-Method: POST",
        "Access-Control-Request-Headers: content-type"]),
    "cors_get": s("GET", "/api/types", headers=["Origin: http://127.0.0.1:8080"]),
    "events": s("GET", "/api/events", query="type=demo&status=running"),
    "events_token": s("GET", "/api/events/token", query="type=external&status=failed"),
    "head_index": s("HEAD", "/"),
    "asset": s("GET", "/dashboard.js", headers=["Accept-Encoding: gzip"]),
    "put_jobs": s("PUT", "/api/jobs"),
    "delete_job": s("DELETE", "/api/jobs/{id}", "shared_external"),
    "bad_path": s("GET", "/api/jobs/x/explode"),
    "openapi": s("GET", "/openapi.json"),
    "readyz": s("GET", "/readyz"),
    "metrics": s("GET", "/metrics"),
    "auth_header": s("GET", "/api/jobs", headers=["Authorization: Bearer nope"]),
    "raw_health": raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    "raw_chunked": raw("POST /api/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                       "Content-Type: application/json\r\n\r\n" + chunked('{"type":"demo"}')),
    "raw_http10": raw("GET /api/jobs?limit=1 HTTP/1.0\r\n\r\n"),
    "raw_bad_line": raw("GET  / HTTP/1.1\r\n\r\n"),
    "raw_two_lengths": raw("POST /api/jobs HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    "raw_expect": raw("POST /api/jobs HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 17\r\n\r\n"
                      '{"type":"demo"}  '),
    "raw_absolute": raw("GET http://127.0.0.1/api/jobs/%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
    "raw_pipelined": raw("GET /healthz HTTP/1.1\r\n\r\nGET /api/types HTTP/1.1\r\n\r\n"),
}

SSE = {
    "empty": b"",
    "ascii": b"hello world\x00",
    "lines": b"one\ntwo\r\nthree\rfour\x01\x05name\x01\x023\x00",
    "unicode": "caf\u00e9 \u2028 \ufeff\x00".encode(),
}


def write(target, seeds):
    folder = os.path.join(HERE, target)
    os.makedirs(folder, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


write("http_request", HTTP)
write("sse_frame", SSE)
