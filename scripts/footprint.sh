#!/usr/bin/env bash
# Footprint of what users run (issue 19): generates the synthetic organization stream
# (examples/org_stream.rs; N executions, 10,000 by default), then runs the floor (each line
# parsed into a serde_json::Value) and `herald replay FILE --jsonl /dev/null` one after the
# other, ROUNDS times (3 by default), and prints each run's wall time and peak RSS, the medians,
# the ratio of the medians, and the replay's peak RSS per execution.
#
#   bash scripts/footprint.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
ROUNDS=${2:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
export AWS_EC2_METADATA_DISABLED=true
cargo build -q --release --bin herald --example org_stream
BIN=$CARGO_TARGET_DIR/release
STREAM=${HERALD_FOOTPRINT_STREAM:-${TMPDIR:-/tmp}/herald-org-$N.jsonl}
[ -s "$STREAM" ] || "$BIN/examples/org_stream" gen "$N" "$STREAM"
printf 'stream: %s (%s events, %s bytes)\n' "$STREAM" "$(wc -l <"$STREAM")" "$(stat -c %s "$STREAM")"

python3 - "$BIN" "$STREAM" "$N" "$ROUNDS" <<'EOF'
import os, subprocess, sys, time, statistics
bin_dir, stream, n, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def run(argv):
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    if status != 0:
        sys.exit(f"{argv[0]} failed ({status}): {err[-2000:]}")
    return wall, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux
floor, replay = [], []
for r in range(rounds):
    f = run([f"{bin_dir}/examples/org_stream", "floor", stream])
    h = run([f"{bin_dir}/herald", "replay", stream, "--jsonl", "/dev/null"])
    floor.append(f); replay.append(h)
    print(f"round {r+1}: floor {f[0]:.3f} s ({f[1]/2**20:.0f} MiB), replay {h[0]:.3f} s ({h[1]/2**20:.0f} MiB), ratio {h[0]/f[0]:.2f}")
mf = statistics.median(w for w, _ in floor)
mr = statistics.median(w for w, _ in replay)
rss = max(m for _, m in replay)
print(f"median: floor {mf:.3f} s, replay {mr:.3f} s: replay/floor = {mr/mf:.2f}x")
print(f"replay peak RSS {rss/2**20:.1f} MiB: {rss/n/1024:.1f} KiB per execution ({n} executions)")
EOF
