#!/usr/bin/env bash
# Lints Herald's deployment assets: CloudFormation (cfn-lint, checkov), Prometheus rules
# (promtool) and the Grafana dashboard (JSON). Offline apart from installing the tools from
# PyPI and Debian on first use. Prints one line per check; exits non-zero if any fails.
#
#   bash deploy/check.sh            # from anywhere in the repository
#   HERALD_TOOLS_DIR=/some/dir bash deploy/check.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

tools="${HERALD_TOOLS_DIR:-$repo/.emulators}"
venv="$tools/lintvenv"
log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT

failed=0

# run NAME CMD...: runs one check, prints "ok"/"FAIL" on one line, and the tool's output
# only when it failed.
run() {
  local name="$1"
  shift
  local log="$log_dir/${name//[^A-Za-z0-9]/_}.log"
  if "$@" >"$log" 2>&1; then
    printf 'ok    %s\n' "$name"
  else
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$log"
    failed=1
  fi
}

# --- tools -------------------------------------------------------------------------------

ensure_lint_venv() {
  if [[ -x "$venv/bin/cfn-lint" && -x "$venv/bin/checkov" ]]; then
    return 0
  fi
  mkdir -p "$tools"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  # checkov resolves many dependencies: allow a few minutes.
  "$venv/bin/pip" install --quiet --disable-pip-version-check cfn-lint checkov
}

ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    return 0
  fi
  # Debian's prometheus package ships promtool. Its postinst may try to start a service,
  # which is harmless here (and does nothing without an init system).
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus
  fi
  command -v promtool >/dev/null 2>&1
}

run "install cfn-lint and checkov ($venv)" ensure_lint_venv
if ! ensure_promtool >"$log_dir/promtool-install.log" 2>&1; then
  printf 'FAIL  install promtool\n'
  sed 's/^/      /' "$log_dir/promtool-install.log"
  printf '      promtool not found: install Debian'"'"'s "prometheus" package (apt-get install prometheus) or put promtool on PATH\n'
  failed=1
else
  printf 'ok    install promtool (%s)\n' "$(command -v promtool)"
fi

# --- checks ------------------------------------------------------------------------------

shopt -s nullglob
templates=(deploy/cloudformation/*.yaml)
shopt -u nullglob
if [[ ${#templates[@]} -eq 0 ]]; then
  printf 'FAIL  no CloudFormation templates in deploy/cloudformation\n'
  failed=1
fi

if [[ -x "$venv/bin/cfn-lint" ]]; then
  run "cfn-lint ${templates[*]}" "$venv/bin/cfn-lint" "${templates[@]}"
else
  printf 'FAIL  cfn-lint (not installed)\n'
  failed=1
fi

if [[ -x "$venv/bin/checkov" ]]; then
  # Skipped checks, each with its reason, are in deploy/cloudformation/.checkov.yaml, which
  # also turns off checkov's calls to its vendor's API (skip-download).
  run "checkov deploy/cloudformation" env BC_SKIP_MAPPING=TRUE "$venv/bin/checkov" \
    -d deploy/cloudformation --framework cloudformation --quiet --compact \
    --config-file deploy/cloudformation/.checkov.yaml
else
  printf 'FAIL  checkov (not installed)\n'
  failed=1
fi

if command -v promtool >/dev/null 2>&1; then
  run "promtool check rules deploy/prometheus/rules.yaml" promtool check rules deploy/prometheus/rules.yaml
  # Unit tests: the queue matchers, the enrichment-error outcomes, the store throttling alert.
  run "promtool test rules deploy/prometheus/rules_test.yaml" promtool test rules deploy/prometheus/rules_test.yaml
else
  printf 'FAIL  promtool check rules (promtool not installed)\n'
  failed=1
fi

run "json deploy/grafana/herald.json" python3 -m json.tool deploy/grafana/herald.json

if [[ $failed -ne 0 ]]; then
  printf 'deploy/check.sh: FAILED\n'
  exit 1
fi
printf 'deploy/check.sh: all checks passed\n'
