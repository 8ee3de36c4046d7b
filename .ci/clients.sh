#!/usr/bin/env bash
# The client packages against the real server (the binary cargo built), from their lockfiles:
#   clients/typescript   npm ci; generated files fresh; node's test runner (client, React hooks
#                        with React Testing Library, types, npm pack into a fresh project)
#   examples/react-import-modal   npm ci; type-checked and built; then driven in Chromium
#                        (tests/api/browser.rs, the one test that needs the build)
#   clients/python       a virtual environment under target/ from the pinned requirements;
#                        mypy --strict; pytest (client, worker, command helpers, types, the
#                        built wheel in a fresh environment)
# .ci/run calls it after cargo test; it runs alone as well:  .ci/clients.sh [path/to/jobcast]
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/debug/jobcast}
if [ ! -x "$bin" ]; then
  echo "no jobcast binary at $bin: run cargo build first" >&2
  exit 1
fi
export JOBCAST_BIN="$PWD/$bin"
export NO_COLOR=1
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "the client suites need Node 20 or later (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
started=$(date +%s)
npm_ci() { npm ci --no-audit --no-fund --loglevel=error; }

echo "== clients/typescript: npm ci, generated files, tests"
(cd clients/typescript && npm_ci && npm test)

echo "== examples/react-import-modal: npm ci, type-check and build against the package"
(cd examples/react-import-modal && npm_ci && npm run build)

echo "== the import modal in Chromium"
JOBCAST_REQUIRE_EXAMPLES=1 cargo test --locked --test api -- browser::the_react_import_modal

venv=${CLIENTS_VENV:-target/clients-venv}
requirements=clients/python/requirements-test.txt
if [ ! -x "$venv/bin/pytest" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "== making $venv from $requirements"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  "$venv/bin/pip" check --disable-pip-version-check
  cp "$requirements" "$venv/requirements.txt"
fi
python=$PWD/$venv/bin/python

echo "== clients/python: mypy --strict, pytest"
(cd clients/python && "$python" -m mypy && "$python" -m pytest -q -p no:cacheprovider)

echo "== the clients took $(($(date +%s) - started)) s"
