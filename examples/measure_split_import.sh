#!/usr/bin/env bash
# Wall time of one import-traces job over a generated file, split into parts or not.
#
#   examples/measure_split_import.sh WORKERS SPLIT_ABOVE [SPANS]
#
# WORKERS: JOBCAST_WORKERS; SPLIT_ABOVE: IMPORT_SPLIT_ABOVE in bytes (0: one job, no parts);
# SPANS: the file's spans (200000). IMPORT_CHUNK_LINES passes through (20000 by default).
# Uses $JOBCAST_BIN (target/debug/jobcast) and $DIR (/tmp/jobcast-split) for the file, a
# config whose import folder is $DIR, and a fresh SQLite database per run. Prints the job's
# status, result and child count, then the wall time from create to its end.
set -euo pipefail
cd "$(dirname "$0")/.."
workers=$1 split=$2 spans=${3:-200000}
bin=${JOBCAST_BIN:-target/debug/jobcast} dir=${DIR:-/tmp/jobcast-split}
mkdir -p "$dir/work"
file=traces-$spans.jsonl
[ -f "$dir/$file" ] || python3 examples/gen_traces.py "$spans" "$dir/$file" >/dev/null
sed "s|IMPORT_DIR = \"examples/data\"|IMPORT_DIR = \"$dir\"|g" config/default.toml >"$dir/jobcast.toml"
port=$((18000 + RANDOM % 1000))
db=$dir/run-$$.db
JOBCAST_LISTEN=127.0.0.1:$port JOBCAST_DATABASE_URL=sqlite://$db JOBCAST_WORKERS=$workers \
  JOBCAST_RUNNER_POLL_INTERVAL=100ms IMPORT_SPLIT_ABOVE=$split IMPORT_WORK_DIR=$dir/work \
  "$bin" --config "$dir/jobcast.toml" serve >"$dir/server-$$.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true; rm -f "$db"*' EXIT
for _ in $(seq 100); do curl -sf "localhost:$port/readyz" >/dev/null && break; sleep 0.1; done
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
start=$(date +%s.%N)
id=$(curl -sf -X POST "localhost:$port/api/jobs" -H 'Content-Type: application/json' \
  -d "{\"type\": \"import-traces\", \"payload\": {\"path\": \"$file\"}}" | field '["id"]')
while :; do
  job=$(curl -sf "localhost:$port/api/jobs/$id")
  case $(printf '%s' "$job" | field '["status"]') in completed | failed | cancelled) break ;; esac
  sleep 0.05
done
end=$(date +%s.%N)
printf '%s' "$job" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["status"], json.dumps(j.get("result")), "children:", j.get("children", 0))'
cat "$dir/${file%.jsonl}.expected.json"
python3 -c "print('wall seconds: %.2f' % ($end - $start))"
