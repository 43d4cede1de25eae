#!/usr/bin/env bash
# Builds the libFuzzer target of the request pipeline (Fuzz/) and runs it for SECONDS (default 300).
# Crashes are written to Fuzz/findings/; the corpus grows in Fuzz/corpus/ (both ignored by git).
set -euo pipefail
cd "$(dirname "$0")/../Fuzz"
seconds="${1:-300}"
swift build -c release --sanitize=fuzzer --product tether-fuzz
mkdir -p corpus findings
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' > corpus/get
printf 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' > corpus/chunked
printf 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc' > corpus/length
"$(swift build -c release --sanitize=fuzzer --show-bin-path)/tether-fuzz" corpus \
    -max_total_time="$seconds" -artifact_prefix=findings/ -print_final_stats=1
