"""Hello for tether-demo built from an earlier commit, against today's and Hummingbird, interleaved, measured as
run.py's workers section measures (wrk -t1 -c64 -d10s after a 2 s warm-up, the server's CPU from /proc).

Build the earlier demo first, in a worktree of its own:
    git worktree add /tmp/before 90ac1cd
    (cd /tmp/before/Benchmarks && swift build -c release --static-swift-stdlib --scratch-path .build-static \
        --product tether-demo)
then, with today's built by run.py (--only observe, or hello):
    python3 Benchmarks/load/observe_ab.py [--before BINARY] [--reverse] [--output FILE]
--reverse runs each round in the opposite order, to see whether the order favours a server. Writes
Benchmarks/load/results-observe-ab.json unless --output says otherwise.
"""
import argparse
import json
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import run  # noqa: E402  (the sibling script)
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--before", default="/tmp/before/Benchmarks/.build-static/release/tether-demo")
parser.add_argument("--reverse", action="store_true")
parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results-observe-ab.json"))
options = parser.parse_args()
BEFORE = options.before
args = types.SimpleNamespace(linkings=["static"], seconds=10)
RUNS = [("before", "tether-before", []), ("after, metrics", "tether", []),
        ("after, --no-metrics", "tether", ["--no-metrics"]), ("hummingbird", "hummingbird", [])]
if options.reverse:
    RUNS.reverse()
# Server() builds the command line of "tether" only: the earlier demo takes the same options, from its own binary.
real_init = run.Server.__init__


def init(self, kind, linking, **kw):
    real_init(self, "tether" if kind == "tether-before" else kind, linking, **kw)
    if kind == "tether-before":
        self.argv[0] = BEFORE


run.Server.__init__ = init
rounds = []
for index in range(1, 4):
    round_ = {}
    for label, kind, arguments in RUNS:
        r = run.workers_one(kind, arguments, args)
        round_[label] = {k: r[k] for k in ("requests_per_s", "cpu_us_per_request", "p50_ms", "p99_ms", "errors", "other_cores")}
        print(index, label, round(r["requests_per_s"]), round(r["cpu_us_per_request"], 1), flush=True)
    rounds.append(round_)
with open(options.output, "w") as output:
    json.dump({"before": BEFORE, "order": [label for label, _, _ in RUNS], "rounds": rounds}, output, indent=1)
