#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only when they are missing.
# Used by .ci/run and by the README's setup command. Safe to run repeatedly.
set -euo pipefail

# "<command>:<debian package>" for every system tool a test or the bench starts (wrk: bench/wrk-compare.ts;
# perf: its --perf split).
deps=(
  "openssl:openssl"
  "curl:curl"
  "chromium:chromium"
  "redis-server:redis-server"
  "wrk:wrk"
  "perf:linux-perf"
)

need=()
for pair in "${deps[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
