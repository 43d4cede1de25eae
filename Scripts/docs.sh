#!/usr/bin/env bash
# Builds the DocC documentation of every library module with swift-docc-plugin and fails on any warning (a broken
# symbol link, an unknown article, a malformed topic); first checks that each code block of an article marked
# "Snippet compiled and run by … in <test file>" is, character for character, in that test file.
#
# Environment:
#   TETHER_SCRATCH_PATH  the build folder, as `swift build --scratch-path` takes it; default `.build`, SwiftPM's own.
#   TETHER_DOCS_OUTPUT   where the archives go (<module>.doccarchive); default a temporary folder, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="${TETHER_SCRATCH_PATH:-.build}"
# Every target of every library product in Package.swift, as `.library(name: "X", targets: ["X"])` declares them.
modules=()
while read -r module; do
    if [[ -n "$module" ]]; then modules+=("$module"); fi
done < <(sed -n 's/.*\.library(name: "[^"]*", targets: \[\([^]]*\)\]).*/\1/p' Package.swift | tr -d '" ' | tr ',' '\n')
if ((${#modules[@]} == 0)); then
    echo "error: no library product found in Package.swift" >&2
    exit 1
fi

# 1. The articles' snippets are the code the tests compile.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mismatches=0
snippets=0
mkdir -p "$work/blocks"
for article in Sources/*/*.docc/*.md; do
    # Each marked block into its own file, named after the test file the marker gives.
    awk -v dir="$work/blocks" -v name="$(basename "$article" .md)" '
        /^<!-- Snippet compiled and run by .* in [^ ]+\.swift/ {
            match($0, / in [^ ]+\.swift/)
            file = substr($0, RSTART + 4, RLENGTH - 4)
            marked = 1
            next
        }
        marked && /^```swift$/ { count += 1; out = dir "/" name "." count; print file > (out ".source"); close(out ".source"); inside = 1; marked = 0; next }
        inside && /^```$/ { inside = 0; close(out); next }
        inside { print > out; next }
        { marked = 0 }
    ' "$article"
done
shopt -s nullglob
for block in "$work"/blocks/*.source; do
    code_file="${block%.source}"
    source_file="$(cat "$block")"
    snippets=$((snippets + 1))
    if [[ ! -f "$source_file" ]]; then
        echo "error: $(basename "$code_file"): the marker names $source_file, which does not exist" >&2
        mismatches=$((mismatches + 1))
        continue
    fi
    code="$(cat "$code_file")"
    tests="$(cat "$source_file")"
    if [[ "$tests" != *"$code"* ]]; then
        name="$(basename "$code_file")"
        echo "error: code block ${name##*.} of ${name%.*}.md is not in $source_file as written" >&2
        mismatches=$((mismatches + 1))
    fi
done
shopt -u nullglob
echo "Article snippets checked against their tests: $snippets, mismatches: $mismatches"
if ((mismatches > 0)); then exit 1; fi

# 2. The documentation, one archive per module; a warning is an error.
output="${TETHER_DOCS_OUTPUT:-$work/archives}"
mkdir -p "$output"
log="$work/docc.log"
status=0
for module in "${modules[@]}"; do
    echo "Building the documentation of $module"
    if ! swift package --scratch-path "$scratch" --disable-sandbox generate-documentation \
        --target "$module" --output-path "$output/$module.doccarchive" --warnings-as-errors 2>&1 | tee -a "$log"
    then
        status=1
    fi
done
# DocC reports each warning as an error here, and exits with a failure; the count is for the summary. SwiftPM's
# note that a dependency ships files it does not declare (swift-distributed-tracing's CMakeLists.txt) is not ours.
diagnostics="$(grep -E '(warning|error): ' "$log" | grep -vc 'which are unhandled; explicitly declare them' || true)"
echo "Diagnostics (warnings, reported as errors): $diagnostics"
if ((status != 0)); then exit 1; fi
echo "Documentation built for ${modules[*]} in $output"
