"""Rules of jobcast's API (and of the media types it takes) that its OpenAPI document states in
words because JSON Schema cannot.

.ci/schemathesis.sh loads this file (SCHEMATHESIS_HOOKS). A request schemathesis generates as
valid (positive) that breaks one of these rules is one the server rightly refuses (422, or 400
for a broken form), so it is not sent as a valid one. Nothing here touches negative cases: those
are invalid by the schema already, and the server must refuse them whatever else they hold.
"""

from schemathesis import GenerationMode, hook
from schemathesis.core.parameters import ParameterLocation

# Text fields limited in UTF-8 bytes (the document's descriptions say so; `maxLength` counts
# characters, so a string within it can still be too long once it leaves ASCII). The same
# names have the same limits in every jobcast request body; these are the default limits,
# which .ci/schemathesis.sh runs the server with.
BYTE_LIMITS = {
    "message": 16 * 1024,  # limits.max_log_line_bytes: progress and log messages
    "error": 16 * 1024,  # limits.max_log_line_bytes: a failure's summary
    "stage": 1024,
    "idempotency_key": 1024,
    "worker": 200,
}

# A `demo` payload's `steps` when left out.
DEFAULT_DEMO_STEPS = 10


def _positive_body(case):
    meta = case.meta
    if meta is None:
        return False
    body = meta.components.get(ParameterLocation.BODY)
    mode = body.mode if body is not None else meta.generation.mode
    return mode == GenerationMode.POSITIVE


def _within_byte_limits(body):
    return all(
        len(value.encode("utf-8", "surrogatepass")) <= BYTE_LIMITS[name]
        for name, value in body.items()
        if name in BYTE_LIMITS and isinstance(value, str)
    )


def _demo_failure_within_steps(body):
    # DemoPayload: `fail_at_step` is at most `steps`, a rule across two fields.
    payload = body.get("payload")
    if body.get("type") != "demo" or not isinstance(payload, dict):
        return True
    fail_at = payload.get("fail_at_step")
    steps = payload.get("steps", DEFAULT_DEMO_STEPS)
    if not _is_number(fail_at) or not _is_number(steps):
        return True
    return fail_at <= steps


def _is_number(value):
    # Whole numbers may come as floats (`51.0`), which the server takes as the same number.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Characters a multipart part's name cannot carry: it travels in the part's Content-Disposition
# header, which holds no control characters (a form escapes line breaks as %0A and %0D, which
# schemathesis does too, and tab is allowed). A form with such a name is not a form at all, and
# the server answers 400 once it reads that part's head.
_NOT_IN_A_PART_HEADER = {chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]}


def _parts(value):
    items = value if isinstance(value, list) else [value]
    return [item for item in items if item is not None]


def _multipart_is_the_form(case, body):
    # OpenAPI applies the most specific media type key: a multipart/form-data upload is the
    # `UploadForm`, never the `*/*` entry, although schemathesis may pick multipart/form-data
    # for `*/*` and send a body of that entry's schema (any bytes) as the form. The form's
    # `file` is any bytes, but schemathesis sends a list as one part per item and leaves nulls
    # out, so a null or an empty list is no `file` part at all.
    if case.media_type is None or not case.media_type.startswith("multipart/"):
        return True
    if not isinstance(body, dict) or not _parts(body.get("file")):
        return False
    return not any(_NOT_IN_A_PART_HEADER.intersection(str(name)) for name in body)


# The server's declared job types (config/default.toml, which .ci/schemathesis.sh runs it with).
DECLARED_TYPES = {"demo", "external", "import-traces", "import-traces-part"}


def _stops_the_work(case):
    # Pausing a declared type, or cancelling its queued jobs for real, would leave the external
    # jobs .ci/schemathesis.sh queued for the claims unclaimable: every later claim would wait
    # out its `wait`, past the response time limit. Those requests are valid and answered as
    # documented (tests/api/control.rs checks them); here they are made harmless (`map_case`),
    # not dropped: dropping them left too few cases for schemathesis's health check.
    method = str(getattr(case, "method", "")).upper()
    path = getattr(case, "path", "")
    if method != "POST":
        return False
    if path == "/api/types/{type}/pause":
        return (case.path_parameters or {}).get("type") in DECLARED_TYPES
    if path == "/api/jobs/cancel":
        # A body that is not an object is refused (400): nothing to make harmless.
        body = case.body
        return isinstance(body, dict) and body.get("dry_run") is not True and "ids" not in body
    return False


@hook
def map_case(context, case):
    if _stops_the_work(case):
        if case.path == "/api/types/{type}/pause":
            # An undeclared type: the same route, answered 404.
            case.path_parameters["type"] = case.path_parameters["type"] + "-undeclared"
        else:
            # The same filter, counted and not applied.
            case.body["dry_run"] = True
    return case


@hook
def filter_case(context, case):
    if not _positive_body(case):
        return True
    body = case.body
    if not _multipart_is_the_form(case, body):
        return False
    if not isinstance(body, dict):
        return True
    # A bulk create's jobs, and the children a job makes, are each what a single create
    # takes, under the same rules.
    jobs = body.get("jobs", body.get("children"))
    if isinstance(jobs, list):
        return all(_job_follows_the_rules(job) for job in jobs if isinstance(job, dict))
    return _job_follows_the_rules(body)


def _job_follows_the_rules(body):
    return _within_byte_limits(body) and _demo_failure_within_steps(body)
