#!/usr/bin/env bash
# Schemathesis (from PyPI, pinned in .ci/requirements-schemathesis.txt) against a real jobcast:
# the binary cargo built, on a free loopback port, with a database of its own, tokens on, and
# short streams. Every check on; it fails on any finding. .ci/run calls it after cargo test;
# it runs alone as well:  .ci/schemathesis.sh [path/to/jobcast]
# SCHEMATHESIS_MAX_EXAMPLES (50) and SCHEMATHESIS_TIMEOUT (600 s) make a longer search.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/debug/jobcast}
venv=${SCHEMATHESIS_VENV:-target/ci-venv}
requirements=.ci/requirements-schemathesis.txt
if [ ! -x "$bin" ]; then
  echo "no jobcast binary at $bin: run cargo build first" >&2
  exit 1
fi

# The virtual environment, made again when the pinned requirements change.
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "== making $venv from $requirements"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  "$venv/bin/pip" check --disable-pip-version-check
  cp "$requirements" "$venv/requirements.txt"
fi
python="$venv/bin/python"

work=$(mktemp -d)
server=
stop() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

token=$("$python" -c 'import secrets; print(secrets.token_hex(16))')
# Port 0: the server picks a free port and says which in its log. Streams end after 500 ms so
# schemathesis reads every stream response to its end; the runner stops within a second.
JOBCAST_LISTEN=127.0.0.1:0 \
  JOBCAST_DATABASE_URL="sqlite://$work/jobcast.db" \
  JOBCAST_UPLOAD_DIR="$work/uploads" \
  JOBCAST_AUTH_TOKENS="admin:$token" \
  JOBCAST_STREAM_MAX_DURATION=500ms \
  JOBCAST_STREAM_CLOSE_DELAY=10ms \
  JOBCAST_STREAM_POLL_INTERVAL=50ms \
  JOBCAST_SHUTDOWN_GRACE=1s \
  JOBCAST_CREATE_RATE=1000 \
  "$bin" serve --config config/default.toml >"$work/server.log" 2>&1 &
server=$!

# Waits for the server, then queues external jobs, so claims (whose `wait` may be up to a
# minute) find one at once and the update calls have jobs to work on: 300 one by one, whose
# ids path parameters use, and 5000 more in bulk, since one claim may take up to 100 (`max`;
# a run was seen to claim about 400 in all, and a claim that finds none waits out its `wait`,
# past schemathesis's response time limit).
base=$(
  "$python" - "$work/server.log" "$token" "$work/job-ids.txt" <<'PY'
import json, re, sys, time, urllib.error, urllib.request
log, token, ids = sys.argv[1], sys.argv[2], sys.argv[3]
deadline = time.monotonic() + 30
base = None
while time.monotonic() < deadline:
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", open(log).read())
    if match:
        base = match.group(1)
        try:
            urllib.request.urlopen(base + "/readyz", timeout=2)
            break
        except OSError:
            pass
    time.sleep(0.1)
else:
    sys.exit("the server did not become ready:\n" + open(log).read())
with open(ids, "w") as out:
    for _ in range(300):
        request = urllib.request.Request(
            base + "/api/jobs",
            data=json.dumps({"type": "external"}).encode(),
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        )
        job = json.load(urllib.request.urlopen(request, timeout=5))
        out.write(json.dumps(job["id"]) + ",\n")
# As many jobs per bulk as this server takes; a 429 is waited out as it says.
document = json.load(urllib.request.urlopen(base + "/openapi.json", timeout=5))
most = document["components"]["schemas"]["BulkCreate"]["properties"]["jobs"]["maxItems"]
left = 5000
while left > 0:
    count = min(most, left)
    request = urllib.request.Request(
        base + "/api/jobs/bulk",
        data=json.dumps({"jobs": [{"type": "external"}] * count}).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=30).read()
        left -= count
    except urllib.error.HTTPError as refused:
        if refused.code != 429:
            raise
        time.sleep(int(refused.headers.get("Retry-After", "1")))
print(base)
PY
)
echo "== schemathesis against $base"
# Half the job ids in paths are of jobs that exist (those queued above), so the update calls
# reach their logic and not only 404: .ci/schemathesis.toml, plus a dictionary of their ids.
{
  cat .ci/schemathesis.toml
  printf '\n[parameters]\n"path.id" = { dictionary = "jobs", probability = 0.5 }\n'
  printf '\n[dictionaries.jobs]\nvalues = [\n'
  cat "$work/job-ids.txt"
  printf ']\n'
  # What schemathesis keeps between runs (the failures it tries first next time, and what
  # `st replay` reads) goes to target/, not into the work tree.
  printf '\n[cache]\ndirectory = "%s"\n' "$PWD/target/schemathesis-cache"
} >"$work/schemathesis.toml"

# --checks all: every check schemathesis has, none excluded. Bounded: examples per operation,
# a request timeout above the longest long poll (60 s), and the whole run. One worker: with
# more, hypothesis parses source in threads, which this CPython (3.11.7) can get wrong
# ("AST constructor recursion depth mismatch", CPython issue 106905), and the machine has two
# cores for the server and schemathesis together.
# The run is bound by schemathesis's own work, not the server's: of a 270 s run alone on this
# machine (38 operations), its requests took 27 s, and it used 290 s of CPU generating them. On
# a machine that is busy as well it took over 300 s, so the cap, there to end a run that
# hangs, is twice that.
started=$(date +%s)
status=0
SCHEMATHESIS_HOOKS=.ci/schemathesis_hooks.py timeout "${SCHEMATHESIS_TIMEOUT:-600}" \
  "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $token" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
  --request-timeout 70 \
  --workers 1 \
  --no-color || status=$?
echo "== schemathesis took $(($(date +%s) - started)) s (exit $status)"
if [ "$status" -ne 0 ]; then
  echo "== the server's errors"
  grep -E " ERROR |panicked" "$work/server.log" | tail -n 40 || true
fi
exit "$status"
