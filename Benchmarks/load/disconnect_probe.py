#!/usr/bin/env python3
"""Measures how fast a server cancels the work of a client that leaves, from outside, over plain HTTP.

Speaks to any server that serves the conformance routes of docs/ConformanceRoutes.md on 127.0.0.1:
  latency  N sequential POST /slow/ requests with a body, each closed after 20 ms; the time from the
           client's close (CLOCK_MONOTONIC) to the handler's cancellation (/stats/ last_cancel_ns).
  wave     N concurrent clients on /slow/, all closed at once; the time from the first close until the
           last handler is cancelled.
Requests go to 127.0.0.1 only; every loop is bounded in count and time.
"""
import argparse
import json
import socket
import statistics
import sys
import time


def stats(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /stats/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def wait_for(port, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = stats(port)
        if predicate(current):
            return current
        time.sleep(0.002)
    raise TimeoutError(f"server state did not change within {timeout} s")


def latency(port, count):
    body = b"x" * 1024
    samples = []
    for _ in range(count):
        before = stats(port)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /slow/?ms=10000 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            wait_for(port, lambda st: st["started"] > before["started"])
            time.sleep(0.02)
            closed = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            s.close()
        # The server records the time itself: polling /stats/ at once would only compete with the cancellation.
        time.sleep(0.005)
        after = wait_for(port, lambda st: st["cancelled"] > before["cancelled"])
        samples.append((after["last_cancel_ns"] - closed) / 1e6)
    samples.sort()
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    return {"count": count, "p50_ms": p(0.5), "p99_ms": p(0.99), "max_ms": samples[-1],
            "mean_ms": statistics.mean(samples), "samples_ms": samples}


def wave(port, count):
    before = stats(port)
    sockets = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            sockets.append(s)
            s.sendall(b"GET /slow/?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(port, lambda st: st["started"] >= before["started"] + count, timeout=30)
        first_close = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    finally:
        for s in sockets:
            s.close()
    after = wait_for(port, lambda st: st["cancelled"] >= before["cancelled"] + count, timeout=30)
    return {"count": count, "cancelled": after["cancelled"] - before["cancelled"],
            "last_cancel_after_first_close_ms": (after["last_cancel_ns"] - first_close) / 1e6}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["latency", "wave"])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    if args.mode == "latency":
        r = latency(args.port, args.count)
        print(f"close->cancel over {r['count']} requests: p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, max {r['max_ms']:.3f} ms, mean {r['mean_ms']:.3f} ms")
    else:
        r = wave(args.port, args.count)
        print(f"wave of {r['count']}: {r['cancelled']} cancelled, the last {r['last_cancel_after_first_close_ms']:.2f} ms after the first close")


if __name__ == "__main__":
    sys.exit(main())
