#!/usr/bin/env bash
# Runs the whole test suite under a sanitizer (thread or address), in its own build folder (.build-SANITIZER).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer="${1:?usage: Scripts/sanitizers.sh thread|address}"
scratch=".build-$sanitizer"
if [ "$sanitizer" = address ]; then
    # Process-lifetime objects only; see the file.
    export LSAN_OPTIONS="suppressions=$PWD/Scripts/lsan.supp"
    # Freed memory waits in AddressSanitizer's quarantine, so resident memory says nothing about leaks here;
    # LeakSanitizer does that job.
    export TETHER_SOAK_MAX_RESIDENT_MIB=2048
    export TETHER_MAX_RESIDENT_GROWTH_MIB=4096
elif [ "$sanitizer" = thread ]; then
    # Races TSan reports where the ordering is real but invisible to it; see the file.
    export TSAN_OPTIONS="suppressions=$PWD/Scripts/tsan.supp"
fi
swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch"
