#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets/) for a bounded time: no panic, no hang
# (-timeout, seconds per input), bounded memory (-rss_limit_mb). Seeds: the event fixtures and
# scenario lines of tests/fixtures, the config and routing examples of the README and
# tests/fixtures/fuzz/<target>/ (inputs that once crashed a target, kept as regressions; the
# test suite also runs them, tests/fuzz_regressions.rs).
#
#   bash scripts/fuzz.sh [seconds per target]   (default 30; `scripts/test.sh` runs 20, or
#                                                HERALD_FUZZ_SECS)
#
# A crash stops the run with libFuzzer's report; its input is in fuzz/artifacts/<target>/: copy
# it into tests/fixtures/fuzz/<target>/ with the fix. cargo-fuzz (pinned) is installed when
# missing; with `--sanitizer none` it needs no nightly flag, so the stable toolchain (the only
# one CI has) builds the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --version 0.13.2 --locked --quiet
# Its own target directory (beside the main build's): coverage-instrumented builds share
# nothing with the main one.
export CARGO_TARGET_DIR=${HERALD_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}-fuzz}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus"/{decode,route_expr,config}
cp tests/fixtures/*.json "$corpus/decode/"
python3 - "$corpus" <<'PY'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
n = 0
for f in sorted(pathlib.Path("tests/fixtures/scenarios").glob("*.jsonl")):
    for line in f.read_text().splitlines():
        if line.strip():
            n += 1
            (out / "decode" / f"scenario-{n}.json").write_text(line)
texts = [pathlib.Path(p).read_text() for p in ("README.md", "deploy/README.md")]
blocks = [b for t in texts for b in re.findall(r"```toml\n(.*?)```", t, re.S)]
for i, b in enumerate(blocks):
    (out / "config" / f"readme-{i}.toml").write_text(b)
exprs = {a or b2 for b in blocks
         for a, b2 in re.findall(r"""^\s*(?:match|expr)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')""", b, re.M)}
exprs |= {m for t in texts for m in re.findall(r"`((?:kind|status|account|region|pipeline)[^`]{2,120})`", t)}
for i, e in enumerate(sorted(exprs)):
    (out / "route_expr" / f"readme-{i}.txt").write_text(e.encode().decode("unicode_escape"))
PY
for t in decode route_expr config; do
  seeds=("$corpus/$t")
  [ -d "tests/fixtures/fuzz/$t" ] && seeds+=("tests/fixtures/fuzz/$t")
  echo "== fuzz $t for ${secs}s ($(find "${seeds[@]}" -type f | wc -l) seeds)"
  log="$corpus/$t.log"
  status=0
  # --dev: the unoptimised build is minutes shorter (the AWS SDK crates dominate it), and
  # its debug assertions and overflow checks are on, as they should be when fuzzing.
  cargo fuzz run --dev --sanitizer none --fuzz-dir fuzz "$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz $t failed (its input is in fuzz/artifacts/$t/)"
    exit 1
  fi
done
