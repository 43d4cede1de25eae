#!/usr/bin/env bash
# Runs the whole test suite under a sanitizer (thread or address), in its own build folder (.build-SANITIZER).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer="${1:?usage: Scripts/sanitizers.sh thread|address}"
scratch=".build-$sanitizer"
swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch"
