#!/usr/bin/env bash
# Times what a newcomer waits: `make run` in a fresh clone until the login page answers,
# then a second `make run` in the same clone. Prints the two figures in seconds.
# Run it from the repository: bash bench/fresh_run.sh (commits only: it clones HEAD).
set -euo pipefail
port=${PORT:-8765}
src=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'kill -- -$pid 2>/dev/null || true; rm -rf "$work"' EXIT
git clone -q "$src" "$work/tollgate"
cd "$work/tollgate"

time_until_up() {
  local start=$(date +%s%N)
  set -m
  PORT=$port make run >"$work/run-$1.log" 2>&1 &
  pid=$!
  set +m
  for _ in $(seq 1 600); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/accounts/login/"; then
      local ms=$(( ($(date +%s%N) - start) / 1000000 ))
      printf '%s make run: login page answered after %d.%03d s\n' "$1" $((ms / 1000)) $((ms % 1000))
      kill -- -$pid; wait $pid 2>/dev/null || true
      return 0
    fi
    sleep 0.2
  done
  echo "$1 make run: no answer after 120 s"; cat "$work/run-$1.log"; return 1
}

time_until_up first
grep -q "password:" "$work/run-first.log" && echo "first run printed the admin login"
time_until_up second
