#!/usr/bin/env bash
# Hello-world requests/s of tether-demo against the raw SwiftNIO baseline, run one at a time and alternating,
# with a warm-up discarded: `Benchmarks/load/hello.sh [pairs] [seconds]` (default 3 pairs of 10 s).
# Needs wrk (apt-get install -y wrk). Talks to 127.0.0.1 only.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
pairs="${1:-3}"
seconds="${2:-10}"
(cd "$root" && swift build -c release --product tether-demo)
(cd "$root/Benchmarks" && swift build -c release --product baseline)
tether="$root/.build/release/tether-demo"
baseline="$root/Benchmarks/.build/release/baseline"

measure() { # name command... ; prints requests/s, p50, p99
    "${@:2}" > /dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/hello/" > /dev/null && break; sleep 0.05; done
    wrk -t1 -c64 -d2s "http://127.0.0.1:$port/hello/" > /dev/null
    local out
    out=$(wrk -t1 -c64 -d"${seconds}s" --latency "http://127.0.0.1:$port/hello/")
    kill "$pid"; wait "$pid" 2> /dev/null || true
    echo "$out" | awk -v name="$1" '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} END {printf "%s %s %s %s\n", name, rps, p50, p99}'
}

printf "%-6s %-10s %12s %8s %8s %8s\n" pair server "requests/s" p50 p99 ratio
for pair in $(seq "$pairs"); do
    port=18080
    read -r _ t_rps t_p50 t_p99 < <(measure tether "$tether" --port "$port" --log-level warning)
    port=18081
    read -r _ b_rps b_p50 b_p99 < <(measure baseline "$baseline" "$port")
    ratio=$(awk -v t="$t_rps" -v b="$b_rps" 'BEGIN {printf "%.2f", t / b}')
    printf "%-6s %-10s %12s %8s %8s %8s\n" "$pair" tether "$t_rps" "$t_p50" "$t_p99" "$ratio"
    printf "%-6s %-10s %12s %8s %8s %8s\n" "$pair" baseline "$b_rps" "$b_p50" "$b_p99" ""
done
