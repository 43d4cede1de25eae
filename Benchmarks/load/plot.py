#!/usr/bin/env python3
"""Draws the results of run.py as one PNG with two panels: hello requests/s per round and linking mode, tether
and hummingbird against the baseline (the ratios written on top), and the close->cancel latency (p50, p99,
max) against its targets (p50 0.1 ms, p99 1 ms).

  python3 Benchmarks/load/plot.py [results.json] [--output results.png]

Needs matplotlib (pip install matplotlib).
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_MS = 1.0  # p99; max has no target
TARGET_P50_MS = 0.1


def empty(axis, title, why):
    axis.set_title(title)
    axis.text(0.5, 0.5, why, ha="center", va="center", transform=axis.transAxes, color="gray")
    axis.set_xticks([])
    axis.set_yticks([])


COLORS = {"tether": "#1f77b4", "baseline": "#999999", "hummingbird": "#ff7f0e"}
LABELS = {"tether": "tether-demo", "baseline": "SwiftNIO baseline", "hummingbird": "Hummingbird 2"}


def hello_panel(axis, hello):
    title = "GET /hello/ requests/s (wrk -t1 -c64)"
    if not hello or not hello.get("rounds"):
        return empty(axis, title, (hello or {}).get("error", "not measured"))
    rounds, servers = hello["rounds"], hello["servers"]
    xs = range(len(rounds))
    width = 0.8 / len(servers)
    for index, server in enumerate(servers):
        offset = (index - (len(servers) - 1) / 2) * width
        axis.bar([x + offset for x in xs], [r[server]["requests_per_s"] for r in rounds], width,
                 label=LABELS.get(server, server), color=COLORS.get(server))
    top = max(r[server]["requests_per_s"] for r in rounds for server in servers)
    for x, r in zip(xs, rounds):
        label = "\n".join(f"{server[0].upper()} {ratios['requests_per_s']:.2f}x"
                          for server, ratios in r["vs_baseline"].items() if ratios["requests_per_s"])
        highest = max(r[server]["requests_per_s"] for server in servers)
        axis.text(x, highest + top * 0.02, label, ha="center", va="bottom", fontsize=8)
    axis.set_ylim(0, top * 1.35)
    axis.set_xticks(list(xs), [f"round {r['round']}\n{r['linking']}" for r in rounds])
    axis.set_ylabel("requests/s")
    compared = ", ".join(f"{server[0].upper()} {server}" for server in servers if server != "baseline")
    axis.set_title(f"{title}, {hello.get('seconds')} s per run\nratio to the baseline on top ({compared})")
    axis.legend(loc="upper left", ncol=len(servers), frameon=False)


def cancel_panel(axis, cancel):
    title = "close -> cancel latency, POST /slow/ with 1 KiB"
    if not cancel or "p50_ms" not in cancel:
        return empty(axis, title, (cancel or {}).get("error", "not measured"))
    names = ["p50", "p99", "max"]
    values = [cancel["p50_ms"], cancel["p99_ms"], cancel["max_ms"]]
    targets = [TARGET_P50_MS, TARGET_MS, None]
    colors = ["#999999" if t is None else "#2ca02c" if v <= t else "#d62728" for v, t in zip(values, targets)]
    axis.bar(names, values, color=colors, width=0.55)
    axis.axhline(TARGET_MS, color="black", linestyle="--", linewidth=1)
    axis.text(2.45, TARGET_MS, f" p99 target {TARGET_MS:g} ms", va="bottom", ha="right", fontsize=9)
    axis.axhline(TARGET_P50_MS, color="gray", linestyle=":", linewidth=1)
    axis.text(2.45, TARGET_P50_MS, f" p50 target {TARGET_P50_MS:g} ms", va="bottom", ha="right", fontsize=9)
    top = max(values + [TARGET_MS])
    if top > 20 * TARGET_MS:  # one outlier should not flatten the rest
        axis.set_yscale("log")
        from matplotlib.ticker import FuncFormatter

        axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        axis.set_ylim(0, top * 1.2)
    for name, value in zip(names, values):
        axis.text(name, value, f"{value:.3f}", ha="center", va="bottom")
    axis.set_ylabel("ms")
    axis.set_title(f"{title}\n{cancel.get('count')} sequential requests (tether-demo)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="?", default=os.path.join(HERE, "results.json"))
    parser.add_argument("--output", default=os.path.join(HERE, "results.png"))
    args = parser.parse_args()
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("plot.py needs matplotlib: pip install matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(args.results) as f:
        results = json.load(f)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [3, 2]})
    hello_panel(left, results.get("hello"))
    cancel_panel(right, results.get("cancel"))
    m = results.get("machine", {})
    figure.suptitle(f"Tether load benchmarks: {m.get('cores')} cores, {m.get('cpu_model')}, {m.get('kernel')}; "
                    f"{results.get('date')}", fontsize=10)
    figure.tight_layout()
    figure.savefig(args.output, dpi=120)
    print(args.output)


if __name__ == "__main__":
    sys.exit(main())
